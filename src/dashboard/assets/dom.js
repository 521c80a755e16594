// DOM building for the dashboard. Every piece of data reaches the page as a text node or an
// attribute value set through the DOM, never as markup: an alert titled `<img onerror=…>` shows
// exactly those characters. Event handler attributes are refused outright.
/* global document */

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(name)) throw new Error(`refusing event handler attribute ${name}`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (typeof child === 'string' || typeof child === 'number')
      node.appendChild(document.createTextNode(String(child)));
    else node.appendChild(child);
  }
}

/** An HTML element with attributes and children (strings become text nodes). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, same rules. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** A date-time in the reader's locale, or a dash. */
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime())
    ? String(iso)
    : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Seconds as a short age (`42 s`, `3 min`, `2 h`). */
export function age(seconds) {
  if (seconds === null || seconds === undefined) return 'never';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** A severity as a badge that reads without colour: the word itself, upper case. */
export function severityBadge(severity) {
  return h('span', { class: `badge sev-${cssToken(severity)}` }, String(severity).toUpperCase());
}

/** A status as a badge with its word. */
export function statusBadge(status) {
  return h('span', { class: `badge st-${cssToken(status)}` }, String(status));
}

/** Only known words become class names, so data never invents one. */
function cssToken(value) {
  return /^[a-z_]{1,20}$/.test(String(value)) ? String(value) : 'other';
}

/** A term/description list from [label, value] pairs (values are text or nodes). */
export function definitions(pairs) {
  return h(
    'dl',
    { class: 'facts' },
    pairs.map(([term, value]) => [h('dt', {}, term), h('dd', {}, value === null || value === undefined ? '—' : value)]),
  );
}

/** JSON shown as preformatted text. */
export function jsonBlock(value, label) {
  return h('pre', { class: 'json', 'aria-label': label }, JSON.stringify(value, null, 2));
}
