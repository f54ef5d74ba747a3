// Recently opened mailboxes, kept in localStorage (addresses only, never
// tokens or passwords), offered again in the address box and on the
// welcome screen.

import { el, replace } from "./dom.js";

const KEY = "tempmail.recent";
const KEEP = 8;

/** The remembered addresses, most recent first. */
export function recentMailboxes() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(saved) ? saved.filter((a) => typeof a === "string").slice(0, KEEP) : [];
  } catch {
    return [];
  }
}

/** Put `address` first in the list. */
export function rememberMailbox(address) {
  const list = [address, ...recentMailboxes().filter((a) => a !== address)].slice(0, KEEP);
  try {
    localStorage.setItem(KEY, JSON.stringify(list));
  } catch {
    // Private mode: nothing is remembered.
  }
}

/**
 * Show the list in the `<datalist>` and as buttons in `list` (hiding
 * `heading` when empty); `open(address)` is called when one is chosen.
 */
export function renderRecent(datalist, list, heading, open) {
  const addresses = recentMailboxes();
  replace(datalist, addresses.map((address) => el("option", { value: address })));
  replace(list, addresses.map((address) => {
    const button = el("button", { type: "button", class: "link" }, address);
    button.addEventListener("click", () => open(address));
    return el("li", {}, button);
  }));
  heading.hidden = addresses.length === 0;
}
