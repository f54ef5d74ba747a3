// The message list: newest first, loaded a page at a time through the
// API's cursor as the user scrolls, and kept in step with socket frames.

import { announce, el, replace } from "./dom.js";
import { formatFull, formatRelative, formatSize } from "./format.js";

const PAGE_SIZE = 100;

export class MailList {
  /**
   * @param root the <ol> that holds the rows.
   * @param scroller the element that scrolls them.
   * @param api the REST client.
   * @param events {onOpen(id), onRemoved(id), onChange(), onError(error)}.
   */
  constructor(root, scroller, api, events) {
    this.root = root;
    this.scroller = scroller;
    this.api = api;
    this.events = events;
    this.address = null;
    this.rows = new Map(); // id -> {summary, node}
    this.total = 0;
    this.nextBefore = null;
    this.loading = false;
    this.generation = 0;
    this.pending = null; // frames that arrive while the first page loads
    this.selected = null;
    this.sentinel = el("li", { class: "sentinel", role: "presentation" });
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) this.loadMore();
    }, { root: scroller, rootMargin: "600px 0px" });
    this.observer.observe(this.sentinel);
    root.addEventListener("click", (event) => {
      const row = event.target.closest("button.row");
      if (row) this.events.onOpen(row.dataset.id);
    });
    this.clock = setInterval(() => this.refreshTimes(), 60000);
  }

  /** Show another mailbox (or none), empty until reload(). */
  reset(address) {
    this.address = address;
    this.generation += 1;
    this.rows.clear();
    this.total = 0;
    this.nextBefore = null;
    this.loading = false;
    this.pending = null;
    this.selected = null;
    this.loaded = false;
    replace(this.root);
    this.events.onChange();
  }

  /** Load the first page again, replacing the list; frames meanwhile are applied after. */
  async reload() {
    if (!this.address) return;
    const generation = ++this.generation;
    this.pending = [];
    this.loading = true;
    this.root.setAttribute("aria-busy", "true");
    try {
      const page = await this.api.list(this.address, { limit: PAGE_SIZE });
      if (generation !== this.generation) return;
      const keep = this.selected;
      this.rows.clear();
      replace(this.root);
      this.total = page.total;
      this.nextBefore = page.next_before;
      this.appendRows(page.emails);
      const pending = this.pending;
      this.pending = null;
      pending.forEach((frame) => this.apply(frame));
      this.select(keep && this.rows.has(keep) ? keep : null);
      this.loaded = true;
    } catch (error) {
      if (generation === this.generation) this.events.onError(error);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.pending = null;
        this.root.removeAttribute("aria-busy");
        this.root.append(this.sentinel);
        this.events.onChange();
      }
    }
  }

  /** The next page, when the user scrolls near the end. */
  async loadMore() {
    if (this.loading || !this.nextBefore || !this.address) return;
    const generation = this.generation;
    this.loading = true;
    try {
      const page = await this.api.list(this.address, { limit: PAGE_SIZE, before: this.nextBefore });
      if (generation !== this.generation) return;
      this.total = page.total;
      this.nextBefore = page.next_before;
      this.appendRows(page.emails.filter((summary) => !this.rows.has(summary.id)));
    } catch (error) {
      if (generation === this.generation) this.events.onError(error);
    } finally {
      if (generation === this.generation) {
        this.loading = false;
        this.root.append(this.sentinel);
        this.events.onChange();
        // Still in view (a tall screen): keep going.
        requestAnimationFrame(() => this.loadMoreIfVisible());
      }
    }
  }

  loadMoreIfVisible() {
    const box = this.sentinel.getBoundingClientRect();
    const view = this.scroller.getBoundingClientRect();
    if (this.sentinel.isConnected && box.top < view.bottom + 600) this.loadMore();
  }

  appendRows(summaries) {
    const fragment = document.createDocumentFragment();
    for (const summary of summaries) {
      const node = this.rowNode(summary);
      this.rows.set(summary.id, { summary, node });
      fragment.append(node);
    }
    this.root.insertBefore(fragment, this.sentinel.isConnected ? this.sentinel : null);
  }

  rowNode(summary) {
    const attachments = Number(summary.attachments) || 0;
    const time = el("time", { datetime: summary.timestamp, title: formatFull(summary.timestamp) },
      formatRelative(summary.timestamp));
    const button = el("button", {
      type: "button",
      class: summary.seen ? "row" : "row unread",
      "data-id": summary.id,
      "aria-current": summary.id === this.selected ? "true" : false,
    },
    el("span", { class: "from" }, summary.from || "(no sender)"),
    el("span", { class: "meta" },
      attachments ? el("span", { class: "clip", title: `${attachments} attachment(s)` }, "📎",
        el("span", { class: "sr-only" }, `${attachments} attachment(s)`)) : null,
      el("span", { class: "size" }, formatSize(summary.size)), time),
    el("span", { class: "subject" },
      summary.seen ? null : el("span", { class: "sr-only" }, "Unread: "),
      summary.subject || "(no subject)"),
    el("span", { class: "preview" }, summary.preview || ""));
    return el("li", {}, button);
  }

  /** Apply one socket frame. */
  apply(frame) {
    if (frame.address && this.address && frame.address !== this.address && frame.type !== "Email") return;
    if (this.pending) {
      this.pending.push(frame);
      return;
    }
    if (frame.type === "Email") {
      if (this.rows.has(frame.id)) return;
      const { type, ...summary } = frame;
      const node = this.rowNode(summary);
      this.rows.set(summary.id, { summary, node });
      this.root.prepend(node);
      this.total += 1;
      announce(`New mail from ${summary.from || "an unknown sender"}: ${summary.subject || "no subject"}`);
      this.events.onArrival?.(summary);
    } else if (frame.type === "EmailRead") {
      this.setSeen(frame.id, true);
    } else if (frame.type === "EmailFlags") {
      this.setSeen(frame.id, Boolean(frame.seen));
    } else if (frame.type === "EmailDeleted") {
      this.removeRow(frame.id);
    }
    this.events.onChange();
  }

  setSeen(id, seen) {
    const row = this.rows.get(id);
    if (!row || row.summary.seen === seen) return;
    row.summary = { ...row.summary, seen };
    const node = this.rowNode(row.summary);
    row.node.replaceWith(node);
    row.node = node;
    this.events.onChange();
  }

  removeRow(id) {
    const row = this.rows.get(id);
    if (!row) return;
    const hadFocus = row.node.contains(document.activeElement);
    const next = row.node.nextElementSibling?.querySelector("button.row")
      || row.node.previousElementSibling?.querySelector("button.row");
    row.node.remove();
    this.rows.delete(id);
    this.total = Math.max(0, this.total - 1);
    if (hadFocus) next?.focus();
    if (this.selected === id) this.selected = null;
    this.events.onRemoved(id);
    this.events.onChange();
  }

  /** Mark one row as the open message. */
  select(id) {
    this.selected = id;
    for (const current of this.root.querySelectorAll("button.row[aria-current]")) {
      current.removeAttribute("aria-current");
    }
    this.rows.get(id)?.node.firstChild.setAttribute("aria-current", "true");
  }

  /** Move the keyboard focus `step` rows down (1) or up (-1). */
  move(step) {
    const buttons = [...this.root.querySelectorAll("button.row")];
    if (!buttons.length) return;
    const focused = buttons.indexOf(document.activeElement);
    const from = focused >= 0 ? focused : buttons.findIndex((b) => b.dataset.id === this.selected);
    const to = Math.min(buttons.length - 1, Math.max(0, from < 0 ? 0 : from + step));
    buttons[to].focus();
    buttons[to].scrollIntoView({ block: "nearest" });
    if (to >= buttons.length - 5) this.loadMore();
  }

  /** The id of the row with the keyboard focus, or null. */
  focusedId() {
    const button = document.activeElement?.closest?.("button.row");
    return button && this.root.contains(button) ? button.dataset.id : null;
  }

  unreadCount() {
    let count = 0;
    for (const { summary } of this.rows.values()) if (!summary.seen) count += 1;
    return count;
  }

  refreshTimes() {
    for (const time of this.root.querySelectorAll("time[datetime]")) {
      time.textContent = formatRelative(time.getAttribute("datetime"));
    }
  }
}
