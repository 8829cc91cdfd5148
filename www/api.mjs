// The browser tool's access to the server's API: the API key of this tab, requests, the
// event catalog and the live stream. The key lives in sessionStorage only (this tab).
const KEY_STORAGE = 'cdhooks.apiKey';

/** The API key this tab uses ('' when not connected). */
export const session = { key: sessionStorage.getItem(KEY_STORAGE) ?? '', catalog: [] };

/** Remembers a key for this tab. */
export function setKey(key) {
  session.key = key;
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** Calls the API; rejects with an Error carrying the API's `code`. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${session.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(json?.error?.message ?? `HTTP ${response.status}`);
    error.code = json?.error?.code;
    throw error;
  }
  return json;
}

/** The event types (`GET /v1/event-types`, no key needed), loaded once. */
export async function loadCatalog() {
  if (session.catalog.length === 0) session.catalog = (await api('GET', '/v1/event-types')).data;
  return session.catalog;
}

// ---- Live stream (fetch-based SSE, so the API key travels in a header) ------------------

const listeners = [];
let streamAbort = null;

/** Calls `listener(kind)` for each event of the live stream (`delivery.attempt`, `inbox.request`, …). */
export function onLive(listener) {
  listeners.push(listener);
}

/** (Re)opens the live stream with the current key. */
export async function startStream() {
  streamAbort?.abort();
  streamAbort = new AbortController();
  try {
    const response = await fetch('/v1/stream', { headers: { authorization: `Bearer ${session.key}` }, signal: streamAbort.signal });
    if (!response.ok) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = /^event: ?(.*)$/m.exec(block)?.[1];
        if (kind) for (const listener of listeners) listener(kind);
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') setTimeout(startStream, 2000);
  }
}
