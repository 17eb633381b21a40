// The JSON API as the dashboard uses it: the signed-in key (sessionStorage, sent as
// X-API-Key), errors in the API's one shape, server-sent events read with fetch (EventSource
// cannot send headers) and polling that backs off while the service does not answer.

const KEY = 'intperf.apiKey';
const BASE = document.querySelector('meta[name="intperf-base"]')?.content || '';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.field = body ? body.field : null;
    this.detail = body ? body.detail : null;
  }
}

export const session = {
  key: () => sessionStorage.getItem(KEY),
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

function headers(key, json) {
  const out = {Accept: 'application/json'};
  const k = key || session.key();
  if (k) out['X-API-Key'] = k;
  if (json) out['Content-Type'] = 'application/json';
  return out;
}

async function failure(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (res.status === 401) window.dispatchEvent(new CustomEvent('intperf:unauthorized'));
  return new ApiError(res.status, body);
}

/** The answer's JSON (null for 204); throws ApiError for any other status. */
export async function api(path, {method = 'GET', body, signal, key} = {}) {
  let res;
  try {
    res = await fetch(BASE + path, {method, signal, headers: headers(key, body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store'});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, {error: `the service does not answer (${err.message})`});
  }
  if (!res.ok) throw await failure(res);
  if (res.status === 204) return null;
  return res.json();
}

/** Server-sent events of ``path`` as {event, data} objects, until the stream closes. */
export async function* sse(path, signal) {
  const res = await fetch(BASE + path, {signal, headers: {...headers(), Accept: 'text/event-stream'},
    cache: 'no-store'});
  if (!res.ok) throw await failure(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let cr = ''; // a chunk's last '\r' waits for the next: it may be half of a '\r\n'
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      let text = cr + decoder.decode(value, {stream: true});
      cr = text.endsWith('\r') ? '\r' : '';
      if (cr) text = text.slice(0, -1);
      buffer += text.replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue; // keep-alive comment
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'event') event = val;
          else if (field === 'data') data.push(val);
        }
        if (data.length) yield {event, data: JSON.parse(data.join('\n'))};
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Call ``fn`` now and then every ``interval`` ms; after a failure wait twice as long (up to
 * ``max``), back to ``interval`` after a success. Returns {stop, now}.
 */
export function poll(fn, {interval = 5000, max = 60000, onError} = {}) {
  let wait = interval;
  let timer = null;
  let stopped = false;
  let running = false;
  const tick = async () => {
    timer = null;
    if (stopped || running) return;
    running = true;
    try {
      await fn();
      wait = interval;
      liveStatus(`updated ${new Date().toLocaleTimeString()}`);
    } catch (err) {
      if (err.name === 'AbortError') return;
      wait = Math.min(max, wait * 2);
      liveStatus(`update failed: ${err.message}; retrying in ${Math.round(wait / 1000)}s`);
      if (onError) onError(err);
    } finally {
      running = false;
      if (!stopped) timer = setTimeout(tick, wait);
    }
  };
  tick();
  return {
    stop() { stopped = true; if (timer) clearTimeout(timer); },
    now() { if (timer) { clearTimeout(timer); tick(); } },
  };
}

export function liveStatus(text) {
  const el = document.getElementById('live-status');
  if (el) el.textContent = text;
}

/** Fetch a protected file (report.html, junit.xml) with the key and open or save it. */
export async function openFile(path, filename) {
  const res = await fetch(BASE + path, {headers: {...headers(), Accept: '*/*'}});
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  if (filename) a.download = filename;
  else a.target = '_blank';
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export const ROLE_RANK = {viewer: 1, operator: 2, admin: 3};
export const can = (me, role) => !!me && (ROLE_RANK[me.role] || 0) >= ROLE_RANK[role];
