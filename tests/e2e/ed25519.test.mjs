// Ed25519 (v1a) from the real server to receivers as they are: the package holding only the
// public key (with Node's native equation and with the wasm every other runtime uses), Svix's
// reference `standardwebhooks` library holding the secret on the same delivery, a forger who
// holds the public key, and a key rotation's overlap.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Webhook as Reference } from 'standardwebhooks';
import { Webhook, WebhookVerificationError } from 'cdhooks';
import { accountApi, nextDelivery, receiver, startServer } from '../support.mjs';

const require = createRequire(import.meta.url);
const { createApi } = require('../../pkg/gen/api.cjs');
const small = require('../../pkg/gen/node/cdhooks_wasm.js');
const full = require('../../pkg/gen/node/cdhooks_full.js');
/** The package as Deno, Bun, browsers and workerd run it: Ed25519 in wasm. */
const wasmOnly = createApi({ glue: small, memory: small.memory }, () => ({ glue: full, memory: full.memory }));

/** The code `verify` throws, or 'ok'. */
function answer(hook, { body, headers }) {
  try {
    hook.verify(body, headers);
    return 'ok';
  } catch (e) {
    if (e instanceof WebhookVerificationError || e instanceof wasmOnly.WebhookVerificationError) return e.code;
    throw e;
  }
}

test('a v1a delivery verifies with the public key alone, and the secret still verifies v1', async () => {
  const { base, key, stop } = await startServer();
  const rx = await receiver();
  const api = accountApi(base, key);
  const next = () => nextDelivery(api, rx);
  try {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    const webhook = await api('POST', '/v1/webhooks', { url: rx.url, events: ['*'], secret, signing: 'ed25519' });
    assert.match(webhook.public_key, /^whpk_/);
    const delivery = await next();
    const { public_key: publicKey } = webhook;

    assert.equal(answer(new Webhook(publicKey), delivery), 'ok', 'the package in Node (OpenSSL equation)');
    assert.equal(answer(new wasmOnly.Webhook(publicKey), delivery), 'ok', 'the package as other runtimes run it');
    assert.equal(new Webhook(publicKey).verify(delivery.body, delivery.headers).type, 'server.started');
    // Svix's reference library, holding the secret, verifies the same delivery's v1 entry.
    assert.equal(new Reference(secret).verify(delivery.text, delivery.headers).type, 'server.started');
    // A receiver migrating from the secret to the key accepts either.
    assert.equal(answer(new Webhook([secret, publicKey]), delivery), 'ok');

    // Whoever holds the public key cannot sign, and a body changed by someone holding the
    // secret (re-signed v1) fails the public key's check.
    assert.throws(() => new Webhook(publicKey).sign(delivery.headers['webhook-id'], new Date(), delivery.body), TypeError);
    const forged = delivery.text.replace('srv_1', 'srv_2');
    const ts = Number(delivery.headers['webhook-timestamp']);
    const v1a = delivery.headers['webhook-signature'].split(' ').find((e) => e.startsWith('v1a,'));
    const forgedHeaders = {
      ...delivery.headers,
      'webhook-signature': `${new Webhook(secret).sign(delivery.headers['webhook-id'], ts, forged)} ${v1a}`,
    };
    assert.equal(new Reference(secret).verify(forged, forgedHeaders).type, 'server.started', 'the secret holder can forge v1');
    assert.equal(answer(new Webhook(publicKey), { body: forged, headers: forgedHeaders }), 'signature_mismatch');
    assert.equal(answer(new wasmOnly.Webhook(publicKey), { body: forged, headers: forgedHeaders }), 'signature_mismatch');

    // A key rotation with overlap: the old and the new public key both verify meanwhile.
    const rotated = await api('POST', `/v1/webhooks/${webhook.id}/rotate-signing-key`, { grace_seconds: 3600 });
    assert.notEqual(rotated.public_key, publicKey);
    assert.equal(rotated.previous_public_keys[0].public_key, publicKey);
    const during = await next();
    assert.equal(answer(new Webhook(publicKey), during), 'ok', 'a receiver still on the old key');
    assert.equal(answer(new Webhook(rotated.public_key), during), 'ok', 'a receiver already on the new key');
    const after = await api('POST', `/v1/webhooks/${webhook.id}/rotate-signing-key`, { grace_seconds: 0 });
    const last = await next();
    assert.equal(answer(new Webhook(after.public_key), last), 'ok');
    assert.equal(answer(new Webhook(rotated.public_key), last), 'signature_mismatch', 'retired without grace');
    assert.equal(answer(new Webhook(publicKey), last), 'ok', 'the first key is still in its own grace period');
  } finally {
    rx.server.close();
    await stop();
  }
});
