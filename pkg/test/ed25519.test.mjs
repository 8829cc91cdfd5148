// Standard Webhooks `v1a` (Ed25519) in the package: `whpk_` public keys verify, cannot sign,
// mix with secrets; and in Node, where OpenSSL checks the curve equation, the answers are
// exactly the wasm's own — over the core's vectors (including the signatures a plain RFC 8032
// verifier accepts and a strict one refuses) and thousands of generated ones.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { Webhook, WebhookVerificationError, verifyRequest } from 'cdhooks';
import { atTime } from './helpers.mjs';

const require = createRequire(import.meta.url);
const { createApi } = require('../gen/api.cjs');
const small = require('../gen/node/cdhooks_wasm.js');
const full = require('../gen/node/cdhooks_full.js');
/** The package as every other runtime has it: Ed25519 in wasm only. */
const wasmOnly = createApi({ glue: small, memory: small.memory }, () => ({ glue: full, memory: full.memory }));

const { v1a: vectors } = JSON.parse(readFileSync(new URL('../../tests/vectors/v1a.json', import.meta.url), 'utf8'));

/**
 * `Webhook.verify`'s answer about the signature: 'ok', or the error code (construction errors
 * included). `invalid_payload` comes after a verified signature (a vector's body may be empty).
 */
function answer(api, key, payload, headers) {
  try {
    new api.Webhook(key).verify(payload, headers);
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof api.WebhookVerificationError, `${e}`);
    return e.code === 'invalid_payload' ? 'ok' : e.code;
  }
}

function headersOf(v) {
  return { 'webhook-id': v.id, 'webhook-timestamp': v.timestamp, 'webhook-signature': v.signature };
}

/** A fresh key pair from Node's crypto, with its `whpk_` text. */
function keyPair() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  return { publicKey, privateKey, whpk: `whpk_${raw.toString('base64')}` };
}

function signV1a(privateKey, id, timestamp, payload) {
  return `v1a,${crypto.sign(null, Buffer.from(`${id}.${timestamp}.${payload}`), privateKey).toString('base64')}`;
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** `S + L`: the same signature to a verifier that does not check that S is canonical. */
function addOrder(signature) {
  const bytes = Buffer.from(signature.slice(4), 'base64');
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(bytes[32 + i]);
  s += L;
  for (let i = 0; i < 32; i++) bytes[32 + i] = Number((s >> BigInt(8 * i)) & 0xffn);
  return `v1a,${bytes.toString('base64')}`;
}

test('the core vectors give the expected answer with native and with wasm Ed25519', () => {
  assert.ok(vectors.length >= 30);
  for (const v of vectors) {
    const expected = v.error ?? 'ok';
    atTime(v.now, () => {
      assert.equal(answer({ Webhook, WebhookVerificationError }, v.public_key, v.payload, headersOf(v)), expected, `native: ${v.name}`);
      assert.equal(answer(wasmOnly, v.public_key, v.payload, headersOf(v)), expected, `wasm: ${v.name}`);
    });
  }
});

test('a plain RFC 8032 verifier accepts what the strict checks refuse, so they matter', () => {
  const lax = vectors.filter((v) => v.equation_holds && v.error !== null);
  assert.ok(lax.length >= 1);
  for (const v of lax) {
    const key = crypto.createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(v.public_key.slice(5), 'base64').toString('base64url') },
      format: 'jwk',
    });
    const signature = Buffer.from(v.signature.split(',')[1], 'base64');
    assert.equal(crypto.verify(null, Buffer.from(`${v.id}.${v.timestamp}.${v.payload}`), key, signature), true, v.name);
  }
});

test('native and wasm agree on thousands of generated and altered deliveries', () => {
  const now = Math.floor(Date.now() / 1000);
  const counts = { ok: 0, refused: 0 };
  for (let i = 0; i < 300; i++) {
    const { privateKey, whpk } = keyPair();
    const payload = JSON.stringify({ n: i, pad: crypto.randomBytes(crypto.randomInt(0, 600)).toString('base64') });
    const id = `msg_${i}`;
    const good = signV1a(privateKey, id, now, payload);
    const raw = Buffer.from(good.slice(4), 'base64');
    const flip = Buffer.from(raw);
    flip[crypto.randomInt(0, 64)] ^= 1 << crypto.randomInt(0, 8);
    const topOfS = Buffer.from(raw);
    topOfS[63] |= 0xe0;
    const alterations = [
      good,
      `v1a,${flip.toString('base64')}`,
      `v1a,${topOfS.toString('base64')}`,
      addOrder(good),
      `v1,${raw.subarray(0, 32).toString('base64')} ${good}`,
      `${addOrder(good)} ${good}`,
      `v1a,${raw.subarray(0, 63).toString('base64')}`,
      good.replace('v1a,', 'v1b,'),
      `v1a,${Buffer.concat([raw.subarray(0, 32), Buffer.alloc(32)]).toString('base64')}`,
    ];
    for (const signature of alterations) {
      for (const body of [payload, `${payload} `]) {
        const headers = { 'webhook-id': id, 'webhook-timestamp': String(now), 'webhook-signature': signature };
        const native = answer({ Webhook, WebhookVerificationError }, whpk, body, headers);
        assert.equal(native, answer(wasmOnly, whpk, body, headers), `${signature} over ${body.length} bytes`);
        counts[native === 'ok' ? 'ok' : 'refused']++;
      }
    }
  }
  // Each key's own signature, twice (alone and after a malleated copy), verifies; nothing else.
  assert.equal(counts.ok, 300 * 3);
  assert.equal(counts.refused, 300 * 18 - 300 * 3);
});

test('a public key verifies v1a, cannot sign, and mixes with secrets during a migration', async () => {
  const { privateKey, whpk } = keyPair();
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const now = Math.floor(Date.now() / 1000);
  const payload = '{"id":"evt_1","type":"server.created","created_at":"2026-01-01T00:00:00Z","data":{}}';
  const v1a = signV1a(privateKey, 'msg_1', now, payload);
  const v1 = new Webhook(secret).sign('msg_1', now, payload);
  const headers = (signature) => ({ 'webhook-id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': signature });

  assert.equal(new Webhook(whpk).verify(payload, headers(v1a)).id, 'evt_1');
  assert.equal(new Webhook(whpk).verify(payload, headers(`${v1} ${v1a}`)).id, 'evt_1');
  assert.throws(() => new Webhook(whpk).sign('msg_1', now, payload), /cannot make them/);
  // Only a scheme the key cannot check: the code says so, for both kinds of key.
  assert.throws(() => new Webhook(whpk).verify(payload, headers(v1)), { code: 'no_supported_signature' });
  assert.throws(() => new Webhook(secret).verify(payload, headers(v1a)), { code: 'no_supported_signature' });
  // Secrets and public keys in one array: either kind of entry verifies.
  for (const keys of [[secret, whpk], [whpk, secret]]) {
    const hook = new Webhook(keys);
    assert.equal(hook.verify(payload, headers(v1a)).id, 'evt_1');
    assert.equal(hook.verify(payload, headers(v1)).id, 'evt_1');
    assert.throws(() => hook.verify(`${payload} `, headers(`${v1} ${v1a}`)), { code: 'signature_mismatch' });
  }
  // Another key's signature is a mismatch, not a missing scheme.
  const other = keyPair();
  assert.throws(() => new Webhook(other.whpk).verify(payload, headers(v1a)), { code: 'signature_mismatch' });

  const request = (signature) => new Request('http://127.0.0.1/hook', { method: 'POST', body: payload, headers: headers(signature) });
  assert.equal((await verifyRequest(request(v1a), whpk)).id, 'evt_1');
  assert.equal((await verifyRequest(request(v1a), [secret, whpk])).id, 'evt_1');
  await assert.rejects(verifyRequest(request(v1a), other.whpk), { code: 'signature_mismatch' });
  // The docs' hex header alone cannot be checked with a public key.
  const legacy = new Request('http://127.0.0.1/hook', { method: 'POST', body: payload, headers: { 'x-webhook-signature': 'ab'.repeat(32) } });
  await assert.rejects(verifyRequest(legacy, whpk), { code: 'no_supported_signature' });
});

test('bad public keys are refused with a hint, and a signing key is named as such', () => {
  assert.throws(() => new Webhook('whpk_AAAA'), (e) => e.code === 'invalid_secret' && /32-byte key/.test(e.message));
  const seed = crypto.randomBytes(32).toString('base64');
  assert.throws(() => new Webhook(`whsk_${seed}`), (e) => e instanceof WebhookVerificationError);
  const { diagnoseSecret } = require('cdhooks');
  assert.deepEqual(diagnoseSecret(`whsk_${seed}`).map((h) => h.code), ['signing_key']);
  assert.deepEqual(diagnoseSecret(keyPair().whpk), []);
});

test('a receiver of secrets never loads the Ed25519 module; a public key loads it', () => {
  const script = `
    const { Webhook, verifyWebhook } = require('cdhooks');
    const loaded = () => Object.keys(require.cache).some((f) => f.endsWith('cdhooks_full.js'));
    const w = new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    try { w.verify('{}', { 'webhook-id': 'm', 'webhook-timestamp': '1', 'webhook-signature': 'v1,AAAA' }); } catch {}
    verifyWebhook('{}', 'ab'.repeat(32), 'secret');
    const before = loaded();
    new Webhook('${keyPair().whpk}');
    console.log(JSON.stringify([before, loaded()]));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: new URL('..', import.meta.url) }).toString();
  assert.deepEqual(JSON.parse(out), [false, true]);
});
