// The Dashboard view: connect with an API key, a portal session (a `#session=` link the
// provider hands its customer) or a platform key (find an account, then act for it); the
// account's webhooks, registering one, emitting an event (to every subscribed webhook, or a
// test event to one), and the live delivery log with each delivery's request and response.
// What the credential may not do is not offered (`GET /v1/credential` says what it may), and
// every action reports its failure in the page.
import { api, loadCatalog, may, onLive, session, setAccount, setKey, startStream, stopStream } from './api.mjs';
import { $, clock, el, say } from './dom.mjs';

let selectedWebhook = null;
let webhooks = [];
const connectedListeners = [];

/** Calls `listener()` each time the page connects with a valid key. */
export function onConnected(listener) {
  connectedListeners.push(listener);
}

/** What the credential is called in messages. */
const KIND_NAMES = { account_key: 'API key', platform_key: 'platform key', portal_session: 'portal session' };

/** Shows or hides the account's view. */
function showAccount(shown) {
  $('dashboard-body').hidden = !shown;
}

/**
 * Connects with `session.key` (and `session.account` for a platform key); true when the
 * credential works. A platform key without an account shows the account finder.
 */
export async function connect() {
  let credential;
  try {
    await loadCatalog();
    credential = await api('GET', '/v1/credential');
  } catch (e) {
    const expired = session.key.startsWith('cdhs_');
    say($('key-status'), false, e.code === 'unauthorized'
      ? (expired ? 'This link has expired or was revoked; ask for a new one.' : 'That API key is not valid.')
      : e.message);
    showAccount(false);
    $('operator').hidden = true;
    $('acting').hidden = true;
    delete document.documentElement.dataset.may;
    stopStream();
    setKey('');
    setAccount('');
    return false;
  }
  session.credential = credential;
  document.documentElement.dataset.may = credential.may.join(' ');
  setKey(session.key);
  $('key-form').hidden = credential.kind === 'portal_session';
  $('api-key').value = credential.kind === 'portal_session' ? '' : session.key;
  const readOnly = !credential.may.includes('write');
  $('key-status').replaceChildren(el('span', { class: 'ok' }, `Connected with a ${KIND_NAMES[credential.kind]}`), readOnly ? ' (read-only)' : '');
  $('connection').textContent = credential.account
    ? `Signed in to ${credential.account.email}${credential.expires_at ? ` until ${clock(credential.expires_at)}` : ''}${readOnly ? ' · read-only' : ''}`
    : 'Connected to this server';
  const operator = credential.kind === 'platform_key';
  $('operator').hidden = !operator || Boolean(credential.account);
  $('acting').hidden = !operator || !credential.account;
  if (operator && credential.account) $('acting-for').textContent = `Acting for ${credential.account.id} (${credential.account.email})`;
  if (!credential.account) {
    showAccount(false);
    stopStream();
    if (operator) await renderAttention();
    return true;
  }
  showAccount(true);
  renderCatalog();
  try {
    await refreshWebhooks();
  } catch (e) {
    say($('webhooks-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
  startStream();
  for (const listener of connectedListeners) listener();
  return true;
}

/** Runs a button's action, reporting a failure in `where` (never an unhandled rejection). */
function reported(where, action) {
  return async () => {
    try {
      await action();
    } catch (e) {
      say(where, false, `${e.code ?? 'error'}: ${e.message}`);
    }
  };
}

/** `server.*`, `server.backup.*`, `billing.*`, …: every group some type of the catalog is in. */
function prefixPatterns(catalog) {
  const prefixes = new Set();
  for (const { name } of catalog) {
    const segments = name.split('.');
    for (let n = 1; n < segments.length; n++) prefixes.add(`${segments.slice(0, n).join('.')}.*`);
  }
  return [...prefixes];
}

function renderCatalog() {
  const events = $('create-events');
  events.replaceChildren(el('legend', {}, 'Events'));
  for (const name of ['*', ...prefixPatterns(session.catalog), ...session.catalog.map((t) => t.name)]) {
    const id = `event-${name.replace(/[^a-z0-9]/g, '-')}`;
    const info = session.catalog.find((t) => t.name === name);
    events.append(el('label', { for: id }, el('input', { type: 'checkbox', id, value: name }), name === '*' ? 'all events (*)' : name, info?.deprecated ? ' (deprecated)' : null, info ? el('span', { class: 'sr-only' }, ` — ${info.description}`) : null));
  }
  // Only a credential that may emit real events is offered "every subscribed webhook".
  $('emit-title').textContent = may('emit') ? 'Emit an event' : 'Send a test event';
  const select = $('emit-type');
  const chosen = select.value;
  select.replaceChildren(...session.catalog.map((t) => el('option', { value: t.name }, `${t.name} — ${t.description}${t.deprecated ? ' (deprecated)' : ''}`)));
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

/**
 * What the endpoint's recent answers changed, if anything: an open circuit (its last attempts
 * all failed, so one goes out at a time) or a hold it asked for with Retry-After.
 */
function healthNote(w) {
  const health = w.health ?? {};
  const notes = [];
  if (health.circuit === 'open') {
    notes.push(`${health.consecutive_failures} failed attempts in a row: sending one at a time until one succeeds`);
  } else if (health.circuit === 'probing') {
    notes.push(`${health.consecutive_failures} failed attempts in a row: one attempt under way to see whether it answers again`);
  }
  if (health.held_until) {
    notes.push(`paused until ${new Date(health.held_until).toLocaleTimeString()}, as the endpoint asked (Retry-After)`);
  }
  return notes.length ? el('div', { class: 'hint health', 'data-circuit': health.circuit ?? 'closed' }, notes.join('; ')) : null;
}

/** A filter in words: `data.server_id is srv_1 or srv_2, and data.status is running`. */
function describeFilter(filter) {
  return Object.entries(filter)
    .map(([field, accepted]) => `${field} is ${[accepted].flat().join(' or ')}`)
    .join(', and ');
}

/** The filter textarea's JSON: `undefined` when empty; throws when it is not JSON. */
function filterInput() {
  const text = $('create-filter').value.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw Object.assign(new Error('the filter is not valid JSON'), { code: 'invalid_filter' });
  }
}

async function refreshWebhooks() {
  const list = await api('GET', '/v1/webhooks?limit=200');
  webhooks = list.data;
  const body = $('webhooks').querySelector('tbody');
  body.replaceChildren(
    ...webhooks.map((w) =>
      el('tr', { 'data-webhook': w.id },
        el('td', {}, el('code', { class: 'url', title: w.url }, w.url), w.description ? el('div', { class: 'hint' }, w.description) : null),
        el('td', {}, w.events.join(', '), w.filter ? el('div', { class: 'hint filter' }, `only if ${describeFilter(w.filter)}`) : null),
        el('td', { class: 'status' }, w.enabled ? el('span', { class: 'ok' }, 'enabled') : el('span', { class: 'bad' }, 'disabled'), w.disabled_reason ? el('div', { class: 'hint reason', title: w.disabled_reason }, w.disabled_reason.split(';')[0]) : null, healthNote(w)),
        el('td', {},
          el('div', { class: 'actions' },
            el('button', { type: 'button', class: 'small', onclick: reported($('webhooks-result'), () => selectWebhook(w.id)) }, 'Deliveries'),
            el('button', { type: 'button', class: 'small needs-write', onclick: () => startEditing(w) }, 'Edit'),
            el('button', { type: 'button', class: 'small needs-write', onclick: reported($('webhooks-result'), () => setEnabled(w.id, !w.enabled)) }, w.enabled ? 'Disable' : 'Enable'),
            el('button', { type: 'button', class: 'small needs-write', onclick: () => recover(w.id) }, 'Recover failed'),
            el('button', { type: 'button', class: 'small needs-write', onclick: reported($('webhooks-result'), () => rotate(w.id)) }, 'Rotate secret'),
            el('button', { type: 'button', class: 'small needs-write', onclick: reported($('webhooks-result'), () => removeWebhook(w.id)) }, 'Delete'),
          ),
        ),
      ),
    ),
  );
  if (webhooks.length === 0) body.replaceChildren(el('tr', {}, el('td', { colspan: '4', class: 'hint' }, 'No webhooks yet.')));
  const target = $('emit-target');
  const chosen = target.value;
  target.replaceChildren(
    may('emit') ? el('option', { value: '' }, 'every webhook subscribed to the type') : null,
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

/** Gives the webhook a new secret; the old one keeps signing through the grace period. */
async function rotate(id) {
  const rotated = await api('POST', `/v1/webhooks/${id}/rotate-secret`, {});
  const until = rotated.previous_secrets_expire_at.at(-1);
  say($('webhooks-result'), true, `New secret of ${id} (shown only now): `, el('code', { class: 'secret' }, rotated.secret),
    until ? `. Deliveries carry signatures with the old one too until ${clock(until)}: update your receiver before then.` : '.');
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
        d.status === 'failed' ? el('button', { type: 'button', class: 'small needs-write', onclick: () => retry(d.id) }, 'Retry') : null,
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
    await refreshDeliveries();
  } catch (e) {
    say($('webhooks-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
}

$('key-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  setKey($('api-key').value.trim());
  setAccount('');
  await connect();
});

// ---- The operator's view (a platform key): find an account, then act for it ------------

/** The accounts a query names: an id, an email, or the provider's external id. */
async function findAccounts(query) {
  if (/^acct_[0-9a-f]{32}$/.test(query)) {
    try {
      return [await api('GET', `/v1/accounts/${query}`)];
    } catch (e) {
      if (e.code === 'not_found') return [];
      throw e;
    }
  }
  // An external id may look like anything, an email too: both are asked.
  const filters = query.includes('@') ? ['email', 'external_id'] : ['external_id'];
  const found = new Map();
  for (const filter of filters) {
    try {
      const page = await api('GET', `/v1/accounts?${filter}=${encodeURIComponent(query)}&limit=20`);
      for (const account of page.data) found.set(account.id, account);
    } catch (e) {
      if (e.code !== 'invalid_email') throw e;
    }
  }
  return [...found.values()];
}

$('find-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const query = $('find-query').value.trim();
  $('find-results').replaceChildren();
  try {
    const found = await findAccounts(query);
    if (found.length === 0) say($('find-result'), false, `No account matches ${query}.`);
    else $('find-result').replaceChildren();
    $('find-results').replaceChildren(...found.map((a) => accountItem(a)));
  } catch (e) {
    say($('find-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
});

/** An account in the operator's lists, with a button that opens it. */
function accountItem(a, ...notes) {
  return el('li', { 'data-account': a.id },
    el('code', {}, a.id), ` ${a.email}`, a.name ? ` · ${a.name}` : '', a.external_id ? ` · ${a.external_id}` : '', ...notes, ' ',
    el('button', { type: 'button', class: 'small', onclick: reported($('find-result'), () => actFor(a.id)) }, 'Open'),
  );
}

/** The accounts that need the operator (the first 20). */
async function renderAttention() {
  try {
    const { data } = await api('GET', '/v1/accounts?needs_attention=true&limit=20');
    $('attention').replaceChildren(
      ...data.map((a) => accountItem(a,
        a.attention.disabled_webhooks ? el('span', { class: 'bad' }, ` · ${a.attention.disabled_webhooks} disabled webhook(s)`) : '',
        a.attention.oldest_due_at ? ` · oldest due ${clock(a.attention.oldest_due_at)}` : '')),
    );
    if (data.length === 0) $('attention').replaceChildren(el('li', { class: 'hint' }, 'None.'));
  } catch (e) {
    say($('find-result'), false, `${e.code ?? 'error'}: ${e.message}`);
  }
}

async function actFor(account) {
  setAccount(account);
  selectedWebhook = null;
  $('deliveries').replaceChildren();
  await connect();
}

$('acting-leave').addEventListener('click', reported($('find-result'), () => actFor('')));

$('emit-type').addEventListener('change', fillExample);

// The register form doubles as the edit form of one webhook (its URL, events, description).
let editing = null;

function startEditing(webhook) {
  editing = webhook.id;
  $('create-form').reset();
  $('create-url').value = webhook.url;
  for (const box of $('create-events').querySelectorAll('input')) box.checked = webhook.events.includes(box.value);
  $('create-description').value = webhook.description ?? '';
  $('create-filter').value = webhook.filter ? JSON.stringify(webhook.filter, null, 2) : '';
  $('create-match').hidden = false;
  $('create-match-result').replaceChildren();
  $('create-summary').textContent = `Edit ${webhook.id}`;
  $('create-submit').textContent = 'Save';
  $('create-secret-field').hidden = true;
  $('create-cancel').hidden = false;
  $('create-details').open = true;
  $('create-url').focus();
}

function stopEditing() {
  editing = null;
  $('create-form').reset();
  $('create-summary').textContent = 'Register a webhook';
  $('create-submit').textContent = 'Register';
  $('create-secret-field').hidden = false;
  $('create-cancel').hidden = true;
  $('create-match').hidden = true;
}

// "Would it have received this event?": the webhook's patterns and the filter being written,
// against a stored event, each condition said to hold or not.
$('create-match-check').addEventListener('click', reported($('create-match-result'), async () => {
  const filter = filterInput();
  const answer = await api('POST', `/v1/webhooks/${editing}/match`, { event_id: $('create-match-event').value.trim(), filter: filter ?? {} });
  const verdict = answer.receives
    ? `Yes: ${answer.event_id} (${answer.event_type}) would be delivered.`
    : `No: ${answer.event_id} (${answer.event_type}) would not be delivered${answer.subscribed ? '' : ': the webhook does not subscribe to its type'}.`;
  say($('create-match-result'), answer.receives, verdict,
    el('ul', {}, ...answer.conditions.map((c) => el('li', { 'data-holds': String(c.holds) },
      `${c.holds ? '✓' : '✗'} ${c.field}: has ${c.found === null ? 'nothing' : JSON.stringify(c.found)}, the filter accepts ${c.accepted.map((v) => JSON.stringify(v)).join(' or ')}`))));
}));

$('create-cancel').addEventListener('click', stopEditing);

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const events = [...$('create-events').querySelectorAll('input:checked')].map((i) => i.value);
  const body = { url: $('create-url').value.trim(), events };
  const description = $('create-description').value;
  try {
    const filter = filterInput();
    if (editing) {
      const id = editing;
      await api('PATCH', `/v1/webhooks/${id}`, { ...body, description: description || null, filter: filter ?? null });
      stopEditing();
      await refreshWebhooks();
      say($('create-result'), true, `Saved ${id}.`);
      return;
    }
    if ($('create-secret').value) body.secret = $('create-secret').value;
    if (description) body.description = description;
    if (filter !== undefined) body.filter = filter;
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
  pending = setTimeout(reported($('webhooks-result'), async () => {
    await refreshWebhooks();
    await refreshDeliveries();
  }), 100);
});
