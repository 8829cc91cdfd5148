// The browser tool: verify & sign (offline), the dashboard of the local server, and inboxes.
// Plain ES modules; every text from the server or a captured request goes through
// textContent, never HTML.
import { parseHeaderLines, parseRawRequest, signDelivery, verifyDelivery } from './verify.mjs';

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'cdhooks.apiKey';

/** Creates an element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'onclick') node.addEventListener('click', value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function show(view) {
  for (const tab of document.querySelectorAll('.tab')) {
    if (tab.dataset.view === view) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${view}`;
}

function renderResults(container, results) {
  container.replaceChildren(
    ...results.map((r) =>
      el('div', { class: `result ${r.ok ? 'ok' : 'bad'}`, 'data-ok': String(r.ok), 'data-code': r.code },
        el('strong', {}, r.ok ? '✓ ' : '✗ ', r.scheme === 'none' ? '' : `${r.scheme}: `),
        r.ok ? r.message : `${r.code ? `${r.code} — ` : ''}${r.message}`),
    ),
  );
}

// ---- Verify & sign -------------------------------------------------------------------

function currentDelivery() {
  const input = $('verify-input').value;
  const raw = parseRawRequest(input);
  const headers = { ...(raw?.headers ?? {}), ...parseHeaderLines($('verify-headers').value) };
  return { body: raw ? raw.body : input, headers };
}

$('verify-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const { body, headers } = currentDelivery();
  renderResults($('verify-result'), verifyDelivery({ body, headers, secret: $('verify-secret').value, ignoreAge: $('verify-ignore-age').checked }));
});

$('sign-button').addEventListener('click', () => {
  const secret = $('verify-secret').value;
  const out = $('sign-result');
  if (!secret) {
    renderResults($('verify-result'), [{ scheme: 'none', ok: false, code: 'invalid_secret', message: 'Enter the webhook secret.' }]);
    return;
  }
  const headers = signDelivery({ body: currentDelivery().body, secret });
  out.textContent = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n');
  out.hidden = false;
});

// ---- API access ----------------------------------------------------------------------

let apiKey = sessionStorage.getItem(KEY_STORAGE) ?? '';

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
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

function say(container, ok, text) {
  container.replaceChildren(el('div', { class: `result ${ok ? 'ok' : 'bad'}` }, text));
}

// ---- Dashboard -----------------------------------------------------------------------

let catalog = [];
let selectedWebhook = null;

async function connect() {
  try {
    const types = await api('GET', '/v1/event-types');
    catalog = types.data;
    await api('GET', '/v1/webhooks?limit=1');
  } catch (e) {
    say($('key-status'), false, e.code === 'unauthorized' ? 'That API key is not valid.' : e.message);
    $('dashboard-body').hidden = true;
    return false;
  }
  sessionStorage.setItem(KEY_STORAGE, apiKey);
  $('key-status').replaceChildren(el('span', { class: 'ok' }, 'Connected'));
  $('dashboard-body').hidden = false;
  renderCatalog();
  await refreshWebhooks();
  startStream();
  return true;
}

function renderCatalog() {
  const events = $('create-events');
  events.replaceChildren(el('legend', {}, 'Events'));
  for (const name of ['*', ...catalog.map((t) => t.name)]) {
    const id = `event-${name.replace(/[^a-z0-9]/g, '-')}`;
    const info = catalog.find((t) => t.name === name);
    events.append(el('label', { for: id }, el('input', { type: 'checkbox', id, value: name }), name === '*' ? 'all events (*)' : name, info ? el('span', { class: 'sr-only' }, ` — ${info.description}`) : null));
  }
  const select = $('emit-type');
  select.replaceChildren(...catalog.map((t) => el('option', { value: t.name }, `${t.name} — ${t.description}`)));
  fillExample();
}

function fillExample() {
  const info = catalog.find((t) => t.name === $('emit-type').value);
  if (info) $('emit-data').value = JSON.stringify(info.example, null, 2);
}

async function refreshWebhooks() {
  const list = await api('GET', '/v1/webhooks?limit=200');
  const body = $('webhooks').querySelector('tbody');
  body.replaceChildren(
    ...list.data.map((w) =>
      el('tr', { 'data-webhook': w.id },
        el('td', {}, el('code', {}, w.url), w.description ? el('div', { class: 'hint' }, w.description) : null),
        el('td', {}, w.events.join(', ')),
        el('td', { class: 'status' }, w.enabled ? el('span', { class: 'ok' }, 'enabled') : el('span', { class: 'bad' }, 'disabled'), w.disabled_reason ? el('div', { class: 'hint' }, w.disabled_reason) : null),
        el('td', {},
          el('div', { class: 'actions' },
            el('button', { type: 'button', class: 'small', onclick: () => selectWebhook(w.id) }, 'Deliveries'),
            el('button', { type: 'button', class: 'small', onclick: () => setEnabled(w.id, !w.enabled) }, w.enabled ? 'Disable' : 'Enable'),
            el('button', { type: 'button', class: 'small', onclick: () => removeWebhook(w.id) }, 'Delete'),
          ),
        ),
      ),
    ),
  );
  if (list.data.length === 0) body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'hint' }, 'No webhooks yet.')));
}

async function setEnabled(id, enabled) {
  await api('PATCH', `/v1/webhooks/${id}`, { enabled });
  await refreshWebhooks();
  if (selectedWebhook === id) await refreshDeliveries();
}

async function removeWebhook(id) {
  if (!confirm(`Delete webhook ${id} and its delivery log?`)) return;
  await api('DELETE', `/v1/webhooks/${id}`);
  if (selectedWebhook === id) {
    selectedWebhook = null;
    $('deliveries').replaceChildren();
  }
  await refreshWebhooks();
}

async function selectWebhook(id) {
  selectedWebhook = id;
  $('deliveries-hint').textContent = `Deliveries of ${id}, newest first; updates live.`;
  await refreshDeliveries();
}

async function refreshDeliveries() {
  if (!selectedWebhook) return;
  const list = await api('GET', `/v1/webhooks/${selectedWebhook}/deliveries?limit=50`);
  $('deliveries').replaceChildren(
    ...list.data.map((d) =>
      el('li', { 'data-delivery': d.id, 'data-status': d.status },
        el('div', {}, el('strong', {}, d.event_type), ' ', el('span', { class: d.status === 'succeeded' ? 'ok' : d.status === 'failed' ? 'bad' : '' }, d.status), ` · ${d.attempt_count} attempt(s)`,
          d.next_attempt_at ? ` · next try ${new Date(d.next_attempt_at).toLocaleTimeString()}` : ''),
        el('ul', {},
          ...d.attempts.map((a) =>
            el('li', {}, `#${a.number} ${new Date(a.attempted_at).toLocaleTimeString()} · ${a.status_code ?? a.error_kind} · ${a.duration_ms} ms`, a.error ? ` · ${a.error}` : ''),
          ),
        ),
        d.status === 'failed' ? el('button', { type: 'button', class: 'small', onclick: () => retry(d.id) }, 'Retry') : null,
      ),
    ),
  );
}

async function retry(id) {
  try {
    await api('POST', `/v1/deliveries/${id}/retry`);
  } catch (e) {
    alert(e.message);
  }
  await refreshDeliveries();
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  apiKey = $('api-key').value.trim();
  await connect();
});

$('emit-type').addEventListener('change', fillExample);

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const events = [...$('create-events').querySelectorAll('input:checked')].map((i) => i.value);
  const body = { url: $('create-url').value.trim(), events };
  if ($('create-secret').value) body.secret = $('create-secret').value;
  if ($('create-description').value) body.description = $('create-description').value;
  try {
    const created = await api('POST', '/v1/webhooks', body);
    say($('create-result'), true, `Registered ${created.id}. Its secret (shown only now): ${created.secret}`);
    $('create-form').reset();
    await refreshWebhooks();
  } catch (e) {
    say($('create-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
});

$('emit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  let data;
  try {
    data = JSON.parse($('emit-data').value);
  } catch {
    say($('emit-result'), false, 'The data is not valid JSON.');
    return;
  }
  try {
    const answer = await api('POST', '/v1/events', { type: $('emit-type').value, data });
    say($('emit-result'), true, `Accepted ${answer.event.id}; ${answer.deliveries} deliver${answer.deliveries === 1 ? 'y' : 'ies'}.`);
  } catch (e) {
    say($('emit-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
});

// ---- Live stream (fetch-based SSE, so the API key travels in a header) ------------------

let streamAbort = null;
let pending = null;

function scheduleRefresh(kind) {
  clearTimeout(pending);
  pending = setTimeout(async () => {
    if (kind !== 'inbox.request') {
      await refreshWebhooks();
      await refreshDeliveries();
    }
    await refreshInbox();
  }, 100);
}

async function startStream() {
  streamAbort?.abort();
  streamAbort = new AbortController();
  try {
    const response = await fetch('/v1/stream', { headers: { authorization: `Bearer ${apiKey}` }, signal: streamAbort.signal });
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
        if (kind) scheduleRefresh(kind);
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') setTimeout(startStream, 2000);
  }
}

// ---- Inbox ---------------------------------------------------------------------------

let inboxToken = sessionStorage.getItem('cdhooks.inbox');

function inboxUrl() {
  return `${location.origin}/inbox/${inboxToken}`;
}

function renderInboxUrl() {
  if (!inboxToken) return;
  $('inbox-url').replaceChildren('Inbox URL: ', el('code', { id: 'inbox-url-value' }, inboxUrl()));
  $('inbox-use').hidden = false;
}

$('inbox-create').addEventListener('click', async () => {
  try {
    const created = await api('POST', '/v1/inboxes');
    inboxToken = created.token;
    sessionStorage.setItem('cdhooks.inbox', inboxToken);
    renderInboxUrl();
    await refreshInbox();
  } catch (e) {
    say($('inbox-url'), false, e.code === 'unauthorized' ? 'Connect with your API key on the Dashboard first.' : e.message);
  }
});

$('inbox-use').addEventListener('click', () => {
  show('dashboard');
  $('create-details').open = true;
  $('create-url').value = inboxUrl();
  $('create-url').focus();
});

$('inbox-secret').addEventListener('input', () => refreshInbox());

async function refreshInbox() {
  if (!inboxToken || !apiKey) return;
  let list;
  try {
    list = await api('GET', `/v1/inboxes/${inboxToken}/requests`);
  } catch {
    return;
  }
  const secret = $('inbox-secret').value;
  $('inbox-requests').replaceChildren(
    ...list.data.map((r) => {
      const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
      const bytes = Uint8Array.from(atob(r.body_base64), (c) => c.charCodeAt(0));
      const results = secret ? verifyDelivery({ body: bytes, headers, secret, ignoreAge: false }) : [];
      const verdict = el('div', {});
      if (secret) renderResults(verdict, results);
      else verdict.append(el('p', { class: 'hint' }, 'Enter the secret above to verify.'));
      return el('li', { 'data-event': headers['webhook-id'] ?? '' },
        el('div', {}, el('strong', {}, r.method), ` ${new Date(r.received_at).toLocaleTimeString()} · ${headers['x-webhook-event'] ?? 'request'}`),
        verdict,
        el('details', {}, el('summary', {}, 'Headers and body'), el('pre', {}, r.headers.map(([k, v]) => `${k}: ${v}`).join('\n'), '\n\n', r.body)),
      );
    }),
  );
}

// ---- Start ---------------------------------------------------------------------------

for (const tab of document.querySelectorAll('.tab')) tab.addEventListener('click', () => show(tab.dataset.view));
if (apiKey) {
  $('api-key').value = apiKey;
  connect();
}
renderInboxUrl();
document.documentElement.dataset.ready = 'true';
