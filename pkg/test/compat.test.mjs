// What people arriving from `svix` or `standardwebhooks` already have: unpadded whsec_
// secrets, svix-* headers, headers with an entry we cannot read, sign() with a Date, several
// secrets while rotating, hints when a secret is probably wrong, and verifyRequest for Fetch.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Webhook as Reference } from 'standardwebhooks';
import { diagnoseSecret, isTestEvent, signWebhook, verifyRequest, verifyWebhook, Webhook, WebhookVerificationError } from 'cdhooks';

const now = () => Math.floor(Date.now() / 1000);
const payload = JSON.stringify({ id: 'evt_1', type: 'server.started', created_at: '2025-01-15T10:30:00Z', data: { n: 1 } });
const event = JSON.parse(payload);
const headersFor = (wh, id = 'msg_1', ts = now()) => ({ 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': wh.sign(id, ts, payload) });

test('whsec_ secrets with their base64 padding left off work, as in standardwebhooks', () => {
  for (const bytes of [23, 24, 32, 33]) {
    const padded = randomBytes(bytes).toString('base64');
    const unpadded = padded.replace(/=+$/, '');
    const reference = new Reference(`whsec_${unpadded}`);
    const ts = now();
    const theirs = reference.sign('msg_1', new Date(ts * 1000), payload);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': theirs };
    assert.deepEqual(new Webhook(`whsec_${unpadded}`).verify(payload, headers), event, `${bytes} bytes`);
    assert.deepEqual(new Webhook(`whsec_${padded}`).verify(payload, headers), event, `${bytes} bytes`);
  }
  // The example: 31 characters, unused bits set, as svix prints it.
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS';
  const ts = now();
  const signature = new Reference(secret).sign('msg_1', new Date(ts * 1000), payload);
  assert.equal(new Webhook(secret).sign('msg_1', ts, payload), signature);
});

test('svix-id, svix-timestamp and svix-signature are read as the webhook-* headers; webhook-* wins', () => {
  const wh = new Webhook('whsec_' + randomBytes(24).toString('base64'));
  const h = headersFor(wh);
  const svix = { 'Svix-Id': h['webhook-id'], 'Svix-Timestamp': h['webhook-timestamp'], 'Svix-Signature': h['webhook-signature'] };
  assert.deepEqual(wh.verify(payload, svix), event);
  assert.deepEqual(wh.verify(payload, new Headers(svix)), event);
  // Both present: the webhook-* values are the ones checked.
  assert.deepEqual(wh.verify(payload, { ...svix, 'svix-signature': 'v1,bm9wZQ==', ...h }), event);
  assert.throws(() => wh.verify(payload, { ...svix, 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') }), { code: 'signature_mismatch' });
});

test('entries that cannot be read are skipped beside a valid one; none readable is malformed_signature', () => {
  const wh = new Webhook('your_webhook_secret');
  const h = headersFor(wh);
  const valid = h['webhook-signature'];
  for (const signature of [`garbage ${valid}`, `${valid} garbage`, `, ${valid} v1`]) {
    assert.deepEqual(wh.verify(payload, { ...h, 'webhook-signature': signature }), event, signature);
  }
  assert.throws(() => wh.verify(payload, { ...h, 'webhook-signature': 'garbage' }), { code: 'malformed_signature' });
  assert.throws(() => wh.verify(payload, { ...h, 'webhook-signature': 'garbage v2,abc' }), { code: 'no_supported_signature' });
});

test('sign() takes a Date as well as Unix seconds', () => {
  const wh = new Webhook('your_webhook_secret');
  const at = new Date('2025-01-15T10:30:00.999Z');
  assert.equal(wh.sign('msg_1', at, payload), wh.sign('msg_1', Math.floor(at.getTime() / 1000), payload));
  assert.equal(wh.sign('msg_1', at, payload), new Reference('your_webhook_secret', { format: 'raw' }).sign('msg_1', at, payload));
  assert.throws(() => wh.sign('msg_1', new Date('nonsense'), payload), TypeError);
  assert.throws(() => wh.sign('msg_1', -1, payload), TypeError);
});

test('several secrets: the current and the previous one while a receiver rotates', () => {
  const [oldSecret, newSecret, other] = ['old_secret', 'new_secret', 'other_secret'];
  assert.equal(verifyWebhook(payload, signWebhook(payload, oldSecret), [newSecret, oldSecret]), true);
  assert.equal(verifyWebhook(payload, signWebhook(payload, newSecret), [newSecret, oldSecret]), true);
  assert.equal(verifyWebhook(payload, signWebhook(payload, other), [newSecret, oldSecret]), false);
  assert.throws(() => verifyWebhook(payload, 'x', []), TypeError);
  const both = new Webhook([newSecret, oldSecret]);
  assert.deepEqual(both.verify(payload, headersFor(new Webhook(oldSecret))), event);
  assert.deepEqual(both.verify(payload, headersFor(new Webhook(newSecret))), event);
  assert.throws(() => both.verify(payload, headersFor(new Webhook(other))), { code: 'signature_mismatch' });
  // Errors that do not depend on the key are reported as such.
  assert.throws(() => both.verify(payload, headersFor(new Webhook(oldSecret), 'msg_1', now() - 1000)), { code: 'timestamp_too_old' });
  // Signing uses the first (current) secret.
  assert.equal(both.sign('m', 1, payload), new Webhook(newSecret).sign('m', 1, payload));
});

test('hints name a dropped whsec_ prefix and whitespace around a secret', () => {
  const key = randomBytes(32).toString('base64');
  const signed = headersFor(new Webhook(`whsec_${key}`));
  const err = (() => {
    try {
      new Webhook(key).verify(payload, signed);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(err instanceof WebhookVerificationError);
  assert.equal(err.code, 'signature_mismatch');
  assert.match(err.message, /without its 'whsec_' prefix/);
  const spaced = (() => {
    try {
      new Webhook('your_webhook_secret\n').verify(payload, headersFor(new Webhook('your_webhook_secret')));
    } catch (e) {
      return e;
    }
  })();
  assert.match(spaced.message, /whitespace/);
  assert.deepEqual(diagnoseSecret('your_webhook_secret'), []);
  assert.deepEqual(diagnoseSecret(` ${key}`).map((h) => h.code), ['surrounding_whitespace', 'missing_prefix']);
  assert.deepEqual(diagnoseSecret('whsec_!!not base64!!').map((h) => h.code), ['invalid_base64']);
  // A correct secret gets no hint in its message.
  assert.throws(() => new Webhook('your_webhook_secret').verify(payload, { ...headersFor(new Webhook('x')) }), (e) => !/whsec_|whitespace/.test(e.message));
});

test('verifyRequest checks a Fetch Request with whichever scheme it carries', async () => {
  const secret = 'your_webhook_secret';
  const ts = now();
  const standard = new Request('http://127.0.0.1/hook', { method: 'POST', body: payload, headers: headersFor(new Webhook(secret), 'msg_1', ts) });
  assert.deepEqual(await verifyRequest(standard, secret), event);
  const legacy = () => new Request('http://127.0.0.1/hook', { method: 'POST', body: payload, headers: { 'X-Webhook-Signature': signWebhook(payload, secret) } });
  assert.deepEqual(await verifyRequest(legacy(), secret), event);
  await assert.rejects(verifyRequest(legacy(), secret, { legacy: false }), { code: 'missing_header' });
  const tampered = new Request('http://127.0.0.1/hook', { method: 'POST', body: payload.replace('1}', '2}'), headers: headersFor(new Webhook(secret), 'msg_1', ts) });
  await assert.rejects(verifyRequest(tampered, secret), (e) => e instanceof WebhookVerificationError && e.code === 'signature_mismatch');
  await assert.rejects(verifyRequest(new Request('http://127.0.0.1/hook', { method: 'POST', body: payload }), secret), { code: 'missing_header' });
  await assert.rejects(verifyRequest({ body: payload }, secret), TypeError);
});

test('every error code the core reports has a message, and the typings list exactly those codes', async () => {
  const { readFileSync } = await import('node:fs');
  const dts = readFileSync(new URL('../events.d.ts', import.meta.url), 'utf8');
  const typed = [...dts.slice(dts.indexOf('WebhookErrorCode')).matchAll(/\| '([a-z_]+)'/g)].map((m) => m[1]);
  for (const code of typed) {
    const message = new WebhookVerificationError(code).message;
    assert.notEqual(message, code, `${code} has no message`);
  }
  const imported = await import('../gen/node/cdhooks_wasm.js');
  const glue = imported.default ?? imported;
  const scratch = new glue.Scratch();
  const len = glue.error_codes(scratch);
  const core = new TextDecoder().decode(new Uint8Array(glue.memory.buffer, scratch.reserve(len), len)).split(' ');
  assert.deepEqual(typed, [...core, 'invalid_payload']);
});

test('isTestEvent tells a test event from a real one by its signed id', () => {
  assert.equal(isTestEvent({ id: 'evt_test_0a0e4d3855dd65ad063e756f2d5d2bad', type: 'server.started' }), true);
  assert.equal(isTestEvent('evt_test_x'), true);
  assert.equal(isTestEvent({ id: 'evt_0a0e4d3855dd65ad063e756f2d5d2bad' }), false);
  assert.equal(isTestEvent({ id: 'inv_2026_12' }), false);
  assert.equal(isTestEvent({}), false);
});
