// Mailbox tokens in the browser: sessionStorage by default, localStorage
// when the user asks to be remembered. Passwords are never stored.

const PREFIX = "tempmail.token:";

function read(storage, address) {
  try {
    const saved = JSON.parse(storage.getItem(PREFIX + address) || "null");
    if (!saved || typeof saved.token !== "string") return null;
    if (saved.expires_at && Date.parse(saved.expires_at) <= Date.now()) {
      storage.removeItem(PREFIX + address);
      return null;
    }
    return saved;
  } catch {
    return null;
  }
}

/** The stored token for a mailbox, or null. */
export function tokenFor(address) {
  const saved = read(sessionStorage, address) || read(localStorage, address);
  return saved ? saved.token : null;
}

/** Keep a token answer (`{token, expires_at}`); `remember` uses localStorage. */
export function saveToken(address, answer, remember) {
  forgetToken(address);
  const storage = remember ? localStorage : sessionStorage;
  storage.setItem(PREFIX + address, JSON.stringify({ token: answer.token, expires_at: answer.expires_at }));
}

/** Whether the mailbox's token is kept in localStorage. */
export function isRemembered(address) {
  return read(localStorage, address) !== null;
}

/** Drop a mailbox's token from both stores. */
export function forgetToken(address) {
  sessionStorage.removeItem(PREFIX + address);
  localStorage.removeItem(PREFIX + address);
}
