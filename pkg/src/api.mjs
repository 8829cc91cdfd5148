// The public API of the `cdhooks` package, built on the wasm module's exports (`glue`).
//
// Every entry point (Node CJS/ESM, browsers, Deno, Bun, workerd) loads the same wasm its
// own way and hands the generated glue to `createApi`. All hashing happens in wasm; this file
// only checks arguments, moves bytes into wasm memory and turns codes into errors.
//
// Speed: inputs are written straight into one scratch buffer in wasm memory (no allocation
// per call), and the last secret's keyed HMAC state is kept, so repeated verifications under
// one secret never re-key.

const SIGNATURE_HEX_LEN = 64;
// String payloads up to this length are written together with the signature by one
// `encodeInto` of their concatenation; longer ones are not copied into a joined string.
const JOIN_LIMIT = 16384;
const V1_ENTRY_LEN = 47;
const DEFAULT_TOLERANCE_SECONDS = 300;

/** Codes returned by the wasm verifier, by number (0 is success). */
const CODES = [
  null,
  'missing_header',
  'invalid_timestamp',
  'timestamp_too_old',
  'timestamp_too_new',
  'malformed_signature',
  'no_supported_signature',
  'signature_mismatch',
  'invalid_secret',
  'invalid_payload',
];

const MESSAGES = {
  missing_header:
    'Missing webhook-id, webhook-timestamp or webhook-signature header. Pass the request headers as received (e.g. req.headers or request.headers).',
  invalid_timestamp: 'webhook-timestamp must be the Unix time in seconds (1 to 12 digits).',
  timestamp_too_old:
    'webhook-timestamp is further in the past than the tolerance: a replayed or long-delayed delivery, or a wrong clock on this server.',
  timestamp_too_new:
    'webhook-timestamp is further in the future than the tolerance: check the clock on this server.',
  malformed_signature: "webhook-signature must be space-separated 'v1,<base64>' entries.",
  no_supported_signature: "webhook-signature has no 'v1,' entry.",
  signature_mismatch:
    'No signature matches. Check the secret, and verify the raw request body exactly as received (not JSON parsed and serialised again).',
  invalid_secret: "The secret is empty, or a 'whsec_' secret whose rest is not valid base64.",
  invalid_payload: 'The payload is signed correctly but is not a JSON event.',
};

/** Thrown by `Webhook` when a delivery cannot be verified; `code` is stable. */
export class WebhookVerificationError extends Error {
  constructor(code, message) {
    super(message ?? MESSAGES[code] ?? code);
    this.name = 'WebhookVerificationError';
    this.code = code;
  }
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? `an object (${value.constructor?.name ?? 'Object'})` : typeof value;
}

function payloadTypeError(payload) {
  return new TypeError(
    `payload must be the raw request body as a string, Buffer, Uint8Array or ArrayBuffer; got ${describe(payload)}. ` +
      'If a JSON body parser ran first (e.g. express.json()), use the raw body instead (e.g. express.raw({ type: "application/json" })).',
  );
}

/** Bytes of a binary payload, or null for strings, or throws TypeError. */
function bytesOf(payload) {
  if (typeof payload === 'string') return null;
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  if (ArrayBuffer.isView(payload)) return new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength);
  throw payloadTypeError(payload);
}

export function createApi(glue) {
  const memory = glue.wasm_memory();
  const buffer = new glue.Scratch();
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let view = new Uint8Array(0);
  let capacity = 0;
  let base = 0;

  /** Makes the scratch buffer hold `needed` bytes; returns the view over wasm memory. */
  function scratch(needed) {
    if (needed > capacity || view.byteLength === 0) {
      if (needed > capacity) {
        const wanted = Math.max(needed, 1024);
        base = buffer.reserve(wanted);
        capacity = wanted;
      }
      view = new Uint8Array(memory.buffer, base, capacity);
    }
    return view;
  }

  /** Writes a string at `offset`, returns its UTF-8 length. Reserves room first. */
  function writeString(text, offset, extra) {
    const v = scratch(offset + text.length * 3 + extra);
    const n = text.length;
    // Short ASCII strings are copied directly; anything else goes through encodeInto.
    if (n <= 64) {
      let i = 0;
      for (; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) break;
        v[offset + i] = c;
      }
      if (i === n) return n;
    }
    return encoder.encodeInto(text, offset === 0 ? v : v.subarray(offset)).written;
  }

  function writeBytes(bytes, offset, extra) {
    const v = scratch(offset + bytes.length + extra);
    v.set(bytes, offset);
    return bytes.length;
  }

  /** Writes a payload whose bytes (or null for a string) `bytesOf` already found. */
  function writePayload(payload, bytes, offset, extra) {
    return bytes === null ? writeString(payload, offset, extra) : writeBytes(bytes, offset, extra);
  }

  function checkSecret(secret) {
    if (typeof secret === 'string') {
      if (secret.length === 0) throw new TypeError('secret must not be empty');
      return;
    }
    if (secret instanceof Uint8Array) {
      if (secret.length === 0) throw new TypeError('secret must not be empty');
      return;
    }
    throw new TypeError(`secret must be a non-empty string or Uint8Array; got ${describe(secret)}`);
  }

  // The last secret of verifyWebhook/signWebhook and its keyed state.
  let lastSecret = null;
  let lastSecretBytes = null;
  let lastKey = null;

  function sameBytes(a, b) {
    if (a === null || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function legacyKey(secret) {
    if (typeof secret === 'string') {
      if (secret === lastSecret) return lastKey;
    } else if (secret instanceof Uint8Array && sameBytes(lastSecretBytes, secret)) {
      return lastKey;
    }
    checkSecret(secret);
    const len = typeof secret === 'string' ? writeString(secret, 0, 0) : writeBytes(secret, 0, 0);
    const key = new glue.LegacyKey(buffer, len);
    if (lastKey !== null) lastKey.free();
    lastKey = key;
    lastSecret = typeof secret === 'string' ? secret : null;
    lastSecretBytes = typeof secret === 'string' ? null : secret.slice();
    return key;
  }

  /** Copies a 64-character signature to `offset`; false if it cannot be the hex MAC. */
  function writeSignature(signature, offset) {
    const v = scratch(offset + SIGNATURE_HEX_LEN);
    if (typeof signature === 'string') {
      if (signature.length !== SIGNATURE_HEX_LEN) return false;
      for (let i = 0; i < SIGNATURE_HEX_LEN; i++) {
        const c = signature.charCodeAt(i);
        if (c > 0x7f) return false;
        v[offset + i] = c;
      }
      return true;
    }
    if (signature instanceof Uint8Array && signature.length === SIGNATURE_HEX_LEN) {
      v.set(signature, offset);
      return true;
    }
    return false;
  }

  /**
   * The docs' check: true exactly when `signature` is the lowercase hex HMAC-SHA256 of
   * `payload` under `secret`. Never throws because of what a sender put in a request.
   */
  function verifyWebhook(payload, signature, secret) {
    const bytes = bytesOf(payload);
    const key = legacyKey(secret);
    if (bytes === null && typeof signature === 'string' && payload.length <= JOIN_LIMIT) {
      // Payload and signature in one write. The signature's last 64 bytes are taken as the
      // signature: a 64-character signature with a non-ASCII character encodes to more bytes,
      // and its last 64 then hold a UTF-8 continuation byte, which is never a hex digit, so
      // the wasm side refuses it as malformed.
      if (signature.length !== SIGNATURE_HEX_LEN) return false;
      const written = encoder.encodeInto(payload + signature, scratch(payload.length * 3 + SIGNATURE_HEX_LEN * 3)).written;
      return key.verify(buffer, written - SIGNATURE_HEX_LEN);
    }
    const len = writePayload(payload, bytes, 0, SIGNATURE_HEX_LEN);
    if (!writeSignature(signature, len)) return false;
    return key.verify(buffer, len);
  }

  /** The hex HMAC-SHA256 signature of `payload` under `secret`. */
  function signWebhook(payload, secret) {
    const bytes = bytesOf(payload);
    const key = legacyKey(secret);
    const len = writePayload(payload, bytes, 0, SIGNATURE_HEX_LEN);
    key.sign(buffer, len);
    return latin1(scratch(len + SIGNATURE_HEX_LEN), len, SIGNATURE_HEX_LEN);
  }

  function latin1(v, offset, length) {
    let out = '';
    for (let i = 0; i < length; i++) out += String.fromCharCode(v[offset + i]);
    return out;
  }

  function headerValue(headers, name) {
    if (headers === null || typeof headers !== 'object') {
      throw new TypeError(`headers must be an object or a Headers instance; got ${describe(headers)}`);
    }
    let value;
    if (typeof headers.get === 'function') {
      value = headers.get(name);
    } else {
      value = headers[name];
      if (value === undefined) {
        for (const key of Object.keys(headers)) {
          if (key.length === name.length && key.toLowerCase() === name) {
            value = headers[key];
            break;
          }
        }
      }
    }
    if (Array.isArray(value)) value = value.join(' ');
    return typeof value === 'string' ? value : value == null ? null : String(value);
  }

  // Frees a Webhook's wasm key when the Webhook is collected (where the runtime allows it;
  // workerd has no FinalizationRegistry, and a key is a few hundred bytes).
  const keys = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((key) => key.free()) : null;

  /** Standard Webhooks verification (and signing) for one secret. */
  class Webhook {
    #key;
    #legacy;
    #tolerance;
    #secret;

    constructor(secret, options = {}) {
      checkSecret(secret);
      const { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, legacy = false } = options ?? {};
      if (typeof toleranceSeconds !== 'number' || !(toleranceSeconds >= 0) || !Number.isFinite(toleranceSeconds)) {
        throw new TypeError('toleranceSeconds must be a non-negative number of seconds');
      }
      const key =
        typeof secret === 'string'
          ? glue.StandardKey.create(buffer, writeString(secret, 0, 0))
          : glue.StandardKey.from_key(buffer, writeBytes(secret, 0, 0));
      if (key === undefined || key === null) throw new WebhookVerificationError('invalid_secret');
      this.#key = key;
      keys?.register(this, key);
      this.#tolerance = Math.floor(toleranceSeconds);
      this.#legacy = Boolean(legacy);
      this.#secret = typeof secret === 'string' ? secret : secret.slice();
    }

    /**
     * Verifies a delivery and returns its event. Throws WebhookVerificationError.
     */
    verify(payload, headers) {
      const bytes = bytesOf(payload);
      const id = headerValue(headers, 'webhook-id');
      const timestamp = headerValue(headers, 'webhook-timestamp');
      const signature = headerValue(headers, 'webhook-signature');
      if (id !== null || timestamp !== null || signature !== null) {
        if (!id || timestamp === null || !signature) throw new WebhookVerificationError('missing_header');
        // The three header values in one write when they are ASCII, as they should be.
        let idLen = id.length;
        let tsLen = timestamp.length;
        let sigLen = signature.length;
        const start = idLen + tsLen + sigLen;
        if (encoder.encodeInto(id + timestamp + signature, scratch(start * 3)).written !== start) {
          idLen = writeString(id, 0, 0);
          tsLen = writeString(timestamp, idLen, 0);
          sigLen = writeString(signature, idLen + tsLen, 0);
        }
        const payloadLen = writePayload(payload, bytes, idLen + tsLen + sigLen, 0);
        const code = this.#key.verify(buffer, idLen, tsLen, sigLen, payloadLen, Math.floor(Date.now() / 1000), this.#tolerance);
        if (code !== 0) throw new WebhookVerificationError(CODES[code] ?? 'signature_mismatch');
      } else {
        const legacySignature = headerValue(headers, 'x-webhook-signature');
        if (legacySignature === null) throw new WebhookVerificationError('missing_header');
        if (!this.#legacy) {
          throw new WebhookVerificationError(
            'missing_header',
            'Only X-Webhook-Signature is present; it carries no timestamp and cannot stop replays. Pass { legacy: true } to accept it anyway, or send the webhook-* headers.',
          );
        }
        if (!verifyWebhook(payload, legacySignature, this.#secret)) {
          throw new WebhookVerificationError('signature_mismatch');
        }
      }
      try {
        return JSON.parse(bytes === null ? payload : decoder.decode(bytes));
      } catch {
        throw new WebhookVerificationError('invalid_payload');
      }
    }

    /** The `v1,<base64>` signature of `payload` for `id` at `timestampSeconds`. */
    sign(id, timestampSeconds, payload) {
      if (typeof id !== 'string' || id.length === 0) throw new TypeError('id must be a non-empty string');
      if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
        throw new TypeError('timestampSeconds must be a non-negative whole number of seconds');
      }
      const bytes = bytesOf(payload);
      const idLen = writeString(id, 0, 0);
      const payloadLen = writePayload(payload, bytes, idLen, V1_ENTRY_LEN);
      scratch(idLen + payloadLen + V1_ENTRY_LEN);
      const written = this.#key.sign(buffer, idLen, timestampSeconds, payloadLen);
      return latin1(scratch(idLen + payloadLen + written), idLen + payloadLen, written);
    }
  }

  return { verifyWebhook, signWebhook, Webhook, WebhookVerificationError };
}
