// Every error code, the TypeErrors for programming mistakes, and the header forms.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyWebhook, signWebhook, Webhook, WebhookVerificationError } from 'cdhooks';

const secret = 'your_webhook_secret';
const body = '{"id":"evt_1","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{}}';
const wh = new Webhook(secret);
const now = () => Math.floor(Date.now() / 1000);
const good = () => {
  const ts = now();
  return { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': wh.sign('evt_1', ts, body) };
};
const code = (c) => (e) => e instanceof WebhookVerificationError && e.code === c && e.message.length > 20;

test('every verification error has its code and a helpful message', () => {
  const cases = [
    ['missing_header', { ...good(), 'webhook-id': undefined }],
    ['missing_header', { 'webhook-timestamp': String(now()) }],
    ['missing_header', {}],
    ['invalid_timestamp', { ...good(), 'webhook-timestamp': 'yesterday' }],
    ['invalid_timestamp', { ...good(), 'webhook-timestamp': '-5' }],
    ['timestamp_too_old', { ...good(), 'webhook-timestamp': String(now() - 301) }],
    ['timestamp_too_new', { ...good(), 'webhook-timestamp': String(now() + 301) }],
    ['malformed_signature', { ...good(), 'webhook-signature': 'nocomma' }],
    ['no_supported_signature', { ...good(), 'webhook-signature': 'v2,abc' }],
    ['signature_mismatch', { ...good(), 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') }],
  ];
  for (const [c, headers] of cases) assert.throws(() => wh.verify(body, headers), code(c), c);
  assert.throws(() => new Webhook('whsec_!!!'), code('invalid_secret'));
  const notJson = 'not json';
  const ts = now();
  assert.throws(
    () => wh.verify(notJson, { 'webhook-id': 'e', 'webhook-timestamp': String(ts), 'webhook-signature': wh.sign('e', ts, notJson) }),
    code('invalid_payload'),
  );
  assert.ok(wh.verify(body, good()));
  const err = new WebhookVerificationError('signature_mismatch');
  assert.equal(err.name, 'WebhookVerificationError');
  assert.ok(err instanceof Error);
});

test('the tolerance is configurable', () => {
  const strict = new Webhook(secret, { toleranceSeconds: 5 });
  const ts = now() - 10;
  const headers = { 'webhook-id': 'evt_1', 'webhook-timestamp': String(ts), 'webhook-signature': wh.sign('evt_1', ts, body) };
  assert.throws(() => strict.verify(body, headers), code('timestamp_too_old'));
  assert.ok(wh.verify(body, headers));
  assert.throws(() => new Webhook(secret, { toleranceSeconds: -1 }), TypeError);
});

test('headers: any letter case, Node arrays, and Fetch Headers', () => {
  const h = good();
  const upper = Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toUpperCase(), v]));
  assert.ok(wh.verify(body, upper));
  const mixed = { 'Webhook-Id': h['webhook-id'], 'Webhook-Timestamp': h['webhook-timestamp'], 'Webhook-Signature': [h['webhook-signature']] };
  assert.ok(wh.verify(body, mixed));
  assert.ok(wh.verify(body, new Headers(h)));
  assert.ok(wh.verify(new TextEncoder().encode(body), new Headers(h)));
  assert.throws(() => wh.verify(body, null), TypeError);
});

test('the legacy header is accepted only with legacy: true, never as a fallback', () => {
  const legacyOnly = { 'x-webhook-signature': signWebhook(body, secret) };
  assert.throws(() => wh.verify(body, legacyOnly), (e) => e.code === 'missing_header' && /legacy: true/.test(e.message));
  const legacy = new Webhook(secret, { legacy: true });
  assert.deepEqual(legacy.verify(body, legacyOnly), JSON.parse(body));
  assert.throws(() => legacy.verify(body, { 'X-Webhook-Signature': 'f'.repeat(64) }), code('signature_mismatch'));
  // v1 headers present and failing: the legacy signature does not rescue the delivery.
  const both = { ...good(), 'webhook-signature': 'v1,AAAA', ...legacyOnly };
  assert.throws(() => legacy.verify(body, both), code('signature_mismatch'));
});

test('verifyWebhook never throws for what a sender sends, only for programming mistakes', () => {
  for (const signature of [undefined, null, 42, {}, [], '', 'x'.repeat(10_000), '\u0000'.repeat(64), '😀'.repeat(32)]) {
    assert.equal(verifyWebhook(body, signature, secret), false);
  }
  for (const payload of [undefined, null, 42, { id: 'evt_1' }, [1]]) {
    assert.throws(() => verifyWebhook(payload, 'a'.repeat(64), secret), (e) => e instanceof TypeError && /raw request body/.test(e.message));
  }
  for (const bad of [undefined, '', new Uint8Array(0), 42]) {
    assert.throws(() => verifyWebhook(body, 'a'.repeat(64), bad), TypeError);
    assert.throws(() => signWebhook(body, bad), TypeError);
  }
  assert.throws(() => new Webhook(''), TypeError);
  assert.throws(() => wh.sign('', 1, body), TypeError);
  assert.throws(() => wh.sign('id', 1.5, body), TypeError);
});
