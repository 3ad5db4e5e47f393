// Building DOM nodes without ever parsing markup: text from the service only ever becomes text nodes.

/**
 * h("a", {href: "/x", class: "link"}, "text", child) -> <a href="/x" class="link">text…</a>.
 * Attributes that are null, undefined or false are left out; children that are null or false are skipped.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Replaces all children of `element`. */
export function replaceChildren(element, ...children) {
  element.replaceChildren(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
}
