// Shared by the package tests: the docs' snippet exactly as published, and the vectors.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The docs' verifyWebhook, verbatim, with its RangeError read as "no". */
export function docsVerify(payload, signature, secret) {
  const expected = createHmac('sha256', secret).update(payload).digest('hex');
  try {
    return timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
  } catch (e) {
    if (e instanceof RangeError || e.code === 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH') return false;
    throw e;
  }
}

export const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/signatures.json', import.meta.url), 'utf8'));

/** Runs `fn` with Date.now() fixed at `seconds`. */
export function atTime(seconds, fn) {
  const real = Date.now;
  Date.now = () => seconds * 1000;
  try {
    return fn();
  } finally {
    Date.now = real;
  }
}
