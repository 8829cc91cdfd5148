// Interop with the reference `standardwebhooks` library, in both directions.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Webhook as Reference } from 'standardwebhooks';
import { Webhook } from 'cdhooks';

const now = () => Math.floor(Date.now() / 1000);
const payload = JSON.stringify({ id: 'evt_1', type: 'server.started', created_at: '2025-01-15T10:30:00Z', data: { n: 1 } });

for (const [name, ours, theirs] of [
  ['whsec_ secret', 'whsec_' + randomBytes(32).toString('base64'), null],
  ['raw secret', 'your_webhook_secret', { format: 'raw' }],
]) {
  test(`${name}: their signatures verify with ours, ours with theirs`, () => {
    const ref = new Reference(ours, theirs ?? undefined);
    const wh = new Webhook(ours);
    const ts = now();
    const theirSignature = ref.sign('msg_1', new Date(ts * 1000), payload);
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(ts), 'webhook-signature': theirSignature };
    assert.deepEqual(wh.verify(payload, headers), JSON.parse(payload));
    assert.deepEqual(wh.verify(Buffer.from(payload), headers), JSON.parse(payload));
    const ourSignature = wh.sign('msg_1', ts, payload);
    assert.equal(ourSignature, theirSignature);
    assert.deepEqual(ref.verify(payload, { ...headers, 'webhook-signature': ourSignature }), JSON.parse(payload));
  });
}

test('several signatures (key rotation) in one header, both directions', () => {
  const oldSecret = 'whsec_' + randomBytes(32).toString('base64');
  const newSecret = 'whsec_' + randomBytes(32).toString('base64');
  const ts = now();
  const header = [new Webhook(oldSecret).sign('msg_2', ts, payload), new Webhook(newSecret).sign('msg_2', ts, payload)].join(' ');
  const headers = { 'webhook-id': 'msg_2', 'webhook-timestamp': String(ts), 'webhook-signature': header };
  for (const secret of [oldSecret, newSecret]) {
    assert.ok(new Webhook(secret).verify(payload, headers));
    assert.ok(new Reference(secret).verify(payload, headers));
  }
  assert.throws(() => new Webhook('whsec_' + randomBytes(32).toString('base64')).verify(payload, headers), { code: 'signature_mismatch' });
});
