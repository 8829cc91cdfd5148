// The browser tool's access to the server's API: the credential of this tab (an API key, a
// platform key or a portal session's token), the account a platform key acts for, requests,
// the event catalog and the live stream. Both live in sessionStorage only (this tab).
const KEY_STORAGE = 'cdhooks.apiKey';
const ACCOUNT_STORAGE = 'cdhooks.account';

/**
 * The credential this tab uses ('' when not connected), the account a platform key acts for
 * ('' for none), what the credential is (`GET /v1/credential`) and the event catalog.
 */
export const session = {
  key: sessionStorage.getItem(KEY_STORAGE) ?? '',
  account: sessionStorage.getItem(ACCOUNT_STORAGE) ?? '',
  credential: null,
  catalog: [],
};

/** Remembers a credential for this tab. */
export function setKey(key) {
  session.key = key;
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

/** Remembers the account a platform key acts for ('' for none). */
export function setAccount(account) {
  session.account = account;
  if (account) sessionStorage.setItem(ACCOUNT_STORAGE, account);
  else sessionStorage.removeItem(ACCOUNT_STORAGE);
}

/** Whether the credential may do `action` (`write`, `emit`, … as `GET /v1/credential` says). */
export const may = (action) => Boolean(session.credential?.may.includes(action));

function headers(extra = {}) {
  return {
    authorization: `Bearer ${session.key}`,
    ...(session.account ? { 'cdhooks-account': session.account } : {}),
    ...extra,
  };
}

/** Calls the API; rejects with an Error carrying the API's `code`. */
export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page): the status still says what happened.
  }
  if (!response.ok) {
    const error = new Error(json?.error?.message ?? `HTTP ${response.status}${text && !json ? `: ${text.slice(0, 200)}` : ''}`);
    error.code = json?.error?.code ?? `http_${response.status}`;
    error.status = response.status;
    throw error;
  }
  return json;
}

/** The event types (`GET /v1/event-types`, no key needed), loaded once. */
export async function loadCatalog() {
  if (session.catalog.length === 0) session.catalog = (await api('GET', '/v1/event-types')).data;
  return session.catalog;
}

// ---- Live stream (fetch-based SSE, so the credential travels in a header) --------------

const listeners = [];
let streamAbort = null;

/** Calls `listener(kind)` for each event of the live stream (`delivery.attempt`, `inbox.request`, …). */
export function onLive(listener) {
  listeners.push(listener);
}

/**
 * (Re)opens the live stream with the current credential; it is opened again a moment after
 * it ends or fails (a server restart, a dropped connection), until the credential stops working.
 */
export async function startStream() {
  streamAbort?.abort();
  const abort = new AbortController();
  streamAbort = abort;
  const again = () => {
    if (!abort.signal.aborted) setTimeout(() => !abort.signal.aborted && startStream(), 2000);
  };
  try {
    const response = await fetch('/v1/stream', { headers: headers(), signal: abort.signal });
    if (!response.ok) {
      if (response.status !== 401 && response.status !== 403) again();
      return;
    }
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
    again();
  } catch (e) {
    if (e.name !== 'AbortError') again();
  }
}

/** Closes the live stream. */
export function stopStream() {
  streamAbort?.abort();
}
