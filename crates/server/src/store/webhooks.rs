//! Webhooks as their owners manage them: registration, changes (whose lifecycle side effects —
//! pausing and resuming deliveries — the change's method names), secret and key rotation, and
//! the secrets the engine and the start-up check read.

use async_trait::async_trait;

use super::*;

/// Webhooks, their secrets and keys.
#[async_trait]
pub trait Webhooks: Send + Sync {
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

    /// Replaces (or gives a webhook its first) Ed25519 signing key, as [`Webhooks::rotate_secret`]
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
}
