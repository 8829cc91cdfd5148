import type { CdhooksEvent, WebhookErrorCode } from './events.js';
export type * from './events.js';

/** A raw request body: the exact bytes or text that arrived. */
export type Payload = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/**
 * A webhook secret: a string (its UTF-8 bytes, or `whsec_<base64>` for Standard Webhooks) or
 * raw bytes. For {@link Webhook} and {@link verifyRequest} it may also be an Ed25519 public key,
 * `whpk_<base64>`, which verifies Standard Webhooks `v1a` entries (and cannot sign).
 */
export type Secret = string | Uint8Array;

/** One secret, or several while a receiver rotates (the current one first): any may match. Secrets and public keys may be mixed. */
export type Secrets = Secret | readonly Secret[];

/** Request headers: a plain object (any letter case; Node's `IncomingHttpHeaders`) or a Fetch `Headers`. */
export type WebhookHeaders =
  | Headers
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

/**
 * The docs' check: `true` exactly when `signature` (the `X-Webhook-Signature` value) is the
 * lowercase hex HMAC-SHA256 of `payload` under `secret` (or under any of several secrets).
 * Never throws because of what a sender put in a request; throws `TypeError` for a payload
 * that is not raw bytes or text, or a missing or empty secret. It only says `false`: when a
 * check fails that should pass, {@link diagnoseSecret} names common mistakes.
 */
export function verifyWebhook(payload: Payload, signature: string | Uint8Array | null | undefined, secret: Secrets): boolean;

/** The lowercase hex HMAC-SHA256 of `payload` under `secret`, as `X-Webhook-Signature` carries it. */
export function signWebhook(payload: Payload, secret: Secret): string;

/** A likely mistake in a secret, from {@link diagnoseSecret}. */
export interface SecretHint {
  code: 'empty' | 'surrounding_whitespace' | 'missing_prefix' | 'invalid_base64' | 'signing_key';
  message: string;
}

/**
 * Names likely mistakes in a secret: whitespace around it (a newline from an env file), a
 * base64 key without its `whsec_` prefix, a `whsec_` or `whpk_` key that is not base64, an
 * Ed25519 signing key (`whsk_`, the sender's) where a public key belongs. Empty when
 * none is found. `Webhook` adds these hints to its `signature_mismatch` messages.
 */
export function diagnoseSecret(secret: Secret): SecretHint[];

/** Thrown when a delivery cannot be verified. */
export class WebhookVerificationError extends Error {
  constructor(code: WebhookErrorCode, message?: string);
  readonly name: 'WebhookVerificationError';
  /** Stable, machine-readable reason. */
  readonly code: WebhookErrorCode;
}

/** Options of {@link Webhook}. */
export interface WebhookOptions {
  /** How far `webhook-timestamp` may be from this machine's clock, either way (default 300). */
  toleranceSeconds?: number;
  /** Accept the docs' `X-Webhook-Signature` alone (no replay protection). Default `false`. */
  legacy?: boolean;
}

/**
 * Whether an event (or its id) is a test event: its id starts with `evt_test_`. Test events
 * are sent by a customer (or the provider's dashboard) to try an endpoint — never emitted by
 * the provider's systems — and the id is signed with the body (and sent in `webhook-id`), so a
 * verified event's id can be trusted to tell them apart. Act on real events only.
 */
export function isTestEvent(event: { id: string } | string): boolean;

/** A cdhooks event as delivered, with a `data` shape of your choice ({@link CdhooksEvent} is the typed union of the nine types). */
export interface WebhookEvent<D = Record<string, unknown>> {
  /** `evt_…`, the sender's own id, or `evt_test_…` for a test event ({@link isTestEvent}). */
  id: string;
  type: string;
  created_at: string;
  data: D;
}

/**
 * Standard Webhooks verification and signing for one secret, or several while a receiver
 * rotates: `v1` (HMAC-SHA256) entries with secrets, `v1a` (Ed25519) entries with `whpk_`
 * public keys, which only the sender's private key can make. Reads `webhook-id` / `webhook-timestamp` / `webhook-signature`, or Svix's
 * `svix-*` names of the same headers (the `webhook-*` ones win when both are present).
 */
export class Webhook {
  constructor(secret: Secrets, options?: WebhookOptions);
  /**
   * Verifies a delivery and returns its parsed event, typed as {@link CdhooksEvent} (narrow it
   * with `event.type`); throws {@link WebhookVerificationError}.
   */
  verify<E = CdhooksEvent>(payload: Payload, headers: WebhookHeaders): E;
  /**
   * The `v1,<base64>` signature of `payload` for message `id` at `timestamp` (a Date or Unix
   * seconds), with the first secret. Throws a TypeError when that is a public key.
   */
  sign(id: string, timestamp: number | Date, payload: Payload): string;
}

/** A Fetch `Request`, as far as {@link verifyRequest} needs one. */
export interface FetchRequest {
  readonly headers: WebhookHeaders;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * Verifies a Fetch `Request` (Next.js route handlers, Hono, Remix, SvelteKit, Deno.serve,
 * Bun.serve, Cloudflare Workers): reads the raw body once and checks the scheme the request
 * carries — Standard Webhooks headers when present, otherwise the docs' `X-Webhook-Signature`
 * (refused with `legacy: false`). Resolves to the event; rejects with
 * {@link WebhookVerificationError}. The body is consumed: use the event it resolves to.
 */
export function verifyRequest<E = CdhooksEvent>(request: FetchRequest, secret: Secrets, options?: WebhookOptions): Promise<E>;

declare const api: {
  verifyWebhook: typeof verifyWebhook;
  signWebhook: typeof signWebhook;
  verifyRequest: typeof verifyRequest;
  diagnoseSecret: typeof diagnoseSecret;
  isTestEvent: typeof isTestEvent;
  Webhook: typeof Webhook;
  WebhookVerificationError: typeof WebhookVerificationError;
};
export default api;
