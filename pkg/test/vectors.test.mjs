import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyWebhook, signWebhook, Webhook, WebhookVerificationError } from 'cdhooks';
import { atTime, docsVerify, vectors } from './helpers.mjs';

test('legacy vectors give the same answer as the core and the docs snippet', () => {
  assert.ok(vectors.legacy.length >= 10);
  for (const v of vectors.legacy) {
    assert.equal(verifyWebhook(v.payload, v.signature, v.secret), v.valid, v.name);
    assert.equal(verifyWebhook(Buffer.from(v.payload), v.signature, v.secret), v.valid, `${v.name} (bytes)`);
    assert.equal(verifyWebhook(new TextEncoder().encode(v.payload).buffer, v.signature, Buffer.from(v.secret)), v.valid, `${v.name} (ArrayBuffer)`);
    assert.equal(docsVerify(v.payload, v.signature, v.secret), v.valid, `${v.name} (docs snippet)`);
    if (v.valid) assert.equal(signWebhook(v.payload, v.secret), v.signature, v.name);
  }
});

test('standard vectors give the expected answer or error code', () => {
  assert.ok(vectors.standard.length >= 10);
  for (const v of vectors.standard) {
    let wh;
    try {
      wh = new Webhook(v.secret, { toleranceSeconds: v.tolerance });
    } catch (e) {
      assert.ok(e instanceof WebhookVerificationError);
      assert.equal(e.code, v.error, v.name);
      continue;
    }
    const headers = { 'webhook-id': v.id, 'webhook-timestamp': v.timestamp, 'webhook-signature': v.signature };
    const run = () => atTime(v.now, () => wh.verify(v.payload, headers));
    if (v.error === null) {
      assert.deepEqual(run(), JSON.parse(v.payload), v.name);
      if (!v.signature.includes(' ')) assert.equal(wh.sign(v.id, Number(v.timestamp), v.payload), v.signature, v.name);
    } else {
      assert.throws(run, (e) => e instanceof WebhookVerificationError && e.code === v.error, v.name);
    }
  }
});

test("the docs' example event verifies with the docs' secret in both schemes", () => {
  const event = {
    id: 'evt_abc123',
    type: 'server.started',
    created_at: '2025-01-15T10:30:00Z',
    data: { server_id: 'srv_abc123', name: 'production-web-01', status: 'running', ip: '192.168.1.100' },
  };
  const body = JSON.stringify(event);
  const signature = signWebhook(body, 'your_webhook_secret');
  assert.equal(verifyWebhook(body, signature, 'your_webhook_secret'), true);
  assert.equal(docsVerify(body, signature, 'your_webhook_secret'), true);
  const wh = new Webhook('your_webhook_secret');
  const now = Math.floor(Date.now() / 1000);
  const got = wh.verify(body, { 'webhook-id': event.id, 'webhook-timestamp': String(now), 'webhook-signature': wh.sign(event.id, now, body) });
  assert.deepEqual(got, event);
});
