// The Dashboard view: connect with an API key, the account's webhooks, registering one,
// emitting an event (to every subscribed webhook, or a test event to one), and the live
// delivery log with each delivery's request and response.
import { api, loadCatalog, onLive, session, setKey, startStream } from './api.mjs';
import { $, clock, el, say } from './dom.mjs';

let selectedWebhook = null;
let webhooks = [];
const connectedListeners = [];

/** Calls `listener()` each time the page connects with a valid key. */
export function onConnected(listener) {
  connectedListeners.push(listener);
}

/** Connects with `session.key`; true when the key works. */
export async function connect() {
  try {
    await loadCatalog();
    await api('GET', '/v1/webhooks?limit=1');
  } catch (e) {
    say($('key-status'), false, e.code === 'unauthorized' ? 'That API key is not valid.' : e.message);
    $('dashboard-body').hidden = true;
    setKey('');
    return false;
  }
  setKey(session.key);
  $('api-key').value = session.key;
  $('key-status').replaceChildren(el('span', { class: 'ok' }, 'Connected'));
  $('connection').textContent = 'Connected to this server';
  $('dashboard-body').hidden = false;
  renderCatalog();
  await refreshWebhooks();
  startStream();
  for (const listener of connectedListeners) listener();
  return true;
}

function renderCatalog() {
  const events = $('create-events');
  events.replaceChildren(el('legend', {}, 'Events'));
  for (const name of ['*', ...session.catalog.map((t) => t.name)]) {
    const id = `event-${name.replace(/[^a-z0-9]/g, '-')}`;
    const info = session.catalog.find((t) => t.name === name);
    events.append(el('label', { for: id }, el('input', { type: 'checkbox', id, value: name }), name === '*' ? 'all events (*)' : name, info ? el('span', { class: 'sr-only' }, ` — ${info.description}`) : null));
  }
  const select = $('emit-type');
  const chosen = select.value;
  select.replaceChildren(...session.catalog.map((t) => el('option', { value: t.name }, `${t.name} — ${t.description}`)));
  if (chosen) select.value = chosen;
  fillExample();
}

function fillExample() {
  const info = session.catalog.find((t) => t.name === $('emit-type').value);
  if (info) $('emit-data').value = JSON.stringify(info.example, null, 2);
}

/** Chooses the type to emit, with its example data (the Event types view's button). */
export function chooseEventType(name) {
  $('emit-type').value = name;
  fillExample();
}

/** Registers a webhook; resolves to the created webhook (with its secret). */
export async function registerWebhook(body) {
  const created = await api('POST', '/v1/webhooks', body);
  await refreshWebhooks();
  return created;
}

/** Sends a test event to one webhook; resolves to the API's answer. */
export function sendTestEvent(webhookId, type, data) {
  return api('POST', `/v1/webhooks/${webhookId}/test`, data === undefined ? { type } : { type, data });
}

async function refreshWebhooks() {
  const list = await api('GET', '/v1/webhooks?limit=200');
  webhooks = list.data;
  const body = $('webhooks').querySelector('tbody');
  body.replaceChildren(
    ...webhooks.map((w) =>
      el('tr', { 'data-webhook': w.id },
        el('td', {}, el('code', { class: 'url', title: w.url }, w.url), w.description ? el('div', { class: 'hint' }, w.description) : null),
        el('td', {}, w.events.join(', ')),
        el('td', { class: 'status' }, w.enabled ? el('span', { class: 'ok' }, 'enabled') : el('span', { class: 'bad' }, 'disabled'), w.disabled_reason ? el('div', { class: 'hint reason', title: w.disabled_reason }, w.disabled_reason.split(';')[0]) : null),
        el('td', {},
          el('div', { class: 'actions' },
            el('button', { type: 'button', class: 'small', onclick: () => selectWebhook(w.id) }, 'Deliveries'),
            el('button', { type: 'button', class: 'small', onclick: () => setEnabled(w.id, !w.enabled) }, w.enabled ? 'Disable' : 'Enable'),
            el('button', { type: 'button', class: 'small', onclick: () => recover(w.id) }, 'Recover failed'),
            el('button', { type: 'button', class: 'small', onclick: () => removeWebhook(w.id) }, 'Delete'),
          ),
        ),
      ),
    ),
  );
  if (webhooks.length === 0) body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'hint' }, 'No webhooks yet.')));
  const target = $('emit-target');
  const chosen = target.value;
  target.replaceChildren(
    el('option', { value: '' }, 'every webhook subscribed to the type'),
    ...webhooks.map((w) => el('option', { value: w.id }, `only ${w.url} (a test event)`)),
  );
  if (webhooks.some((w) => w.id === chosen)) target.value = chosen;
}

async function setEnabled(id, enabled) {
  await api('PATCH', `/v1/webhooks/${id}`, { enabled });
  await refreshWebhooks();
  if (selectedWebhook === id) await refreshDeliveries();
}

/** Sends the webhook's failed deliveries of the last 7 days again (a receiver that was down). */
async function recover(id) {
  const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
  try {
    const { recovered } = await api('POST', `/v1/webhooks/${id}/recover`, { since });
    say($('webhooks-result'), true, `Queued ${recovered} failed deliver${recovered === 1 ? 'y' : 'ies'} of the last 7 days again${recovered ? '' : ' (none failed)'}.`);
  } catch (e) {
    say($('webhooks-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
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

const attemptLine = (a) =>
  `#${a.number} ${clock(a.attempted_at)} · ${a.status_code ?? a.error_kind} · ${a.duration_ms} ms${a.error ? ` · ${a.error}` : ''}`;

async function refreshDeliveries() {
  if (!selectedWebhook) return;
  const list = await api('GET', `/v1/webhooks/${selectedWebhook}/deliveries?limit=50`);
  const open = new Set([...$('deliveries').querySelectorAll('details[open]')].map((d) => d.dataset.delivery));
  $('deliveries').replaceChildren(
    ...list.data.map((d) =>
      el('li', { 'data-delivery': d.id, 'data-status': d.status },
        el('div', {}, el('strong', {}, d.event_type), ' ', el('span', { class: d.status === 'succeeded' ? 'ok' : d.status === 'failed' ? 'bad' : '' }, d.status), ` · ${d.attempt_count} attempt(s)`,
          d.next_attempt_at ? ` · next try ${clock(d.next_attempt_at)}` : ''),
        el('ul', {}, ...d.attempts.map((a) => el('li', {}, attemptLine(a)))),
        exchange(d, open.has(d.id)),
        d.status === 'failed' ? el('button', { type: 'button', class: 'small', onclick: () => retry(d.id) }, 'Retry') : null,
      ),
    ),
  );
}

/** A delivery's request (headers and body as sent) and the last response, loaded when opened. */
function exchange(delivery, open) {
  const content = el('div', { class: 'exchange' });
  const load = async () => {
    if (!details.open || content.childElementCount > 0) return;
    try {
      const request = await api('GET', `/v1/deliveries/${delivery.id}/request`);
      const last = delivery.attempts.at(-1);
      content.replaceChildren(
        el('h4', {}, request.attempt ? `Request of attempt #${request.attempt}` : 'Request (not sent yet)'),
        el('pre', { class: 'request' }, `${request.method} ${request.url}\n`, request.headers.map(([k, v]) => `${k}: ${v}`).join('\n'), '\n\n', request.body),
        el('h4', {}, 'Response'),
        last
          ? el('pre', { class: 'response' }, last.status_code ? `HTTP ${last.status_code} · ${last.duration_ms} ms\n\n${last.response_body ?? ''}` : `${last.error_kind}: ${last.error ?? ''}`)
          : el('p', { class: 'hint' }, 'No attempt yet.'),
      );
    } catch (e) {
      say(content, false, e.message);
    }
  };
  const details = el('details', { 'data-delivery': delivery.id, ontoggle: load }, el('summary', {}, 'Request and response'), content);
  details.open = open;
  return details;
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
  setKey($('api-key').value.trim());
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
    const created = await registerWebhook(body);
    say($('create-result'), true, `Registered ${created.id}. Its secret (shown only now): `, el('code', {}, created.secret));
    $('create-form').reset();
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
  const type = $('emit-type').value;
  const target = $('emit-target').value;
  try {
    const answer = target ? await sendTestEvent(target, type, data) : await api('POST', '/v1/events', { type, data });
    say($('emit-result'), true, `Accepted ${answer.event.id}; ${answer.deliveries} deliver${answer.deliveries === 1 ? 'y' : 'ies'}.`);
  } catch (e) {
    say($('emit-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
});

let pending = null;
onLive((kind) => {
  if (kind === 'inbox.request') return;
  clearTimeout(pending);
  pending = setTimeout(async () => {
    await refreshWebhooks();
    await refreshDeliveries();
  }, 100);
});
