// Element builders. Text always enters the page as text nodes or attribute values, never as
// HTML: nothing here parses markup, so a workflow name or a step output cannot inject any.

const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('a', {href: '#/runs', class: 'x'}, 'text', child, [more]) -> HTMLElement.
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// "#/runs?workflow=a b" from a path and query parameters (empty values dropped).
export function hashLink(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
  const qs = q.toString();
  return '#' + path + (qs ? '?' + qs : '');
}

export function runLink(id) {
  return h('a', {href: '#/runs/' + encodeURIComponent(id), class: 'mono'}, id);
}

export function workflowLink(name) {
  return h('a', {href: '#/workflows/' + encodeURIComponent(name)}, name);
}

export function statusBadge(status) {
  return h('span', {class: 'badge status-' + status, dataset: {status}}, status);
}

export function fmtTime(ms) {
  if (!ms) return '';
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '';
  if (ms < 1000) return Math.round(ms) + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  const m = Math.floor(ms / 60000);
  return m + ' m ' + Math.round((ms % 60000) / 1000) + ' s';
}

export function json(v) {
  return JSON.stringify(v, null, 2);
}

// A message box for an error (ApiError or any Error).
export function errorBox(err) {
  const code = err && err.code ? err.code + ': ' : '';
  return h('p', {class: 'error', role: 'alert'}, code + (err && err.message ? err.message : String(err)));
}

export function table(headers, rows, attrs) {
  return h('div', {class: 'table-wrap'},
    h('table', attrs || {},
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, rows)));
}

// The view's heading; the router moves focus to it after a navigation.
export function title(text, ...extra) {
  return h('h1', {tabindex: '-1'}, text, ...extra);
}
