// The webhooks tab: a mailbox's webhooks, a form to add or edit one (with
// its current events ticked), enable/disable, delete, test, the secret shown
// once at creation, and each webhook's delivery log.

import { describeError } from "./api.js";
import { el, replace } from "./dom.js";
import { formatFull } from "./format.js";

const EVENTS = [
  ["arrival", "New mail"],
  ["read", "Mail read"],
  ["deletion", "Mail deleted"],
];

export class WebhooksView {
  /**
   * @param root the tab panel to fill.
   * @param api the REST client.
   * @param confirm(title, text, submit) a promise of a yes/no answer.
   * @param onError(error) for failures (401 brings the unlock dialog).
   */
  constructor(root, api, confirm, onError) {
    this.root = root;
    this.api = api;
    this.confirm = confirm;
    this.onError = onError;
    this.address = null;
    this.editing = null;
    this.hooks = [];
    this.build();
  }

  build() {
    this.url = el("input", { id: "webhook-url", type: "url", required: true, placeholder: "https://example.com/hook" });
    this.boxes = EVENTS.map(([name, label]) => {
      const box = el("input", { type: "checkbox", id: `webhook-event-${name}`, value: name });
      return { name, box, row: el("span", { class: "check" }, box, el("label", { for: box.id }, label)) };
    });
    this.formTitle = el("h3", {}, "Add a webhook");
    this.submit = el("button", { type: "submit", class: "primary" }, "Add webhook");
    this.cancel = el("button", { type: "button", hidden: true }, "Cancel edit");
    this.formError = el("p", { class: "error-line", role: "alert" });
    this.form = el("form", { class: "webhook-form" },
      this.formTitle,
      el("p", { class: "field" }, el("label", { for: "webhook-url" }, "URL"), this.url),
      el("fieldset", {}, el("legend", {}, "Events"), this.boxes.map((b) => b.row)),
      this.formError,
      el("p", {}, this.submit, " ", this.cancel));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.cancel.addEventListener("click", () => this.resetForm());
    this.secret = el("div", { class: "secret", hidden: true, role: "status" });
    this.list = el("ul", { class: "webhook-list", "aria-label": "Webhooks" });
    this.log = el("section", { class: "delivery-log", hidden: true, "aria-label": "Delivery log" });
    replace(this.root,
      el("div", { class: "webhooks-grid" },
        el("div", {}, this.form, this.secret),
        el("div", {}, el("h3", {}, "Webhooks"), this.list, this.log)));
    this.resetForm();
  }

  /** Show the webhooks of `address`. */
  async open(address) {
    this.address = address;
    this.secret.hidden = true;
    this.log.hidden = true;
    this.resetForm();
    await this.reload();
  }

  async reload() {
    if (!this.address) return;
    try {
      const answer = await this.api.webhooks(this.address);
      this.hooks = answer.webhooks;
      this.renderList();
    } catch (error) {
      this.onError(error);
    }
  }

  resetForm() {
    this.editing = null;
    this.formTitle.textContent = "Add a webhook";
    this.submit.textContent = "Add webhook";
    this.cancel.hidden = true;
    this.url.value = "";
    this.formError.textContent = "";
    for (const { name, box } of this.boxes) box.checked = name === "arrival";
  }

  edit(hook) {
    this.editing = hook.id;
    this.formTitle.textContent = "Edit webhook";
    this.submit.textContent = "Save webhook";
    this.cancel.hidden = false;
    this.url.value = hook.webhook_url;
    this.formError.textContent = "";
    for (const { name, box } of this.boxes) box.checked = hook.events.includes(name);
    this.url.focus();
  }

  async save() {
    const events = this.boxes.filter((b) => b.box.checked).map((b) => b.name);
    if (!events.length) {
      this.formError.textContent = "Choose at least one event.";
      return;
    }
    this.submit.disabled = true;
    try {
      if (this.editing) {
        await this.api.updateWebhook(this.editing, { webhook_url: this.url.value.trim(), events });
        this.secret.hidden = true;
      } else {
        const hook = await this.api.createWebhook(this.address, this.url.value.trim(), events);
        this.showSecret(hook.secret);
      }
      this.resetForm();
      await this.reload();
    } catch (error) {
      this.formError.textContent = describeError(error);
      if (error.status === 401) this.onError(error);
    } finally {
      this.submit.disabled = false;
    }
  }

  showSecret(secret) {
    const code = el("code", { class: "secret-value" }, secret);
    const copy = el("button", { type: "button" }, "Copy secret");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        copy.textContent = "Copied";
      } catch {
        copy.textContent = "Select and copy it by hand";
      }
    });
    replace(this.secret,
      el("p", {}, el("strong", {}, "Signing secret"), " (shown only now; keep it to verify signatures):"),
      el("p", {}, code, " ", copy));
    this.secret.hidden = false;
  }

  renderList() {
    if (!this.hooks.length) {
      replace(this.list, el("li", { class: "empty" }, "No webhooks yet."));
      return;
    }
    replace(this.list, this.hooks.map((hook) => this.hookRow(hook)));
  }

  hookRow(hook) {
    const action = (label, run, className = null) => {
      const button = el("button", { type: "button", class: className }, label);
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await run();
        } catch (error) {
          this.onError(error);
        } finally {
          button.disabled = false;
        }
      });
      return button;
    };
    const result = el("p", { class: "test-result", role: "status" });
    const state = hook.enabled ? "enabled" : `disabled${hook.disabled_reason ? `: ${hook.disabled_reason}` : ""}`;
    return el("li", { class: "webhook", "data-id": hook.id },
      el("p", { class: "webhook-url" }, hook.webhook_url),
      el("p", { class: "webhook-meta" },
        `Events: ${hook.events.join(", ")} · ${state}`,
        hook.consecutive_failures ? ` · ${hook.consecutive_failures} failed in a row` : ""),
      el("p", { class: "webhook-actions" },
        action("Edit", async () => this.edit(hook)),
        action(hook.enabled ? "Disable" : "Enable", async () => {
          await this.api.updateWebhook(hook.id, { enabled: !hook.enabled });
          await this.reload();
        }),
        action("Test", async () => {
          result.textContent = "Sending a test event…";
          const answer = await this.api.testWebhook(hook.id);
          result.textContent = answer.success
            ? `Test delivered: HTTP ${answer.status} in ${answer.duration_ms} ms`
            : `Test failed: ${answer.error || `HTTP ${answer.status}`}`;
        }),
        action("Delivery log", async () => this.showLog(hook)),
        action("Delete", async () => {
          if (!await this.confirm("Delete this webhook?", hook.webhook_url, "Delete webhook")) return;
          await this.api.deleteWebhook(hook.id);
          if (this.editing === hook.id) this.resetForm();
          await this.reload();
        }, "danger")),
      result);
  }

  async showLog(hook) {
    const answer = await this.api.deliveries(hook.id);
    const refresh = el("button", { type: "button" }, "Refresh");
    refresh.addEventListener("click", () => this.showLog(hook).catch((error) => this.onError(error)));
    const rows = answer.deliveries.map((attempt) => el("tr", {},
      el("td", {}, el("time", { datetime: attempt.time }, formatFull(attempt.time))),
      el("td", {}, attempt.event),
      el("td", {}, String(attempt.attempt)),
      el("td", {}, attempt.status === null ? "—" : String(attempt.status)),
      el("td", {}, attempt.error || "OK"),
      el("td", {}, `${attempt.duration_ms} ms`)));
    replace(this.log,
      el("h3", {}, "Delivery log"),
      el("p", { class: "webhook-url" }, hook.webhook_url, " ", refresh),
      rows.length
        ? el("table", { class: "deliveries" },
          el("thead", {}, el("tr", {}, ["Time", "Event", "Attempt", "Status", "Result", "Duration"]
            .map((name) => el("th", { scope: "col" }, name)))),
          el("tbody", {}, rows))
        : el("p", { class: "empty" }, "No delivery attempts yet."));
    this.log.hidden = false;
  }
}
