// One message: its HTML in a sandboxed frame, its text, headers and raw
// source as text, its attachments, and the actions on it.
//
// The HTML is never put into this page. The frame loads the server's HTML
// route, whose own Content-Security-Policy sandboxes it and blocks remote
// content; the frame's sandbox attribute (no allow-scripts, no
// allow-same-origin) is a second wall. A short-lived view ticket in the
// frame's URL stands in for the Authorization header a frame cannot send.

import { describeError } from "./api.js";
import { el, replace } from "./dom.js";
import { formatFull, formatSize } from "./format.js";

const FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox";

/** Save a Blob under `filename` through a temporary link. */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename || "download" });
  document.body.append(link);
  link.click();
  link.remove();
  // The download has its own reference by now; free ours a little later.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function addresses(list) {
  return Array.isArray(list) ? list.join(", ") : "";
}

export class MessageView {
  /**
   * @param root the <article> to fill.
   * @param placeholder what shows while no message is open.
   * @param api the REST client.
   * @param events {onDelete(id), onMarkUnread(id), onBack(), onError(error)}.
   */
  constructor(root, placeholder, api, events) {
    this.root = root;
    this.placeholder = placeholder;
    this.api = api;
    this.events = events;
    this.id = null;
    this.generation = 0;
  }

  /** Close the open message. */
  clear() {
    this.generation += 1;
    this.id = null;
    replace(this.root);
    this.root.hidden = true;
    this.placeholder.hidden = false;
  }

  /** Load and show message `id` (which marks it read). */
  async show(id) {
    const generation = ++this.generation;
    this.id = id;
    this.root.setAttribute("aria-busy", "true");
    try {
      const message = await this.api.message(id);
      if (generation !== this.generation) return;
      this.render(message);
    } catch (error) {
      if (generation === this.generation) {
        this.clear();
        this.events.onError(error);
      }
    } finally {
      this.root.removeAttribute("aria-busy");
    }
  }

  render(message) {
    const heading = el("h2", { class: "subject", tabindex: "-1" }, message.subject || "(no subject)");
    const facts = el("dl", { class: "facts" },
      el("dt", {}, "From"), el("dd", {}, message.from || "(no sender)"),
      el("dt", {}, "To"), el("dd", {}, addresses(message.header_to) || message.to),
      message.cc?.length ? [el("dt", {}, "Cc"), el("dd", {}, addresses(message.cc))] : null,
      el("dt", {}, "Received"), el("dd", {}, formatFull(message.timestamp)));
    const toolbar = el("div", { class: "message-actions" },
      this.button("← Back", "back", () => this.events.onBack()),
      this.button("Mark unread", null, () => this.events.onMarkUnread(message.id)),
      this.button("Delete", "danger", () => this.events.onDelete(message.id)));

    const views = [];
    if (message.html) views.push(["HTML", () => this.htmlPanel(message)]);
    views.push(["Text", () => el("pre", { class: "text-body" }, message.text || "(this message has no plain-text part)")]);
    views.push(["Headers", () => this.headersPanel(message)]);
    views.push(["Raw", () => this.rawPanel(message)]);

    replace(this.root,
      el("header", { class: "message-head" }, toolbar, heading, facts),
      this.tabs(views),
      this.attachmentsPanel(message));
    this.placeholder.hidden = true;
    this.root.hidden = false;
    heading.focus({ preventScroll: true });
  }

  button(label, className, action) {
    const button = el("button", { type: "button", class: className }, label);
    button.addEventListener("click", action);
    return button;
  }

  /** A tab list over `views` ([label, build]); each panel is built on first show. */
  tabs(views) {
    const list = el("div", { class: "tabs view-tabs", role: "tablist", "aria-label": "Message views" });
    const holder = el("div", { class: "view-panels" });
    const built = new Map();
    const tabs = views.map(([label, build], index) => {
      const tab = el("button", {
        type: "button", role: "tab", id: `view-tab-${index}`, "aria-controls": `view-panel-${index}`,
      }, label);
      tab.addEventListener("click", () => select(index));
      tab.addEventListener("keydown", (event) => {
        const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
        if (!step) return;
        event.preventDefault();
        const next = (index + step + views.length) % views.length;
        select(next);
        tabs[next].focus();
      });
      return tab;
    });
    const select = (index) => {
      tabs.forEach((tab, i) => {
        tab.setAttribute("aria-selected", String(i === index));
        tab.tabIndex = i === index ? 0 : -1;
      });
      for (const panel of built.values()) panel.hidden = true;
      if (!built.has(index)) {
        const panel = el("div", {
          class: "view-panel", role: "tabpanel", id: `view-panel-${index}`, "aria-labelledby": `view-tab-${index}`,
        }, views[index][1]());
        built.set(index, panel);
        holder.append(panel);
      }
      built.get(index).hidden = false;
    };
    list.append(...tabs);
    select(0);
    return [list, holder];
  }

  htmlPanel(message) {
    const frame = el("iframe", {
      class: "html-frame",
      title: `Message content: ${message.subject || "no subject"}`,
      sandbox: FRAME_SANDBOX,
      referrerpolicy: "no-referrer",
      loading: "eager",
    });
    const note = el("span", {}, "Remote images are blocked.");
    const load = el("button", { type: "button" }, "Load remote images");
    const bar = el("p", { class: "remote-bar" }, note, " ", load);
    const generation = this.generation;
    // A ticket lasts minutes: each load of the frame gets a fresh one.
    const show = (suffix) => this.api.viewTicket(message.id).then((answer) => {
      if (generation === this.generation) frame.src = answer.html_url + suffix;
    }, (error) => this.events.onError(error));
    show("");
    load.addEventListener("click", () => {
      show("&images=remote");
      note.textContent = "Remote images are shown for this message.";
      load.remove();
    });
    return [bar, frame];
  }

  headersPanel(message) {
    const rows = [];
    for (const [name, values] of Object.entries(message.headers || {})) {
      for (const value of Array.isArray(values) ? values : [values]) {
        rows.push(el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, String(value))));
      }
    }
    return el("table", { class: "headers" },
      el("caption", { class: "sr-only" }, "Message headers"),
      el("tbody", {}, rows));
  }

  rawPanel(message) {
    const pre = el("pre", { class: "raw-body" }, "Loading…");
    const generation = this.generation;
    this.api.raw(message.id).then((text) => {
      if (generation === this.generation) pre.textContent = text;
    }, (error) => {
      pre.textContent = describeError(error);
    });
    const download = this.button("Download .eml", null, async () => {
      try {
        saveBlob(await this.api.download(message.raw_url || `/api/email/${message.id}/raw`), `${message.id}.eml`);
      } catch (error) {
        this.events.onError(error);
      }
    });
    return [el("p", { class: "raw-tools" }, download), pre];
  }

  attachmentsPanel(message) {
    const attachments = message.attachments || [];
    if (!attachments.length) return null;
    return el("section", { class: "attachments", "aria-label": "Attachments" },
      el("h3", {}, `Attachments (${attachments.length})`),
      el("ul", {}, attachments.map((part) => {
        const button = this.button(part.filename || "attachment", "attachment", async () => {
          try {
            saveBlob(await this.api.download(part.url), part.filename);
          } catch (error) {
            this.events.onError(error);
          }
        });
        button.setAttribute("aria-label", `Download ${part.filename || "attachment"}`);
        return el("li", {}, button,
          el("span", { class: "part-meta" }, `${part.content_type} · ${formatSize(part.size)}`));
      })));
  }
}
