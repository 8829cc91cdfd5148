// Secret rotation with overlap, checked by receivers as they are: the reference
// `standardwebhooks` library holding the old or the new secret, and the docs' snippet on
// X-Webhook-Signature — during the grace period and after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook as Reference } from 'standardwebhooks';
import { verifyWebhook } from 'cdhooks';
import { docsVerify } from '../../pkg/test/helpers.mjs';
import { accountApi, nextDelivery, receiver, startServer } from '../support.mjs';

const verifies = (secret, { headers, text }) => {
  try {
    new Reference(secret).verify(text, headers);
    return true;
  } catch {
    return false;
  }
};

test('during the grace period both secrets verify; after it only the new one', async () => {
  const { base, key, stop } = await startServer();
  const rx = await receiver();
  const api = accountApi(base, key);
  const next = () => nextDelivery(api, rx);
  try {
    const oldSecret = 'whsec_' + Buffer.alloc(32, 1).toString('base64');
    const webhook = await api('POST', '/v1/webhooks', { url: rx.url, events: ['*'], secret: oldSecret });
    assert.ok(verifies(oldSecret, await next()));

    const rotated = await api('POST', `/v1/webhooks/${webhook.id}/rotate-secret`, { grace_seconds: 3 });
    const newSecret = rotated.secret;
    assert.ok(rotated.previous_secret_expires_at, JSON.stringify(rotated));
    const during = await next();
    assert.equal(during.headers['webhook-signature'].split(' ').length, 2);
    assert.ok(verifies(oldSecret, during), 'a receiver still on the old secret');
    assert.ok(verifies(newSecret, during), 'a receiver already on the new secret');
    // The docs' header stays on the old secret; the package accepts either while switching.
    assert.equal(docsVerify(during.body, during.headers['x-webhook-signature'], oldSecret), true);
    assert.equal(verifyWebhook(during.body, during.headers['x-webhook-signature'], [newSecret, oldSecret]), true);

    await new Promise((r) => setTimeout(r, 3200));
    const after = await next();
    assert.equal(after.headers['webhook-signature'].split(' ').length, 1);
    assert.ok(!verifies(oldSecret, after), 'the old secret still verifies after the grace period');
    assert.ok(verifies(newSecret, after));
    assert.equal(docsVerify(after.body, after.headers['x-webhook-signature'], newSecret), true);
    assert.equal((await api('GET', `/v1/webhooks/${webhook.id}`)).previous_secret_expires_at, undefined);

    // grace_seconds 0: the switch is immediate.
    const immediate = await api('POST', `/v1/webhooks/${webhook.id}/rotate-secret`, { grace_seconds: 0 });
    const now = await next();
    assert.ok(!verifies(newSecret, now));
    assert.ok(verifies(immediate.secret, now));
    const tooLong = await fetch(`${base}/v1/webhooks/${webhook.id}/rotate-secret`, {
      method: 'POST', headers: { authorization: `Bearer ${key}` }, body: JSON.stringify({ grace_seconds: 99999999 }),
    });
    assert.equal(tooLong.status, 400);
    assert.equal((await tooLong.json()).error.field, 'grace_seconds');
  } finally {
    rx.server.close();
    await stop();
  }
});
