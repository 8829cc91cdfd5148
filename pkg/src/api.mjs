// The public API of the `cdhooks` package, built on two wasm modules' exports.
//
// Every entry point (Node CJS/ESM, browsers, Deno, Bun, workerd) loads the wasm its own way
// and hands `createApi` the verification module (`{ glue, memory }`: what every receiver
// needs, HMAC verification of both schemes, under 20 KB) and a function that loads the full
// module the same way (signing, and Ed25519 `v1a` for `whpk_` public keys) — called only when
// a call needs it, and synchronously, so no entry point has an init step. All cryptography
// happens in wasm; this file only checks arguments, moves bytes into wasm memory and turns
// codes into errors.
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

// How many keyed secrets `verifyWebhook` / `signWebhook` keep, for receivers that serve
// many endpoints (a secret per webhook): past it the least recently added is dropped.
const KEY_CACHE_SIZE = 256;

/** What each error code means, for people; the codes themselves come from the Rust core. */
const MESSAGES = {
  missing_header:
    'Missing webhook-id, webhook-timestamp or webhook-signature header. Pass the request headers as received (e.g. req.headers or request.headers).',
  invalid_timestamp: 'webhook-timestamp must be the Unix time in seconds (1 to 12 digits).',
  timestamp_too_old:
    'webhook-timestamp is further in the past than the tolerance: a replayed or long-delayed delivery, or a wrong clock on this server.',
  timestamp_too_new:
    'webhook-timestamp is further in the future than the tolerance: check the clock on this server.',
  malformed_signature: "webhook-signature has no readable entry: it must hold space-separated 'v1,<base64>' entries.",
  no_supported_signature:
    "webhook-signature has no entry the key can check: secrets check 'v1,' entries, public keys (whpk_) 'v1a,' entries.",
  signature_mismatch:
    'No signature matches. Check the secret, and verify the raw request body exactly as received (not JSON parsed and serialised again).',
  invalid_secret:
    "The secret is empty, a 'whsec_' secret whose rest is not valid base64, a 'whpk_' public key that is not the base64 of a valid Ed25519 key, or a 'whsk_' signing key.",
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

/** Ed25519 public keys (Standard Webhooks `v1a`): verify, cannot sign. */
const PUBLIC_KEY_PREFIX = 'whpk_';
/** Ed25519 signing keys: the sender's, never a receiver's. */
const SIGNING_KEY_PREFIX = 'whsk_';

/** Whether a secret is an Ed25519 public key, checked by the full module's `v1a` code. */
function isPublicKey(secret) {
  return typeof secret === 'string' && secret.startsWith(PUBLIC_KEY_PREFIX);
}

// Characters of base64 (standard or URL-safe), for recognising keys pasted without `whsec_`.
const BASE64_KEY = /^[A-Za-z0-9+/_-]{32,}={0,2}$/;

/**
 * Where a secret is probably wrong, as `{ code, message }` hints (none when it looks fine):
 * surrounding whitespace (a newline from an env file), a base64 key of 24 bytes or more
 * without its `whsec_` prefix, a `whsec_` secret that is not base64.
 */
export function diagnoseSecret(secret) {
  const hints = [];
  if (typeof secret !== 'string') return hints;
  if (secret.length === 0) hints.push({ code: 'empty', message: 'The secret is empty.' });
  if (secret !== secret.trim()) {
    hints.push({
      code: 'surrounding_whitespace',
      message: 'The secret starts or ends with whitespace (a newline from an env file?); secrets are used exactly as given, so trim it.',
    });
  }
  const core = secret.trim();
  if (core.startsWith(SIGNING_KEY_PREFIX)) {
    hints.push({
      code: 'signing_key',
      message: "This is an Ed25519 signing key ('whsk_'), which only the sender may hold; receivers verify with its public key ('whpk_…').",
    });
  } else if (core.startsWith(PUBLIC_KEY_PREFIX)) {
    if (!/^[A-Za-z0-9+/]{43}=$/.test(core.slice(PUBLIC_KEY_PREFIX.length))) {
      hints.push({ code: 'invalid_base64', message: "The part after 'whpk_' is not the base64 of a 32-byte key." });
    }
  } else if (core.startsWith('whsec_')) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(core.slice(6))) {
      hints.push({ code: 'invalid_base64', message: "The part after 'whsec_' is not base64, so it cannot be the key." });
    }
  } else if (BASE64_KEY.test(core)) {
    hints.push({
      code: 'missing_prefix',
      message: "The secret looks like a base64 key without its 'whsec_' prefix; if the sender gave it as 'whsec_…', keep the prefix (without it the text itself is the key).",
    });
  }
  return hints;
}

/** A mismatch error with the hints about the secrets that were tried. */
function mismatch(secrets) {
  const hints = secrets.flatMap((s) => diagnoseSecret(s)).map((h) => h.message);
  return new WebhookVerificationError('signature_mismatch', [MESSAGES.signature_mismatch, ...new Set(hints)].join(' '));
}

/** One secret or several (an array: the current one first, then those still accepted). */
function secretList(secrets, what = 'secret') {
  if (!Array.isArray(secrets)) return [secrets];
  if (secrets.length === 0) throw new TypeError(`${what} must not be an empty array`);
  return secrets;
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

/** The id prefix of test events: a customer's own try of its endpoint, never the provider's. */
const TEST_EVENT_ID_PREFIX = 'evt_test_';

/** Whether a verified event (or its id) is a test event (`evt_test_…`). */
export function isTestEvent(event) {
  const id = typeof event === 'string' ? event : event?.id;
  return typeof id === 'string' && id.startsWith(TEST_EVENT_ID_PREFIX);
}

/**
 * One loaded wasm module (`{ glue, memory }`) with its scratch buffer, the writers that fill
 * it, and its keyed secrets; the verification module and the full module each get one.
 */
function bindModule({ glue, memory }, native = null) {
  const buffer = new glue.Scratch();
  const encoder = new TextEncoder();
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

  /**
   * Writes a delivery's three Standard Webhooks header values and its payload; returns their
   * lengths, in the order the wasm `verify` methods take them.
   */
  function writeDelivery(id, timestamp, signature, payload, bytes) {
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
    return [idLen, tsLen, sigLen, payloadLen];
  }

  const codesLen = glue.error_codes(buffer);
  const codes = new TextDecoder().decode(new Uint8Array(memory.buffer, buffer.reserve(codesLen), codesLen));
  /** The core's codes, by the number the wasm verifiers return (0 is success). */
  const CODES = [null, ...codes.split(' ')];

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

  // Keyed states of recent string secrets (a receiver serving many endpoints alternates
  // between them), and of the last byte secret.
  const stringKeys = new Map();
  let lastSecretBytes = null;
  let lastBytesKey = null;

  function sameBytes(a, b) {
    if (a === null || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  /** The docs' scheme keyed with `secret`, from the cache (bounded: the oldest goes first). */
  function legacyKey(secret) {
    if (typeof secret === 'string') {
      const cached = stringKeys.get(secret);
      if (cached !== undefined) return cached;
    } else if (secret instanceof Uint8Array && sameBytes(lastSecretBytes, secret)) {
      return lastBytesKey;
    }
    checkSecret(secret);
    const len = typeof secret === 'string' ? writeString(secret, 0, 0) : writeBytes(secret, 0, 0);
    const key = new glue.LegacyKey(buffer, len);
    if (typeof secret === 'string') {
      remember(stringKeys, secret, key);
    } else {
      lastBytesKey?.free();
      lastBytesKey = key;
      lastSecretBytes = secret.slice();
    }
    return key;
  }

  /**
   * A Standard Webhooks key: `v1` for a secret, `v1a` for a `whpk_` public key (the full
   * module only). Throws for one that cannot be a key.
   */
  function standardKey(secret) {
    checkSecret(secret);
    let key = null;
    if (isPublicKey(secret)) {
      key = glue.PublicKey.create(buffer, writeString(secret, 0, 0));
      if (key !== undefined && key !== null && native !== null) key = nativeKey(key);
    } else if (typeof secret !== 'string') {
      key = glue.StandardKey.from_key(buffer, writeBytes(secret, 0, 0));
    } else if (!secret.startsWith(SIGNING_KEY_PREFIX)) {
      // (A signing key is the sender's: refused, not used as a raw secret.)
      key = glue.StandardKey.create(buffer, writeString(secret, 0, 0));
    }
    if (key === undefined || key === null) {
      const hints = diagnoseSecret(secret).map((h) => h.message);
      throw new WebhookVerificationError('invalid_secret', [MESSAGES.invalid_secret, ...hints].join(' '));
    }
    return key;
  }

  // Keyed Standard Webhooks secrets of recent verifyRequest calls, by string secret (a
  // receiver serving many endpoints alternates between them): a request never makes a wasm
  // key that only a finalizer would free — workerd has none, and Node's run late.
  const requestKeys = new Map();

  /** The keyed string `secret` from the cache (bounded: the oldest goes first). */
  function cachedStandardKey(secret) {
    const cached = requestKeys.get(secret);
    if (cached !== undefined) return cached;
    const key = standardKey(secret);
    remember(requestKeys, secret, key);
    return key;
  }

  /**
   * Checks a delivery against `keys` of this module (all of one kind: secrets here, public
   * keys in the full module) with its inputs written once: null when one matches, else the
   * code. Only a mismatch depends on the key; any other answer is the same for all.
   */
  function verifyWith(keys, id, timestamp, signature, payload, bytes, now, tolerance) {
    if (keys[0].check !== undefined) {
      for (const key of keys) {
        const code = key.check(id, timestamp, signature, payload, bytes, now, tolerance);
        if (code !== 'signature_mismatch') return code;
      }
      return 'signature_mismatch';
    }
    const [idLen, tsLen, sigLen, payloadLen] = writeDelivery(id, timestamp, signature, payload, bytes);
    for (const key of keys) {
      const code = CODES[key.verify(buffer, idLen, tsLen, sigLen, payloadLen, now, tolerance)];
      if (code !== 'signature_mismatch') return code;
    }
    return 'signature_mismatch';
  }

  /**
   * A public key whose curve equation a native Ed25519 checks: the wasm key checks the
   * headers, the timestamp, the entries and each signature's strict form (`prepare`), so the
   * answers are the wasm's own (pkg/test/ed25519.test.mjs runs both over the same vectors).
   */
  function nativeKey(key) {
    key.write_bytes(buffer);
    const handle = native.key(scratch(32).slice(0, 32));
    return {
      check(id, timestamp, signature, payload, bytes, now, tolerance) {
        const idLen = writeString(id, 0, 0);
        const tsLen = writeString(timestamp, idLen, 0);
        const sigLen = writeString(signature, idLen + tsLen, 0);
        const answer = key.prepare(buffer, idLen, tsLen, sigLen, now, tolerance);
        const count = answer >>> 4;
        if (count > 0) {
          const start = idLen + tsLen + sigLen;
          const v = scratch(start + 64 * count);
          const signed = `${id}.${timestamp}.`;
          for (let i = start; i < start + 64 * count; i += 64) {
            if (native.verify(handle, signed, bytes ?? payload, v.slice(i, i + 64))) return null;
          }
        }
        return CODES[answer & 15];
      },
      free() {
        key.free();
      },
    };
  }

  return {
    glue, buffer, CODES, scratch, writeString, writeBytes, writePayload,
    legacyKey, standardKey, cachedStandardKey, verifyWith,
  };
}

/** Keeps `key` under `name` in a bounded cache; past the bound the oldest is freed. */
function remember(cache, name, key) {
  if (cache.size >= KEY_CACHE_SIZE) {
    const [oldest, oldKey] = cache.entries().next().value;
    cache.delete(oldest);
    oldKey.free();
  }
  cache.set(name, key);
}

/**
 * The API over the verification module (`{ glue, memory }`) and `loadFull`, which returns
 * the full module the same way, synchronously; it is called at most once, on first need.
 * `native`, where the runtime has a faster synchronous Ed25519 (Node), checks the curve
 * equation of `v1a` signatures: `{ key(bytes) → handle, verify(handle, prefix, payload,
 * signature) → boolean }`, the signed message being `prefix` then the payload.
 */
export function createApi(verification, loadFull, native = null) {
  const small = bindModule(verification);
  const { buffer, scratch, writeString, writePayload, legacyKey } = small;
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let fullModule = null;

  /** The full module (signing, `v1a`), loaded on first use. */
  function full() {
    fullModule ??= bindModule(loadFull(), native);
    return fullModule;
  }

  /** The module that checks `secret`: the full one for public keys. */
  function moduleFor(secret) {
    return isPublicKey(secret) ? full() : small;
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
   * `payload` under `secret` (or under any of several secrets, given as an array). Never
   * throws because of what a sender put in a request.
   */
  function verifyWebhook(payload, signature, secret) {
    if (Array.isArray(secret)) {
      let ok = false;
      for (const one of secretList(secret)) ok = verifyOne(payload, signature, one) || ok;
      return ok;
    }
    return verifyOne(payload, signature, secret);
  }

  function verifyOne(payload, signature, secret) {
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

  /** The hex HMAC-SHA256 signature of `payload` under `secret` (the full module signs). */
  function signWebhook(payload, secret) {
    const bytes = bytesOf(payload);
    const f = full();
    const key = f.legacyKey(secret);
    const len = f.writePayload(payload, bytes, 0, SIGNATURE_HEX_LEN);
    key.sign(f.buffer, len);
    return latin1(f.scratch(len + SIGNATURE_HEX_LEN), len, SIGNATURE_HEX_LEN);
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

  /** A Standard Webhooks header, or its Svix name (`svix-id` …) when only that is present. */
  function standardHeader(headers, name) {
    return headerValue(headers, `webhook-${name}`) ?? headerValue(headers, `svix-${name}`);
  }

  // Frees a Webhook's wasm keys when the Webhook is collected (where the runtime allows it;
  // workerd has no FinalizationRegistry, and a key is a few hundred bytes).
  const finalizers = typeof FinalizationRegistry === 'function' ? new FinalizationRegistry((key) => key.free()) : null;

  /** Unix seconds from a number of seconds or a Date. */
  function unixSeconds(timestamp) {
    if (timestamp instanceof Date) {
      const ms = timestamp.getTime();
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError('timestamp must be a valid Date after 1970');
      return Math.floor(ms / 1000);
    }
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new TypeError('timestamp must be a Date or a non-negative whole number of seconds');
    }
    return timestamp;
  }

  /**
   * Standard Webhooks verification (and signing) for one secret, or several during a rotation;
   * `whpk_` public keys verify `v1a` (Ed25519) entries and may be mixed with secrets.
   */
  class Webhook {
    #keys;
    #legacy;
    #tolerance;
    #secrets;
    #signer = null;

    constructor(secret, options = {}) {
      const secrets = secretList(secret);
      const { toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, legacy = false } = options ?? {};
      const tolerance = toleranceOf(toleranceSeconds);
      this.#keys = secrets.map((s) => {
        const module = moduleFor(s);
        const key = module.standardKey(s);
        finalizers?.register(this, key);
        return { module, key };
      });
      this.#tolerance = tolerance;
      this.#legacy = Boolean(legacy);
      this.#secrets = secrets.map((s) => (typeof s === 'string' ? s : s.slice()));
    }

    /**
     * Verifies a delivery and returns its event. Throws WebhookVerificationError.
     */
    verify(payload, headers) {
      return verifyDelivery(this.#keys, this.#secrets, this.#tolerance, this.#legacy, payload, headers);
    }

    /**
     * The `v1,<base64>` signature of `payload` for message `id` at `timestamp` (a Date or
     * Unix seconds), with the first secret (the full module signs; a public key cannot).
     */
    sign(id, timestamp, payload) {
      if (typeof id !== 'string' || id.length === 0) throw new TypeError('id must be a non-empty string');
      const seconds = unixSeconds(timestamp);
      const bytes = bytesOf(payload);
      const f = full();
      if (this.#signer === null) {
        const secret = this.#secrets[0];
        if (isPublicKey(secret)) {
          throw new TypeError("A public key ('whpk_…') verifies v1a signatures but cannot make them; only the sender's private key can.");
        }
        this.#signer = f.standardKey(secret);
        finalizers?.register(this, this.#signer);
      }
      const idLen = f.writeString(id, 0, 0);
      const payloadLen = f.writePayload(payload, bytes, idLen, V1_ENTRY_LEN);
      f.scratch(idLen + payloadLen + V1_ENTRY_LEN);
      const written = this.#signer.sign(f.buffer, idLen, seconds, payloadLen);
      return latin1(f.scratch(idLen + payloadLen + written), idLen + payloadLen, written);
    }
  }

  /** The tolerance in whole seconds; throws for one that is not a non-negative number. */
  function toleranceOf(toleranceSeconds) {
    if (typeof toleranceSeconds !== 'number' || !(toleranceSeconds >= 0) || !Number.isFinite(toleranceSeconds)) {
      throw new TypeError('toleranceSeconds must be a non-negative number of seconds');
    }
    return Math.floor(toleranceSeconds);
  }

  /**
   * Verifies a delivery with keyed `keys` (`{ module, key }`, of `secrets`, for the docs'
   * header and the mismatch's hints) and returns its event. Throws WebhookVerificationError.
   */
  function verifyDelivery(keys, secrets, tolerance, legacy, payload, headers) {
    const bytes = bytesOf(payload);
    const id = standardHeader(headers, 'id');
    const timestamp = standardHeader(headers, 'timestamp');
    const signature = standardHeader(headers, 'signature');
    if (id !== null || timestamp !== null || signature !== null) {
      if (!id || timestamp === null || !signature) throw new WebhookVerificationError('missing_header');
      const now = Math.floor(Date.now() / 1000);
      let code;
      if (keys.length === 1) {
        code = keys[0].module.verifyWith([keys[0].key], id, timestamp, signature, payload, bytes, now, tolerance);
      } else {
        // Secrets and public keys live in different modules: each module's keys see the
        // inputs written once into that module.
        code = undefined;
        for (const module of new Set(keys.map((k) => k.module))) {
          const mine = keys.filter((k) => k.module === module).map((k) => k.key);
          const answer = module.verifyWith(mine, id, timestamp, signature, payload, bytes, now, tolerance);
          if (answer === null) {
            code = null;
            break;
          }
          if (code === undefined || answer === 'signature_mismatch') code = answer;
        }
      }
      if (code === 'signature_mismatch') throw mismatch(secrets);
      if (code !== null) throw new WebhookVerificationError(code ?? 'signature_mismatch');
    } else {
      const legacySignature = headerValue(headers, 'x-webhook-signature');
      if (legacySignature === null) throw new WebhookVerificationError('missing_header');
      if (!legacy) {
        throw new WebhookVerificationError(
          'missing_header',
          'Only X-Webhook-Signature is present; it carries no timestamp and cannot stop replays. Pass { legacy: true } to accept it anyway, or send the webhook-* headers.',
        );
      }
      const hmacSecrets = secrets.filter((s) => !isPublicKey(s));
      if (hmacSecrets.length === 0) {
        throw new WebhookVerificationError(
          'no_supported_signature',
          "Only X-Webhook-Signature (the docs' HMAC) is present, and a public key (whpk_) cannot check it: it needs the webhook's secret.",
        );
      }
      if (!verifyWebhook(payload, legacySignature, hmacSecrets)) throw mismatch(hmacSecrets);
    }
    try {
      return JSON.parse(bytes === null ? payload : decoder.decode(bytes));
    } catch {
      throw new WebhookVerificationError('invalid_payload');
    }
  }

  /**
   * Verifies a Fetch `Request` (Next.js route handlers, Hono, Remix, SvelteKit, Deno.serve,
   * Bun.serve, Cloudflare Workers): reads the raw body once and checks the scheme the request
   * carries — Standard Webhooks (`webhook-*` or `svix-*` headers) when present, otherwise the
   * docs' `X-Webhook-Signature` (unless `legacy: false`). Resolves to the event; rejects
   * with WebhookVerificationError.
   */
  async function verifyRequest(request, secret, options = {}) {
    if (request === null || typeof request !== 'object' || typeof request.arrayBuffer !== 'function' || request.headers == null) {
      throw new TypeError(`request must be a Fetch Request; got ${describe(request)}`);
    }
    const { legacy = true, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS } = options ?? {};
    const tolerance = toleranceOf(toleranceSeconds);
    const secrets = secretList(secret);
    // Checked before the body is read (a bad secret is the caller's mistake, not the
    // request's); string secrets are keyed once and kept, others keyed for this call only.
    const keyed = () =>
      secrets.map((s) => {
        const module = moduleFor(s);
        return { module, key: typeof s === 'string' ? module.cachedStandardKey(s) : module.standardKey(s) };
      });
    const release = (keys) => keys.forEach(({ key }, i) => typeof secrets[i] !== 'string' && key.free());
    release(keyed());
    const body = new Uint8Array(await request.arrayBuffer());
    // Keyed again after the await: another call may have evicted a cached key meanwhile.
    const keys = keyed();
    try {
      return verifyDelivery(keys, secrets, tolerance, Boolean(legacy), body, request.headers);
    } finally {
      release(keys);
    }
  }

  return { verifyWebhook, signWebhook, verifyRequest, diagnoseSecret, isTestEvent, Webhook, WebhookVerificationError };
}
