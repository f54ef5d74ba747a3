// Building DOM nodes from data without ever parsing it as markup: every
// string given here becomes a text node or an attribute value.

/**
 * Create an element. `attrs` maps attribute names to values (`class`,
 * `aria-*`, `data-*`, ...); `false`, `null` and `undefined` leave the
 * attribute out, `true` sets it empty. `children` are nodes or strings
 * (strings become text nodes).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

/** Append nodes or strings (as text) to `parent`. */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace everything inside `parent` with `children`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, ...children);
}

/** The element with this id, or an error naming it. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing element #${id}`);
  return node;
}

/** Announce `text` to screen readers through the page's polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A change of content on a later frame is what screen readers announce.
  requestAnimationFrame(() => {
    region.textContent = text;
  });
}
