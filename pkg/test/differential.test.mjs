// verifyWebhook against the docs' snippet on thousands of random and malformed inputs.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { test } from 'node:test';
import { verifyWebhook, signWebhook } from 'cdhooks';
import { docsVerify } from './helpers.mjs';

const ALPHABET = 'abcdefABCDEF0123456789 xyz=é😀\n\t{}":,';

function randomString(max) {
  let s = '';
  const n = randomInt(0, max + 1);
  for (let i = 0; i < n; i++) s += ALPHABET[randomInt(0, ALPHABET.length)];
  return s;
}

/** A signature that is right, or broken in one of the ways senders break them. */
function candidate(right) {
  switch (randomInt(0, 13)) {
    case 0: return right;
    case 1: return right.toUpperCase();
    case 2: return `sha256=${right}`;
    case 3: return right.slice(0, randomInt(0, 64));
    case 4: return `${right}\n`;
    case 5: return ` ${right}`;
    case 6: { const i = randomInt(0, 64); return right.slice(0, i) + 'g' + right.slice(i + 1); }
    case 7: { const i = randomInt(0, 64); return right.slice(0, i) + (right[i] === 'a' ? 'b' : 'a') + right.slice(i + 1); }
    case 8: return 'é' + right.slice(2);
    // 64 UTF-16 units with a non-ASCII one anywhere (more than 64 bytes in UTF-8).
    case 12: {
      const i = randomInt(0, 64);
      const odd = ['é', 'ÿ', '\u0800', '\uffff', '\ud800', '\udfff'][randomInt(0, 6)];
      return right.slice(0, i) + odd + right.slice(i + 1);
    }
    case 9: return randomString(80);
    case 10: return '';
    default: return randomBytes(32).toString('hex');
  }
}

test('the same answer as the docs snippet on 5,000 random cases, strings and bytes', () => {
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    const payload = randomInt(0, 2) ? randomString(600) : randomBytes(randomInt(0, 2000));
    const secret = randomInt(0, 4) ? randomString(40) || 'k' : randomBytes(randomInt(1, 100));
    const right = signWebhook(payload, secret);
    const signature = candidate(right);
    const ours = verifyWebhook(payload, signature, secret);
    assert.equal(ours, docsVerify(payload, signature, secret), JSON.stringify({ payload: String(payload), signature, secret: String(secret) }));
    if (typeof payload === 'string') assert.equal(verifyWebhook(Buffer.from(payload), signature, secret), ours);
    if (ours) accepted++;
  }
  assert.ok(accepted > 300, `only ${accepted} right signatures were tried`);
});

test('large payloads (1 MiB) and secrets longer than a block', () => {
  const payload = randomBytes(1 << 20);
  const secret = randomString(200) + 'x'.repeat(100);
  const right = signWebhook(payload, secret);
  assert.equal(verifyWebhook(payload, right, secret), true);
  assert.equal(docsVerify(payload, right, secret), true);
  payload[123456] ^= 1;
  assert.equal(verifyWebhook(payload, right, secret), false);
});

test('switching between secrets never mixes up keyed state', () => {
  const a = signWebhook('body', 'secret-a-123456');
  const b = signWebhook('body', 'secret-b-123456');
  for (let i = 0; i < 50; i++) {
    assert.equal(verifyWebhook('body', a, 'secret-a-123456'), true);
    assert.equal(verifyWebhook('body', a, 'secret-b-123456'), false);
    assert.equal(verifyWebhook('body', b, Buffer.from('secret-b-123456')), true);
    assert.equal(verifyWebhook('body', b, Buffer.from('secret-a-123456')), false);
  }
});
