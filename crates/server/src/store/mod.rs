//! Persistence: one interface, [`Store`] (with its [`Directory`] role for accounts, platform
//! keys and portal sessions, and its [`EventTypes`] role for the event catalog), and its two implementations: the embedded SQLite file
//! (`sqlite`) and PostgreSQL shared by several server processes (`postgres`). The store
//! contract suite (`tests/store_contract.rs`) runs against both. The engine assumes nothing
//! of either:
//! - a claimed delivery carries a lease (`claimed_until`) and a claim token, and every later
//!   change to it is conditional on that token — a worker that lost its lease changes nothing;
//! - claims follow `domain::claim`: per-webhook limits counted over every process, webhooks
//!   served round-robin, only what can start at once;
//! - an event and its deliveries are written in one transaction, before the API answers; a
//!   write that fails reports [`StoreError::Full`] or [`StoreError::Unavailable`] and leaves
//!   nothing half-written or falsely acknowledged;
//! - the decisions (what an attempt, a disable, a resume or a manual retry does) come from
//!   `domain::delivery`; a store loads what they need and applies them as conditional writes.
//!   Disabling a webhook, pausing its deliveries and queueing the email happen in the same
//!   transaction that records the final failed attempt.

pub mod directory;
pub mod event_types;
mod migrations;
pub mod model;
pub mod postgres;
pub mod sqlite;
pub(crate) mod statements;

use async_trait::async_trait;

pub use directory::Directory;
pub use event_types::EventTypes;
pub use model::*;

use crate::domain::email::EmailNext;
use crate::domain::event::NewEvent;
use crate::domain::inbox::InboxKeep;
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
    /// The account holds as many of these (`API keys`, `inboxes`) as it may.
    #[error("the account holds the most {0} it may")]
    LimitReached(&'static str),
    /// The operation does not fit the object's state (e.g. retrying a succeeded delivery).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The disk or the database is full; nothing of the operation was written.
    #[error("storage full: {0}")]
    Full(String),
    /// The database failed or cannot be reached (or the store is stopping); nothing of the
    /// operation was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Another server process holds the embedded store's data dir.
    #[error("another cdhooks server is using {0}")]
    Locked(String),
    /// Migrations failed (what the migrator said).
    #[error("migration: {0}")]
    Migration(String),
}

impl StoreError {
    /// The same failure again, for every caller of a batch that failed as a whole.
    pub fn for_another_caller(&self) -> StoreError {
        match self {
            StoreError::Full(message) => StoreError::Full(message.clone()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }

    /// Whether the failure is the storage's (full or unavailable), not the request's.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_)
                | StoreError::Unavailable(_)
                | StoreError::Locked(_)
                | StoreError::Migration(_)
        )
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(error.to_string())
    }
}

/// SQLite's primary result code for a full disk or database (`SQLITE_FULL`).
const SQLITE_FULL: i64 = 13;
/// PostgreSQL's SQLSTATE class 53 (insufficient resources): disk full, out of memory.
const POSTGRES_INSUFFICIENT_RESOURCES: &str = "53";

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let full = match &error {
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.parse::<i64>().is_ok_and(|n| n & 0xff == SQLITE_FULL)
                    || code.starts_with(POSTGRES_INSUFFICIENT_RESOURCES)
            }),
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        };
        if full {
            StoreError::Full(error.to_string())
        } else {
            StoreError::Unavailable(error.to_string())
        }
    }
}

/// The error of a store whose writer stopped (the server is shutting down).
pub fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store is shutting down".to_owned())
}

/// Result alias of the store layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists.
#[async_trait]
pub trait Store: Directory + EventTypes + Send + Sync + 'static {
    /// Closes the store's connections (after the server's tasks stopped).
    async fn close(&self);

    /// Raised when another process announces new due work, for a store shared by several
    /// processes; `None` for a store only this process writes to.
    fn work_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// The channel that relays live events between processes sharing the store; `None` for
    /// a store only this process uses.
    fn live_relay(&self) -> Option<crate::live::LiveRelay> {
        None
    }

    /// One webhook's current signing secret whose stored form matches the SQL
    /// `LIKE` pattern (`domain::sealing::SEALED_LIKE`), if any: the server proves at start
    /// that it can open what it holds.
    async fn secret_like(&self, pattern: &str) -> StoreResult<Option<WebhookSecret>>;

    /// The Ed25519 signing key of a webhook signed with `v1a` and its rotated-out keys (as
    /// stored: sealed when the server seals secrets); none for an HMAC-only or unknown webhook.
    async fn webhook_signing_keys(
        &self,
        webhook_id: &str,
    ) -> StoreResult<(Option<WebhookSecret>, Vec<PreviousSecret>)>;

    /// Creates an account at `now_ms` and returns it; `key` is the digest of its first key,
    /// which may do everything for the account (`full`: the command line's accounts, for a
    /// server run by one party for itself).
    async fn create_account(
        &self,
        email: &str,
        key: &crate::domain::api_key::KeyDigest,
        now_ms: i64,
    ) -> StoreResult<Account> {
        let account = crate::domain::account::NewAccount {
            email: email.to_owned(),
            name: None,
            external_id: None,
        };
        let (record, _) = self
            .open_account(&account, key, crate::domain::access::KeyScope::Full, now_ms)
            .await?;
        Ok(record.account())
    }
    /// An account by id (`NotFound` if none).
    async fn account(&self, id: &str) -> StoreResult<Account>;
    /// Adds a named key to the account, unless it holds `max_keys` keys already
    /// (`LimitReached`).
    async fn create_api_key(
        &self,
        account: &Account,
        name: &str,
        scope: crate::domain::access::KeyScope,
        key: &crate::domain::api_key::KeyDigest,
        now_ms: i64,
        max_keys: u32,
    ) -> StoreResult<ApiKeyRecord>;
    /// The account's keys that are not revoked, oldest first.
    async fn list_api_keys(&self, account: &Account) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes a key of the account, unless the rules of `domain::api_key::may_revoke` forbid
    /// it (`Conflict`; `callers_key_hash` is the key the request is made with); returns the
    /// revoked key's hash.
    async fn revoke_api_key(
        &self,
        account: &Account,
        id: &str,
        callers_key_hash: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<String>;
    /// Notes that a key was used (at most one write a minute per key).
    async fn touch_api_key(&self, key_hash: &str, now_ms: i64) -> StoreResult<()>;
    /// Finds the account whose key (not revoked) hashes to `api_key_hash`, and the key's scope.
    async fn account_key(
        &self,
        api_key_hash: &str,
    ) -> StoreResult<Option<(Account, crate::domain::access::KeyScope)>>;
    /// Finds the account whose key hashes to `api_key_hash`.
    async fn account_by_key_hash(&self, api_key_hash: &str) -> StoreResult<Option<Account>> {
        Ok(self
            .account_key(api_key_hash)
            .await?
            .map(|(account, _)| account))
    }

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
    /// Attempts in flight at `now_ms` (unexpired leases, any process's) of those of the
    /// account's webhooks `ids` that have any, by webhook id.
    async fn attempts_in_flight(
        &self,
        account: &Account,
        ids: &[String],
        now_ms: i64,
    ) -> StoreResult<std::collections::HashMap<String, u32>>;
    /// Applies a change; enabling resumes paused deliveries, disabling pauses pending ones.
    async fn update_webhook(
        &self,
        account: &Account,
        id: &str,
        change: WebhookChange,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Replaces the signing secret; the old one signs until `grace_until_ms`, and earlier
    /// ones until their own grace ends (`domain::webhook::previous_after_rotation`;
    /// `InvalidState` past its limit).
    async fn rotate_secret(
        &self,
        account: &Account,
        id: &str,
        secret: WebhookSecret,
        grace_until_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Replaces (or gives a webhook its first) Ed25519 signing key, as [`Store::rotate_secret`]
    /// does the secret: the old key signs until `grace_until_ms`.
    async fn rotate_signing_key(
        &self,
        account: &Account,
        id: &str,
        key: WebhookSecret,
        grace_until_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<WebhookRecord>;
    /// Deletes a webhook and its deliveries.
    async fn delete_webhook(&self, account: &Account, id: &str) -> StoreResult<()>;

    /// Stores an event and fans it out to every subscribed webhook, in one transaction.
    /// With a `lease`, up to `lease.max` of the new deliveries are claimed for this process
    /// and returned, so they can be sent without another query — only for webhooks with a
    /// free slot and no older due delivery waiting (their order is kept).
    async fn insert_event(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
    ) -> StoreResult<InsertedEvent>;
    /// Stores several events (of any accounts) and fans each out, in one transaction: all
    /// are stored or none (`Conflict` when an id was used before by its account, or twice in
    /// the batch). Returns how many deliveries each fans out to; none is claimed.
    async fn insert_events_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> StoreResult<Vec<u32>>;
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

    /// Re-queues the webhook's failed deliveries created in `[from_ms, to_ms)` for a fresh
    /// round (paused while the webhook is disabled); returns how many.
    async fn recover_deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> StoreResult<u64>;

    /// Claims up to `lease.max` due deliveries of enabled webhooks for `lease` (of this
    /// process's share of the webhooks, when several share the store), at most
    /// `lease.per_webhook` in flight per webhook (over every holder of a lease), webhooks
    /// served round-robin, each webhook's oldest due first.
    async fn claim_due(&self, now_ms: i64, lease: Lease) -> StoreResult<Vec<ClaimedDelivery>>;
    /// When the next pending, unclaimed delivery falls due, if any — of the webhooks this
    /// process claims for, when several share the store.
    async fn next_due_at(&self) -> StoreResult<Option<i64>>;
    /// Records an attempt's result, applied only if its claim token still holds. With a
    /// `follow_up` (the time now and a lease), claims up to `lease.max` due deliveries in the
    /// same transaction, as [`Store::claim_due`] would: the room the finished attempt frees
    /// goes straight to the next due delivery.
    async fn record_outcome(
        &self,
        outcome: AttemptOutcome,
        follow_up: Option<(i64, Lease)>,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Gives back the claims of attempts a stopping process cut off (`(delivery_seq,
    /// claim_token)` pairs): each delivery, if its claim still holds, is due again at once
    /// for any claimer instead of waiting for its lease to run out. Returns how many.
    async fn release_claims(&self, claims: &[(i64, u64)]) -> StoreResult<u64>;

    /// Proves that the store can write now (a small write, rolled back or removed), for the
    /// readiness check.
    async fn check_writable(&self, now_ms: i64) -> StoreResult<()>;

    /// Claims up to `claim.max` due emails (unsent, not dead-lettered), oldest first.
    async fn claim_emails(&self, now_ms: i64, claim: EmailClaim) -> StoreResult<Vec<OutboxEmail>>;
    /// Marks a claimed email sent; a lost claim changes nothing.
    async fn email_sent(&self, id: &str, claim_token: u64, now_ms: i64) -> StoreResult<()>;
    /// Records a failed try of a claimed email and what follows it (a later try, or the
    /// dead letter); a lost claim changes nothing.
    async fn email_failed(
        &self,
        id: &str,
        claim_token: u64,
        error: &str,
        next: EmailNext,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Emails dead-lettered after repeated failures, newest first (for operators).
    async fn dead_emails(&self, limit: u32) -> StoreResult<Vec<OutboxEmail>>;
    /// Removes up to `limit` events accepted before `cutoff_ms` whose deliveries are all
    /// finished (with those deliveries and their attempts), and inbox captures and sent or
    /// dead-lettered emails older than it; returns how many events went.
    async fn prune(&self, cutoff_ms: i64, limit: u32) -> StoreResult<u64>;
    /// The queue at `now_ms`: pending and due deliveries, the oldest due one, the outbox.
    async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats>;

    /// Creates an inbox for the account and returns its token, unless the account holds
    /// `max_inboxes` already (`LimitReached`).
    async fn create_inbox(
        &self,
        account: &Account,
        now_ms: i64,
        max_inboxes: u32,
    ) -> StoreResult<String>;
    /// The account an inbox token belongs to, if any (a read: checked before a body is taken).
    async fn inbox_owner(&self, token: &str) -> StoreResult<Option<String>>;
    /// Records a request that reached an inbox, keeping only its newest captures within
    /// `keep`, and returns the owning account's id; `NotFound` for an unknown token, `Full`
    /// when captures may not take more of a capped database (`domain::inbox::may_capture`).
    async fn record_inbox_request(
        &self,
        request: InboxRequest,
        keep: InboxKeep,
    ) -> StoreResult<String>;
    /// The requests an inbox of the account captured, newest first.
    async fn inbox_requests(
        &self,
        account: &Account,
        token: &str,
        limit: u32,
    ) -> StoreResult<Vec<InboxRequest>>;
}
