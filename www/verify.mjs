// Verification for the browser tool, on top of the cdhooks package's browser build: split a
// pasted raw HTTP request, check whichever signatures it carries, explain the outcome in
// plain words. Nothing here sends anything anywhere.
import { diagnoseSecret, verifyWebhook, signWebhook, Webhook, WebhookVerificationError } from '/pkg/src/browser.mjs';

/**
 * What an error code means, for people: the package's own message (the codes and their
 * messages live there), plus what this page adds, and hints about the secret on a mismatch.
 */
export function explain(code, secret) {
  const extra = {
    timestamp_too_old: 'Tick "ignore the timestamp\'s age" for old captures.',
  };
  const hints = code === 'signature_mismatch' && secret ? diagnoseSecret(secret).map((h) => h.message) : [];
  return [new WebhookVerificationError(code).message, extra[code], ...hints].filter(Boolean).join(' ');
}

/** Splits a raw HTTP request (request line, headers, blank line, body); null if it is not one. */
export function parseRawRequest(text) {
  const match = /^[A-Z]+ \S+ HTTP\/\d(?:\.\d)?\r?\n/.exec(text);
  if (!match) return null;
  const rest = text.slice(match[0].length);
  const split = /\r?\n\r?\n/.exec(rest);
  const head = split ? rest.slice(0, split.index) : rest;
  const body = split ? rest.slice(split.index + split[0].length) : '';
  return { headers: parseHeaderLines(head), body };
}

/** `Name: value` lines into an object with lowercase names. */
export function parseHeaderLines(text) {
  const headers = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * Checks a delivery with every scheme it carries. Returns a list of
 * `{ scheme, ok, code?, message }`, one per scheme found.
 */
export function verifyDelivery({ body, headers, secret, ignoreAge }) {
  const results = [];
  if (!secret) return [{ scheme: 'none', ok: false, code: 'invalid_secret', message: 'Enter the webhook secret or public key.' }];
  // A `whpk_` public key checks Ed25519 (v1a) entries; a secret checks v1 and the docs' hex.
  const publicKey = secret.startsWith('whpk_');
  const standard = publicKey ? 'Standard Webhooks v1a (Ed25519, public key)' : 'Standard Webhooks v1';
  const hasV1 = 'webhook-signature' in headers || 'webhook-id' in headers || 'webhook-timestamp' in headers;
  if (hasV1) {
    try {
      const wh = new Webhook(secret, { toleranceSeconds: ignoreAge ? 1e11 : 300 });
      const event = wh.verify(body, headers);
      results.push({ scheme: standard, ok: true, message: verifiedMessage(event) });
    } catch (e) {
      if (!(e instanceof WebhookVerificationError)) throw e;
      results.push({ scheme: standard, ok: false, code: e.code, message: explain(e.code, secret) });
    }
  }
  if ('x-webhook-signature' in headers && publicKey) {
    results.push({
      scheme: "X-Webhook-Signature (the docs' hex HMAC)",
      ok: false,
      code: 'no_supported_signature',
      message: "Not checked: the docs' hex HMAC needs the webhook's secret; a public key checks only v1a entries.",
    });
  } else if ('x-webhook-signature' in headers) {
    const signature = headers['x-webhook-signature'];
    const ok = verifyWebhook(body, signature, secret);
    const shape = /^[0-9a-f]{64}$/.test(signature) ? '' : ' The header must be exactly 64 lowercase hex digits, and it is not.';
    results.push({
      scheme: "X-Webhook-Signature (the docs' hex HMAC)",
      ok,
      code: ok ? undefined : 'signature_mismatch',
      message: ok ? 'Verified' : explain('signature_mismatch', secret) + shape,
    });
  }
  if (results.length === 0) {
    results.push({ scheme: 'none', ok: false, code: 'missing_header', message: 'No signature header found: paste X-Webhook-Signature or the webhook-* headers.' });
  }
  return results;
}

/** What a verified body is: an event with its type and id, or some other JSON value. */
function verifiedMessage(event) {
  if (event !== null && typeof event === 'object' && !Array.isArray(event) && typeof event.type === 'string') {
    return `Verified: ${event.type} ${event.id ?? ''}`.trim();
  }
  return `Verified — the signature is right, but the body (${JSON.stringify(event).slice(0, 40)}) is not an event object with a type`;
}

export { WebhookVerificationError };

/** The headers a sender would send for `body` now; throws WebhookVerificationError for a secret that cannot sign. */
export function signDelivery({ body, secret }) {
  if (secret.startsWith('whpk_')) {
    throw new WebhookVerificationError(
      'invalid_secret',
      'A public key (whpk_…) verifies v1a signatures but cannot make them: only the sender holds the private key. Sign with the webhook secret.',
    );
  }
  const id = `msg_${Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('')}`;
  const timestamp = Math.floor(Date.now() / 1000);
  return {
    'X-Webhook-Signature': signWebhook(body, secret),
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': new Webhook(secret).sign(id, timestamp, body),
  };
}
