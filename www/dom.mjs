// Small DOM helpers of the browser tool. Every text from the server or a captured request
// goes through text nodes, never HTML.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** Creates an element with attributes and children (strings become text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'onclick') node.addEventListener('click', value);
    else if (name === 'ontoggle') node.addEventListener('toggle', value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Replaces a container's content with one ok / not ok line. */
export function say(container, ok, ...text) {
  container.replaceChildren(el('div', { class: `result ${ok ? 'ok' : 'bad'}` }, ...text));
}

/** Renders verification results (`{ scheme, ok, code?, message }`). */
export function renderResults(container, results) {
  container.replaceChildren(
    ...results.map((r) =>
      el('div', { class: `result ${r.ok ? 'ok' : 'bad'}`, 'data-ok': String(r.ok), 'data-code': r.code },
        el('strong', {}, r.ok ? '✓ ' : '✗ ', r.scheme === 'none' ? '' : `${r.scheme}: `),
        r.ok ? r.message : `${r.code ? `${r.code} — ` : ''}${r.message}`),
    ),
  );
}

/** A time for people, in the page's locale. */
export const clock = (iso) => new Date(iso).toLocaleTimeString();
