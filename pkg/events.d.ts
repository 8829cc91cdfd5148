// Generated from the Rust core (the event catalog and the error codes) by
// crates/core/tests/typescript.rs; `make types` rewrites it. Do not edit.

/** `data` of `server.created`: New server provisioned. */
export interface ServerCreatedData {
  name: string;
  plan: string;
  region: string;
  server_id: string;
  status: string;
}

/** `data` of `server.started`: Server powered on. */
export interface ServerStartedData {
  ip: string;
  name: string;
  server_id: string;
  status: string;
}

/** `data` of `server.stopped`: Server powered off. */
export interface ServerStoppedData {
  name: string;
  server_id: string;
  status: string;
}

/** `data` of `server.rebooted`: Server rebooted. */
export interface ServerRebootedData {
  name: string;
  server_id: string;
  status: string;
}

/** `data` of `server.error`: Server encountered an error. */
export interface ServerErrorData {
  error: string;
  message: string;
  name: string;
  server_id: string;
  status: string;
}

/** `data` of `server.backup.completed`: Backup finished. */
export interface ServerBackupCompletedData {
  backup_id: string;
  server_id: string;
  size_bytes: number;
}

/** `data` of `billing.payment.succeeded`: Payment processed. */
export interface BillingPaymentSucceededData {
  amount: number;
  currency: string;
  invoice_id: string;
  payment_id: string;
}

/** `data` of `billing.payment.failed`: Payment failed. */
export interface BillingPaymentFailedData {
  amount: number;
  currency: string;
  payment_id: string;
  reason: string;
}

/** `data` of `billing.subscription.cancelled`: Subscription cancelled. */
export interface BillingSubscriptionCancelledData {
  cancelled_at: string;
  plan: string;
  subscription_id: string;
}

/** Every event a cdhooks server delivers, told apart by `type`. */
export type CdhooksEvent =
  | { id: string; type: 'server.created'; created_at: string; data: ServerCreatedData }
  | { id: string; type: 'server.started'; created_at: string; data: ServerStartedData }
  | { id: string; type: 'server.stopped'; created_at: string; data: ServerStoppedData }
  | { id: string; type: 'server.rebooted'; created_at: string; data: ServerRebootedData }
  | { id: string; type: 'server.error'; created_at: string; data: ServerErrorData }
  | { id: string; type: 'server.backup.completed'; created_at: string; data: ServerBackupCompletedData }
  | { id: string; type: 'billing.payment.succeeded'; created_at: string; data: BillingPaymentSucceededData }
  | { id: string; type: 'billing.payment.failed'; created_at: string; data: BillingPaymentFailedData }
  | { id: string; type: 'billing.subscription.cancelled'; created_at: string; data: BillingSubscriptionCancelledData };

/** The event type names. */
export type EventType = CdhooksEvent['type'];

/** The event of one type, e.g. `EventOf<'billing.payment.failed'>`. */
export type EventOf<T extends EventType> = Extract<CdhooksEvent, { type: T }>;

/** Stable codes of `WebhookVerificationError`. */
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
