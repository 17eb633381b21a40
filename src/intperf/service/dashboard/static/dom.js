// Building DOM nodes without innerHTML (every value from the API is text, never markup),
// and formatting numbers, times and states the way the run report does.

/** h('td', {class: 'n', onclick: fn, 'data-x': 1}, 'text', child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function badge(word, extra = '') {
  const w = word || 'none';
  return h('span', {class: `badge ${w} ${extra}`.trim(), 'data-state': w}, w);
}

export function empty(text) {
  return h('p', {class: 'empty'}, text);
}

export function table(headers, rows, attrs = {}) {
  return h('div', {class: 'scroll'}, h('table', attrs,
    h('thead', {}, h('tr', {}, headers.map((x) => (typeof x === 'string'
      ? h('th', {}, x) : h('th', {class: x.cls || ''}, x.label))))),
    h('tbody', {}, rows)));
}

export function tile(label, value, attrs = {}) {
  return h('div', {class: 'tile', ...attrs}, h('div', {class: 'k'}, label),
    h('div', {class: 'v', title: typeof value === 'string' ? value : null}, value));
}

export const fmt = {
  ms(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (v < 1) return `${v.toFixed(3)} ms`;
    if (v < 100) return `${v.toFixed(1)} ms`;
    if (v < 10000) return `${Math.round(v)} ms`;
    return `${(v / 1000).toFixed(1)} s`;
  },
  num(v, digits = 0) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    return Number(v).toLocaleString('en-US', {maximumFractionDigits: digits});
  },
  pct(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    return `${(v * 100).toFixed(v < 0.01 && v > 0 ? 2 : 1)}%`;
  },
  time(iso) {
    if (!iso) return '–';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
  },
  ago(iso) {
    if (!iso) return '–';
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (s < 60) return `${Math.max(0, Math.round(s))}s ago`;
    if (s < 3600) return `${Math.round(s / 60)}m ago`;
    if (s < 86400) return `${Math.round(s / 3600)}h ago`;
    return `${Math.round(s / 86400)}d ago`;
  },
  dur(s) {
    if (s === null || s === undefined) return '–';
    if (s < 1) return `${Math.round(s * 1000)}ms`;
    if (s < 60) return `${Number(s.toFixed(1))}s`;
    const m = Math.floor(s / 60);
    return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`
      : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
  },
  signed(v, digits = 1) {
    if (v === null || v === undefined) return '–';
    return `${v > 0 ? '+' : ''}${(v * 100).toFixed(digits)}%`;
  },
};
