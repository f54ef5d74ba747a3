// Modal dialogs built on <dialog>: a form of labelled fields, an error
// line, and focus kept inside while open (Tab wraps around).

import { describeError } from "./api.js";
import { el, replace } from "./dom.js";

const FOCUSABLE = "button:not([disabled]), input:not([disabled]), select, textarea, a[href]";

function trapFocus(dialog, event) {
  if (event.key !== "Tab") return;
  const items = [...dialog.querySelectorAll(FOCUSABLE)];
  if (!items.length) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    last.focus();
    event.preventDefault();
  } else if (!event.shiftKey && document.activeElement === last) {
    first.focus();
    event.preventDefault();
  }
}

/**
 * Show a modal form in `dialog` and resolve true once `onSubmit(values)`
 * succeeds, or false if the person cancels. While `onSubmit` fails, its
 * error is shown in the dialog and the form stays open.
 *
 * @param spec {title, text?, fields: [{name, label, type?, autocomplete?,
 *   minlength?, value?, required?}], checkbox?: {name, label}, submit,
 *   danger?, onSubmit(values)}
 */
export function formDialog(dialog, spec) {
  const returnFocus = document.activeElement;
  const error = el("p", { class: "error-line", role: "alert" });
  const inputs = (spec.fields || []).map((field, index) => {
    const id = `dialog-field-${index}`;
    const input = el("input", {
      id,
      name: field.name,
      type: field.type || "text",
      autocomplete: field.autocomplete || "off",
      required: field.required !== false,
      minlength: field.minlength || false,
      spellcheck: "false",
    });
    if (field.value) input.value = field.value;
    return { field, input, row: el("p", { class: "field" }, el("label", { for: id }, field.label), input) };
  });
  let checkbox = null;
  if (spec.checkbox) {
    checkbox = el("input", { type: "checkbox", id: "dialog-check", name: spec.checkbox.name });
    checkbox.checked = Boolean(spec.checkbox.checked);
  }
  const submit = el("button", { type: "submit", class: spec.danger ? "danger" : "primary" }, spec.submit);
  const cancel = el("button", { type: "button", value: "cancel" }, "Cancel");
  const form = el("form", { method: "dialog" },
    el("h2", { id: "dialog-title" }, spec.title),
    spec.text ? el("p", {}, spec.text) : null,
    inputs.map((item) => item.row),
    checkbox ? el("p", { class: "check" }, checkbox, el("label", { for: "dialog-check" }, spec.checkbox.label)) : null,
    error,
    el("p", { class: "dialog-buttons" }, cancel, submit));
  replace(dialog, form);
  dialog.setAttribute("aria-labelledby", "dialog-title");

  return new Promise((resolve) => {
    let done = false;
    const finish = (result) => {
      if (done) return;
      done = true;
      dialog.removeEventListener("keydown", onKey);
      if (dialog.open) dialog.close();
      replace(dialog);
      if (returnFocus && returnFocus.isConnected) returnFocus.focus();
      resolve(result);
    };
    const onKey = (event) => trapFocus(dialog, event);
    dialog.addEventListener("keydown", onKey);
    dialog.addEventListener("close", () => finish(false), { once: true });
    cancel.addEventListener("click", () => finish(false));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = {};
      for (const { field, input } of inputs) values[field.name] = input.value;
      if (checkbox) values[checkbox.name] = checkbox.checked;
      submit.disabled = true;
      error.textContent = "";
      try {
        await spec.onSubmit(values);
        finish(true);
      } catch (failure) {
        error.textContent = describeError(failure);
        submit.disabled = false;
        (inputs[0]?.input || submit).focus();
      }
    });
    dialog.showModal();
    (inputs[0]?.input || submit).focus();
  });
}

/** Ask a yes/no question; resolves true for yes. */
export function confirmDialog(dialog, title, text, submit) {
  return formDialog(dialog, { title, text, submit, danger: true, onSubmit: async () => {} });
}
