//! Persistence: one interface, [`Store`], and its embedded SQLite implementation.
//!
//! The interface is shaped for a second backend (PostgreSQL shared by several server
//! processes), so the delivery engine assumes nothing SQLite-only:
//! - a claimed delivery carries a lease (`claimed_until`) and a claim token, and every later
//!   change to it is conditional on that token — a worker that lost its lease changes nothing;
//! - an event and its deliveries are written in one transaction, before the API answers;
//! - disabling a webhook, pausing its deliveries and queueing the email happen in the same
//!   transaction that records the final failed attempt.

pub mod model;
pub mod sqlite;

use async_trait::async_trait;

pub use model::*;

use crate::domain::event::NewEvent;
use crate::domain::webhook::{NewWebhook, WebhookChange, WebhookSecret};

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such object, or it belongs to another account.
    #[error("not found")]
    NotFound,
    /// An object with this id exists already.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The operation does not fit the object's state (e.g. retrying a succeeded delivery).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A batched write failed as a whole; every operation in the batch gets this.
    #[error("database: {0}")]
    BatchFailed(String),
    /// The store is shutting down or its writer stopped.
    #[error("the store's writer is not running")]
    WriterGone,
}

/// Result alias of the store layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates an account and returns it; `api_key_hash` is the SHA-256 of its key.
    async fn create_account(&self, email: &str, api_key_hash: &str) -> StoreResult<Account>;
    /// Finds the account whose key hashes to `api_key_hash`.
    async fn account_by_key_hash(&self, api_key_hash: &str) -> StoreResult<Option<Account>>;

    /// Registers a webhook.
    async fn create_webhook(
        &self,
        account: &Account,
        webhook: NewWebhook,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Lists an account's webhooks after the cursor (a webhook id), oldest first.
    async fn list_webhooks(
        &self,
        account: &Account,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<WebhookRecord>>;
    /// One webhook of the account.
    async fn get_webhook(&self, account: &Account, id: &str) -> StoreResult<WebhookRecord>;
    /// Applies a change; enabling resumes paused deliveries, disabling pauses pending ones.
    async fn update_webhook(
        &self,
        account: &Account,
        id: &str,
        change: WebhookChange,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Replaces the signing secret.
    async fn rotate_secret(
        &self,
        account: &Account,
        id: &str,
        secret: WebhookSecret,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Deletes a webhook and its deliveries.
    async fn delete_webhook(&self, account: &Account, id: &str) -> StoreResult<()>;

    /// Stores an event and fans it out to every subscribed webhook, in one transaction.
    /// With a `lease`, up to `lease.max` of the new deliveries are claimed for this process
    /// and returned, so they can be sent without another query.
    async fn insert_event(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
    ) -> StoreResult<InsertedEvent>;
    /// One event of the account.
    async fn get_event(&self, account: &Account, id: &str) -> StoreResult<EventRecord>;

    /// A webhook's deliveries after the cursor (a delivery id), newest first.
    async fn list_deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// One delivery with its attempts.
    async fn get_delivery(&self, account: &Account, id: &str) -> StoreResult<DeliveryRecord>;
    /// Queues a failed delivery again, for a new round of attempts.
    async fn retry_delivery(
        &self,
        account: &Account,
        id: &str,
        now_ms: i64,
    ) -> StoreResult<DeliveryRecord>;

    /// Claims up to `lease.max` due deliveries of enabled webhooks for `lease`.
    async fn claim_due(&self, now_ms: i64, lease: Lease) -> StoreResult<Vec<ClaimedDelivery>>;
    /// When the next pending delivery falls due, if any.
    async fn next_due_at(&self) -> StoreResult<Option<i64>>;
    /// Records attempt results (batched); each applies only if its claim token still holds.
    async fn record_outcome(&self, outcome: AttemptOutcome) -> StoreResult<()>;
    /// At start-up, releases the claims a previous process left. Only for a store that one
    /// server process uses at a time (the embedded SQLite file, guarded by a lock file);
    /// a shared backend lets leases expire instead.
    async fn release_stale_claims(&self, now_ms: i64) -> StoreResult<u64>;

    /// Emails not yet sent, oldest first.
    async fn unsent_emails(&self, limit: u32) -> StoreResult<Vec<OutboxEmail>>;
    /// Marks an email sent.
    async fn mark_email_sent(&self, id: &str, now_ms: i64) -> StoreResult<()>;
    /// Records a failed sending try.
    async fn mark_email_failed(&self, id: &str, error: &str) -> StoreResult<()>;

    /// Creates an inbox for the account and returns its token.
    async fn create_inbox(&self, account: &Account, now_ms: i64) -> StoreResult<String>;
    /// Records a request that reached an inbox (keeping its latest 100) and returns the
    /// owning account's id; `NotFound` for an unknown token.
    async fn record_inbox_request(&self, request: InboxRequest) -> StoreResult<String>;
    /// The requests an inbox of the account captured, newest first.
    async fn inbox_requests(
        &self,
        account: &Account,
        token: &str,
        limit: u32,
    ) -> StoreResult<Vec<InboxRequest>>;
}
