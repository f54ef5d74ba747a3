// The page's wiring: which mailbox is open, its lock and its socket, the
// list, the message view, the webhooks tab, dialogs and keyboard shortcuts.

import { Api, describeError } from "./api.js";
import { confirmDialog, formDialog } from "./dialogs.js";
import { announce, byId } from "./dom.js";
import { MailList } from "./list.js";
import { MessageView } from "./message.js";
import { notifyArrival, setUpNotifications, showUnread } from "./notify.js";
import { rememberMailbox, renderRecent } from "./recent.js";
import { MailboxSocket } from "./socket.js";
import { setUpThemeToggle } from "./theme.js";
import { forgetToken, saveToken, tokenFor } from "./tokens.js";
import { WebhooksView } from "./webhooks.js";

const CONNECTION_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  locked: "Locked",
};

const api = new Api(tokenFor);
const dialog = byId("dialog");
const addressInput = byId("address");
const connection = byId("connection");
const favicon = byId("favicon");
const listEmpty = byId("list-empty");

const state = {
  address: null,
  locked: false,
  socket: null,
  tab: "mail",
  unlocking: false,
};

const list = new MailList(byId("messages"), byId("list-scroller"), api, {
  onOpen: (id) => openMessage(id),
  onRemoved: (id) => {
    if (message.id === id) closeMessage();
  },
  onChange: () => updateCounts(),
  onError: (error) => handleError(error),
  onArrival: (summary) => notifyArrival(summary),
});

const message = new MessageView(byId("message"), byId("message-placeholder"), api, {
  onDelete: (id) => deleteMessage(id),
  onMarkUnread: (id) => markUnread(id),
  onBack: () => closeMessage(),
  onError: (error) => handleError(error),
});

const webhooks = new WebhooksView(byId("webhooks-view"), api,
  (title, text, submit) => confirmDialog(dialog, title, text, submit),
  (error) => handleError(error));

// --- messages to the person ------------------------------------------------

let toastTimer = null;

function toast(text) {
  const box = byId("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 8000);
}

/** A failed request: a 401 asks for the password again, the rest is shown. */
function handleError(error) {
  if (error && error.status === 401 && state.address) {
    forgetToken(state.address);
    lockedOut();
    return;
  }
  toast(describeError(error));
}

function updateCounts() {
  const total = list.total;
  byId("message-count").textContent = state.address
    ? `${total} message${total === 1 ? "" : "s"}`
    : "";
  listEmpty.hidden = !(list.loaded && list.rows.size === 0) && !(state.locked && !tokenFor(state.address));
  showUnread(state.address, list.unreadCount(), favicon);
}

// --- opening a mailbox -----------------------------------------------------

async function openMailbox(text, { push = true } = {}) {
  const error = byId("open-error");
  error.textContent = "";
  let status;
  try {
    status = await api.status(text.trim());
  } catch (failure) {
    error.textContent = failure.status === 400 ? `That is not an address: ${describeError(failure)}` : describeError(failure);
    addressInput.focus();
    return;
  }
  const address = status.address;
  stopWatching();
  closeMessage();
  state.address = address;
  state.locked = status.is_locked;
  api.mailbox = address;
  list.reset(address);
  addressInput.value = address;
  byId("copy-address").disabled = false;
  byId("mailbox-name").textContent = address;
  byId("welcome").hidden = true;
  byId("mailbox").hidden = false;
  const url = new URL(location.href);
  if (url.searchParams.get("mailbox") !== address) {
    url.searchParams.set("mailbox", address);
    if (push) history.pushState({ mailbox: address }, "", url);
    else history.replaceState({ mailbox: address }, "", url);
  }
  rememberMailbox(address);
  showRecent();
  showLockState();
  if (state.locked && !tokenFor(address)) {
    lockedOut();
  } else {
    startWatching();
  }
}

function startWatching() {
  stopWatching();
  const address = state.address;
  state.socket = new MailboxSocket(address, {
    token: tokenFor(address),
    onStatus: (status) => {
      connection.dataset.state = status;
      connection.textContent = CONNECTION_TEXT[status] || status;
    },
    // After every (re)connection, and so after a 4000 resync close: the
    // socket does not replay what it missed, the list reloads.
    onConnected: () => list.reload(),
    onFrame: (frame) => list.apply(frame),
    onLocked: () => {
      forgetToken(address);
      lockedOut();
    },
  });
  list.reload();
  if (state.tab === "webhooks") webhooks.open(address);
  updateCounts();
}

function stopWatching() {
  state.socket?.stop();
  state.socket = null;
  connection.dataset.state = "idle";
  connection.textContent = CONNECTION_TEXT.idle;
}

/** The mailbox is locked and we hold no valid token: clear it and ask. */
function lockedOut() {
  stopWatching();
  state.locked = true;
  list.reset(state.address);
  closeMessage();
  connection.dataset.state = "locked";
  connection.textContent = CONNECTION_TEXT.locked;
  showLockState();
  updateCounts();
  unlock();
}

function showLockState() {
  const hasToken = Boolean(state.address && tokenFor(state.address));
  const show = (id, visible) => {
    byId(id).hidden = !visible;
  };
  show("claim", !state.locked);
  show("unlock", state.locked && !hasToken);
  show("change-password", state.locked && hasToken);
  show("release", state.locked && hasToken);
  show("logout", state.locked && hasToken);
  byId("lock-state").textContent = !state.locked
    ? "Open: anyone can read it"
    : hasToken ? "Locked: unlocked for you" : "Locked";
  byId("lock-state").dataset.locked = String(state.locked);
  listEmpty.textContent = state.locked && !hasToken
    ? "This mailbox is locked. Unlock it with its password to read its mail."
    : "No mail yet. Anything sent to this address shows up here.";
}

function showRecent() {
  renderRecent(byId("recent-addresses"), byId("recent-list"), byId("recent-heading"),
    (address) => openMailbox(address));
}

// --- locks -----------------------------------------------------------------

const REMEMBER = { name: "remember", label: "Remember me on this device" };

async function claim() {
  const address = state.address;
  await formDialog(dialog, {
    title: `Claim ${address}`,
    text: "Lock this mailbox with a password. Only people with the password can then read it.",
    fields: [
      { name: "password", label: "Password", type: "password", autocomplete: "new-password" },
      { name: "confirm", label: "Password again", type: "password", autocomplete: "new-password" },
    ],
    checkbox: REMEMBER,
    submit: "Claim mailbox",
    onSubmit: async (values) => {
      if (values.password !== values.confirm) throw new Error("The two passwords do not match.");
      // The server closes tokenless sockets at the claim: stop ours first.
      stopWatching();
      try {
        saveToken(address, await api.claim(address, values.password), values.remember);
        state.locked = true;
      } finally {
        startWatching();
        showLockState();
      }
    },
  });
}

async function unlock() {
  if (state.unlocking) return;
  state.unlocking = true;
  const address = state.address;
  try {
    await formDialog(dialog, {
      title: `Unlock ${address}`,
      text: "This mailbox is locked. Enter its password to read it.",
      fields: [{ name: "password", label: "Password", type: "password", autocomplete: "current-password" }],
      checkbox: REMEMBER,
      submit: "Unlock",
      onSubmit: async (values) => {
        saveToken(address, await api.login(address, values.password), values.remember);
        showLockState();
        startWatching();
      },
    });
  } finally {
    state.unlocking = false;
  }
}

async function changePassword() {
  const address = state.address;
  await formDialog(dialog, {
    title: "Change password",
    text: "Every other device signed in to this mailbox is signed out.",
    fields: [
      { name: "password", label: "Current password", type: "password", autocomplete: "current-password" },
      { name: "next", label: "New password", type: "password", autocomplete: "new-password" },
      { name: "confirm", label: "New password again", type: "password", autocomplete: "new-password" },
    ],
    checkbox: REMEMBER,
    submit: "Change password",
    onSubmit: async (values) => {
      if (values.next !== values.confirm) throw new Error("The two new passwords do not match.");
      // The change revokes our token too, closing our socket: stop it first.
      stopWatching();
      try {
        saveToken(address, await api.changePassword(address, values.password, values.next), values.remember);
      } finally {
        startWatching();
      }
    },
  });
}

async function release() {
  const address = state.address;
  await formDialog(dialog, {
    title: `Release ${address}`,
    text: "The mailbox will be open to anyone again, and every token is revoked.",
    fields: [{ name: "password", label: "Password", type: "password", autocomplete: "current-password" }],
    submit: "Release mailbox",
    danger: true,
    onSubmit: async (values) => {
      await api.release(address, values.password);
      forgetToken(address);
      state.locked = false;
      showLockState();
      startWatching();
    },
  });
}

function logout() {
  forgetToken(state.address);
  stopWatching();
  list.reset(state.address);
  closeMessage();
  showLockState();
  updateCounts();
  announce("Logged out");
}

// --- messages --------------------------------------------------------------

function openMessage(id) {
  list.select(id);
  document.body.classList.add("reading");
  message.show(id).then(() => {
    if (message.id === id) list.setSeen(id, true);
  });
}

function closeMessage() {
  message.clear();
  list.select(null);
  document.body.classList.remove("reading");
}

async function deleteMessage(id) {
  try {
    await api.remove(id);
    list.removeRow(id);
    announce("Message deleted");
  } catch (error) {
    handleError(error);
  }
}

async function markUnread(id) {
  try {
    await api.markSeen(id, false);
    list.setSeen(id, false);
    announce("Marked unread");
  } catch (error) {
    handleError(error);
  }
}

async function deleteAll() {
  const address = state.address;
  const yes = await confirmDialog(dialog, "Delete all mail?",
    `Every message in ${address} is deleted. This cannot be undone.`, "Delete all");
  if (!yes) return;
  try {
    await api.empty(address);
    closeMessage();
    await list.reload();
  } catch (error) {
    handleError(error);
  }
}

// --- addresses -------------------------------------------------------------

function randomName() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const letters = "abcdefghijkmnpqrstuvwxyz23456789";
  return Array.from(bytes, (byte) => letters[byte % letters.length]).join("");
}

async function openRandom() {
  try {
    for (let tries = 0; tries < 5; tries += 1) {
      const status = await api.status(randomName());
      if (status.is_locked) continue;
      const page = await api.list(status.address, { limit: 1 });
      if (page.total === 0) {
        await openMailbox(status.address);
        return;
      }
    }
    toast("Could not find an unused address; try again.");
  } catch (error) {
    handleError(error);
  }
}

async function copyAddress() {
  if (!state.address) return;
  try {
    await navigator.clipboard.writeText(state.address);
  } catch {
    // No clipboard API (a page over plain HTTP on another host): copy the
    // selected text the old way.
    addressInput.select();
    document.execCommand("copy");
  }
  toast(`Copied ${state.address}`);
}

// --- tabs and keyboard -----------------------------------------------------

function selectTab(tab) {
  state.tab = tab;
  const mail = tab === "mail";
  for (const [id, selected] of [["tab-mail", mail], ["tab-webhooks", !mail]]) {
    byId(id).setAttribute("aria-selected", String(selected));
    byId(id).tabIndex = selected ? 0 : -1;
  }
  byId("mail-view").hidden = !mail;
  byId("webhooks-view").hidden = mail;
  if (!mail && state.address) webhooks.open(state.address);
}

function typing(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function onKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || dialog.open || typing(event.target)) return;
  if (event.key === "/") {
    event.preventDefault();
    addressInput.focus();
    addressInput.select();
    return;
  }
  if (!state.address || state.tab !== "mail") return;
  const target = list.focusedId() || message.id;
  if (event.key === "j" || event.key === "k") {
    event.preventDefault();
    list.move(event.key === "j" ? 1 : -1);
  } else if (event.key === "Enter" && !(event.target instanceof HTMLButtonElement)) {
    const id = list.focusedId() || list.selected;
    if (id) openMessage(id);
  } else if (event.key === "Delete" && target) {
    event.preventDefault();
    deleteMessage(target);
  } else if (event.key === "u" && target) {
    event.preventDefault();
    markUnread(target);
  }
}

// --- start -----------------------------------------------------------------

byId("open-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (addressInput.value.trim()) openMailbox(addressInput.value);
});
byId("random-address").addEventListener("click", openRandom);
byId("copy-address").addEventListener("click", copyAddress);
byId("claim").addEventListener("click", claim);
byId("unlock").addEventListener("click", unlock);
byId("change-password").addEventListener("click", changePassword);
byId("release").addEventListener("click", release);
byId("logout").addEventListener("click", logout);
byId("delete-all").addEventListener("click", deleteAll);
byId("tab-mail").addEventListener("click", () => selectTab("mail"));
byId("tab-webhooks").addEventListener("click", () => selectTab("webhooks"));
byId("mailbox").addEventListener("keydown", (event) => {
  const tabs = ["tab-mail", "tab-webhooks"];
  if (!tabs.includes(event.target.id) || !["ArrowLeft", "ArrowRight"].includes(event.key)) return;
  const next = state.tab === "mail" ? "webhooks" : "mail";
  selectTab(next);
  byId(`tab-${next}`).focus();
});
document.addEventListener("keydown", onKey);
window.addEventListener("popstate", () => {
  const wanted = new URL(location.href).searchParams.get("mailbox");
  if (wanted && wanted !== state.address) openMailbox(wanted, { push: false });
});
setUpThemeToggle(byId("theme-toggle"));
setUpNotifications(byId("notifications"));
showRecent();

const initial = new URL(location.href).searchParams.get("mailbox");
if (initial) {
  openMailbox(initial, { push: false });
} else {
  addressInput.focus();
}
