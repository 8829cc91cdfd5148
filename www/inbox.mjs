// The Inbox view: a receiver inside the server. One action registers a webhook to it (all
// events, a generated secret the page keeps for verifying), and the next step, a test
// event, is one more click; every captured request is verified in the page.
import { api, onLive, session } from './api.mjs';
import { $, clock, el, renderResults, say } from './dom.mjs';
import { registerWebhook, sendTestEvent } from './dashboard.mjs';
import { verifyDelivery } from './verify.mjs';

const INBOX_STORAGE = 'cdhooks.inbox';
const SECRET_STORAGE = 'cdhooks.inboxSecret';
let token = sessionStorage.getItem(INBOX_STORAGE);

function inboxUrl() {
  return `${location.origin}/inbox/${token}`;
}

/** Adopts an inbox (from the URL's `#inbox=`), optionally with the secret to verify with. */
export function useInbox(newToken, secret) {
  token = newToken;
  sessionStorage.setItem(INBOX_STORAGE, token);
  if (secret !== undefined) setSecret(secret);
  render();
}

function setSecret(secret) {
  $('inbox-secret').value = secret;
  sessionStorage.setItem(SECRET_STORAGE, secret);
}

/** Shows the inbox, its state and its captures. */
export function render() {
  $('inbox-connect').hidden = Boolean(session.key);
  if (!token) return;
  $('inbox-url').replaceChildren('Inbox URL: ', el('code', { id: 'inbox-url-value' }, inboxUrl()));
  $('inbox-use').hidden = false;
  refresh();
}

$('inbox-create').addEventListener('click', async () => {
  try {
    const created = await api('POST', '/v1/inboxes');
    useInbox(created.token);
    $('inbox-next').replaceChildren();
  } catch (e) {
    say($('inbox-url'), false, e.code === 'unauthorized' ? 'Connect with your API key on the Dashboard first.' : e.message);
  }
});

$('inbox-use').addEventListener('click', async () => {
  let webhook;
  try {
    webhook = await registerWebhook({ url: inboxUrl(), events: ['*'], description: 'inbox of the browser tool' });
  } catch (e) {
    say($('inbox-next'), false, `${e.code ?? 'error'}: ${e.message}`);
    return;
  }
  setSecret(webhook.secret);
  const type = el('select', { id: 'inbox-test-type' }, ...session.catalog.map((t) => el('option', { value: t.name }, t.name)));
  const typeLabel = el('label', { for: 'inbox-test-type' }, 'Event type');
  const send = el('button', { type: 'button', id: 'inbox-test' }, 'Send a test event');
  const outcome = el('div', { id: 'inbox-test-result', role: 'status' });
  send.addEventListener('click', async () => {
    try {
      const answer = await sendTestEvent(webhook.id, type.value);
      say(outcome, true, `Sent ${answer.event.id}; it shows up below in a moment.`);
    } catch (e) {
      say(outcome, false, `${e.code ?? 'error'}: ${e.message}`);
    }
  });
  $('inbox-next').replaceChildren(
    el('div', { class: 'result ok' },
      `Registered ${webhook.id} for all events, with a generated secret (filled in below to verify with). `,
      'Next: send it an event — from here, or from the Dashboard.'),
    el('div', { class: 'row' }, typeLabel, type, send),
    outcome,
  );
});

$('inbox-secret').addEventListener('input', () => {
  sessionStorage.setItem(SECRET_STORAGE, $('inbox-secret').value);
  refresh();
});

function decodeBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function refresh() {
  if (!token || !session.key) return;
  let list;
  try {
    list = await api('GET', `/v1/inboxes/${token}/requests`);
  } catch {
    return;
  }
  const secret = $('inbox-secret').value;
  $('inbox-requests').replaceChildren(
    ...list.data.map((r) => {
      const headers = Object.fromEntries(r.headers.map(([k, v]) => [k.toLowerCase(), v]));
      const verdict = el('div', {});
      if (secret) renderResults(verdict, verifyDelivery({ body: decodeBase64(r.body_base64), headers, secret, ignoreAge: false }));
      else verdict.append(el('p', { class: 'hint' }, 'Enter the secret above to verify.'));
      return el('li', { 'data-event': headers['webhook-id'] ?? '' },
        el('div', {}, el('strong', {}, r.method), ` ${clock(r.received_at)} · ${headers['x-webhook-event'] ?? 'request'}`),
        verdict,
        el('details', {}, el('summary', {}, 'Headers and body'), el('pre', {}, r.headers.map(([k, v]) => `${k}: ${v}`).join('\n'), '\n\n', r.body)),
      );
    }),
  );
}

onLive(() => refresh());
const savedSecret = sessionStorage.getItem(SECRET_STORAGE);
if (savedSecret) $('inbox-secret').value = savedSecret;
