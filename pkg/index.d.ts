/** A raw request body: the exact bytes or text that arrived. */
export type Payload = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** A webhook secret: a string (its UTF-8 bytes, or `whsec_<base64>` for Standard Webhooks) or raw bytes. */
export type Secret = string | Uint8Array;

/** Request headers: a plain object (any letter case; Node's `IncomingHttpHeaders`) or a Fetch `Headers`. */
export type WebhookHeaders =
  | Headers
  | { get(name: string): string | null }
  | Record<string, string | string[] | undefined>;

/**
 * The docs' check: `true` exactly when `signature` (the `X-Webhook-Signature` value) is the
 * lowercase hex HMAC-SHA256 of `payload` under `secret`. Never throws because of what a sender
 * put in a request; throws `TypeError` for a payload that is not raw bytes or text, or a
 * missing or empty secret.
 */
export function verifyWebhook(payload: Payload, signature: string | Uint8Array | null | undefined, secret: Secret): boolean;

/** The lowercase hex HMAC-SHA256 of `payload` under `secret`, as `X-Webhook-Signature` carries it. */
export function signWebhook(payload: Payload, secret: Secret): string;

/** Stable codes of {@link WebhookVerificationError}. */
export type WebhookErrorCode =
  | 'missing_header'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_too_new'
  | 'malformed_signature'
  | 'no_supported_signature'
  | 'signature_mismatch'
  | 'invalid_secret'
  | 'invalid_payload';

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

/** A cdhooks event as delivered. */
export interface WebhookEvent<D = Record<string, unknown>> {
  id: string;
  type: string;
  created_at: string;
  data: D;
}

/** Standard Webhooks v1 verification and signing for one secret. */
export class Webhook {
  constructor(secret: Secret, options?: WebhookOptions);
  /** Verifies a delivery and returns its parsed event; throws {@link WebhookVerificationError}. */
  verify<D = Record<string, unknown>>(payload: Payload, headers: WebhookHeaders): WebhookEvent<D>;
  /** The `v1,<base64>` signature of `payload` for message `id` at `timestampSeconds`. */
  sign(id: string, timestampSeconds: number, payload: Payload): string;
}

declare const api: {
  verifyWebhook: typeof verifyWebhook;
  signWebhook: typeof signWebhook;
  Webhook: typeof Webhook;
  WebhookVerificationError: typeof WebhookVerificationError;
};
export default api;
