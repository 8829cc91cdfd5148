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

    /// Applies a change, and with it the deliveries' lifecycle: enabling resumes the webhook's
    /// paused deliveries, disabling pauses its pending ones.
    async fn update_webhook_and_deliveries(
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

/// The columns of a webhook as [`webhook_from`] reads them.
pub(super) const WEBHOOK_COLUMNS: &str = "id, url, events, description, secret, enabled, disabled_reason, disabled_at, created_at, updated_at, previous_secrets, signing_key, previous_signing_keys, CAST(failure_streak AS BIGINT) AS failure_streak, held_until, filter";

/// A webhook from a row of [`WEBHOOK_COLUMNS`] (its attempts in flight not counted).
pub(super) fn webhook_from<R>(row: &R) -> WebhookRecord
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    WebhookRecord {
        id: row.get("id"),
        url: row.get("url"),
        events: serde_json::from_str(&row.get::<String, _>("events")).unwrap_or_default(),
        description: row.get("description"),
        secret: WebhookSecret::from_stored(row.get("secret")),
        enabled: row.get("enabled"),
        disabled_reason: row.get("disabled_reason"),
        disabled_at: row.get("disabled_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        previous_secrets: PreviousSecret::list_from_stored(row.get("previous_secrets")),
        signing_key: row
            .get::<Option<String>, _>("signing_key")
            .map(WebhookSecret::from_stored),
        previous_signing_keys: PreviousSecret::list_from_stored(row.get("previous_signing_keys")),
        filter: crate::domain::filter::EventFilter::from_stored(
            row.get::<Option<String>, _>("filter").as_deref(),
        ),
        health: crate::domain::health::Health {
            failure_streak: row.get::<i64, _>("failure_streak") as u32,
            held_until: row.get("held_until"),
        },
        attempts_in_flight: 0,
    }
}

/// A webhook's event types as stored (a JSON array).
pub(super) fn events_json(events: &[String]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned())
}

/// Implements [`Webhooks`] for a store whose pools are the fields `$reads` and `$writes`; the
/// statements are the same on both stores (numbered parameters, see `statements`) but for:
/// `$lock` and `$lock_no_key`, the row locks of a rotation or deletion and of a change
/// (PostgreSQL's `FOR UPDATE` and `FOR NO KEY UPDATE`, which lets deliveries still be queued
/// for the webhook meanwhile; none on SQLite, whose one writer is alone); `$cleanup`, the
/// store's own tables of a webhook's rows (by `webhook_seq`) to empty before it goes;
/// `$in_flight`, the store's count of attempts in flight; and `$lifecycle`, the module of the
/// store's `lifecycle_statements!`.
macro_rules! impl_webhooks {
    ($store:ty, reads: $reads:ident, writes: $writes:ident, lock: $lock:literal,
     lock_no_key: $lock_no_key:literal, cleanup: $cleanup:expr, in_flight: $in_flight:expr,
     lifecycle: $lifecycle:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::webhooks::Webhooks for $store {
            async fn secret_like(
                &self,
                pattern: &str,
            ) -> $crate::store::StoreResult<Option<$crate::store::WebhookSecret>> {
                let stored: Option<String> =
                    sqlx::query_scalar($crate::store::statements::SECRET_LIKE)
                        .bind(pattern)
                        .fetch_optional(&self.$reads)
                        .await?;
                Ok(stored.map($crate::store::WebhookSecret::from_stored))
            }

            async fn webhook_signing_keys(
                &self,
                webhook_id: &str,
            ) -> $crate::store::StoreResult<(
                Option<$crate::store::WebhookSecret>,
                Vec<$crate::store::PreviousSecret>,
            )> {
                use sqlx::Row as _;
                let stored = sqlx::query($crate::store::statements::SIGNING_KEYS)
                    .bind(webhook_id)
                    .fetch_optional(&self.$reads)
                    .await?;
                Ok(stored.map_or_else(Default::default, |row| {
                    (
                        row.get::<Option<String>, _>("signing_key")
                            .map($crate::store::WebhookSecret::from_stored),
                        $crate::store::PreviousSecret::list_from_stored(
                            row.get("previous_signing_keys"),
                        ),
                    )
                }))
            }

            async fn create_webhook(
                &self,
                account: &$crate::store::Account,
                webhook: $crate::store::NewWebhook,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                let row = sqlx::query(&format!(
                    "INSERT INTO webhooks (id, account_id, url, events, description, secret, created_at, updated_at, signing_key, filter)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9) RETURNING {}",
                    $crate::store::webhooks::WEBHOOK_COLUMNS
                ))
                .bind($crate::domain::new_id(cdhooks_core::event::WEBHOOK_ID_PREFIX))
                .bind(&account.id)
                .bind(webhook.url.as_str())
                .bind($crate::store::webhooks::events_json(&webhook.events))
                .bind(&webhook.description)
                .bind(webhook.secret.expose())
                .bind(now_ms)
                .bind(webhook.signing_key.as_ref().map($crate::store::WebhookSecret::expose))
                .bind(webhook.filter.as_ref().map(|f| f.to_json().to_string()))
                .fetch_one(&self.$writes)
                .await?;
                Ok($crate::store::webhooks::webhook_from(&row))
            }

            async fn list_webhooks(
                &self,
                account: &$crate::store::Account,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::WebhookRecord>> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM webhooks WHERE account_id = $1
                       AND seq > COALESCE((SELECT seq FROM webhooks WHERE id = $2 AND account_id = $1), 0)
                     ORDER BY seq LIMIT $3",
                    $crate::store::webhooks::WEBHOOK_COLUMNS
                ))
                .bind(&account.id)
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows.iter().map($crate::store::webhooks::webhook_from).collect())
            }

            async fn get_webhook(
                &self,
                account: &$crate::store::Account,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM webhooks WHERE account_id = $1 AND id = $2",
                    $crate::store::webhooks::WEBHOOK_COLUMNS
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&self.$reads)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Ok($crate::store::webhooks::webhook_from(&row))
            }

            async fn attempts_in_flight(
                &self,
                account: &$crate::store::Account,
                ids: &[String],
                now_ms: i64,
            ) -> $crate::store::StoreResult<std::collections::HashMap<String, u32>> {
                if ids.is_empty() {
                    return Ok(Default::default());
                }
                ($in_flight)(&self.$reads, account, ids, now_ms).await
            }

            async fn update_webhook_and_deliveries(
                &self,
                account: &$crate::store::Account,
                id: &str,
                change: $crate::store::WebhookChange,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                use sqlx::Row as _;
                let mut tx = self.$writes.begin().await?;
                let row = sqlx::query(concat!(
                    "SELECT seq, enabled FROM webhooks WHERE account_id = $1 AND id = $2 ",
                    $lock_no_key
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                let (seq, was_enabled): (i64, bool) = (row.get("seq"), row.get("enabled"));
                sqlx::query(
                    "UPDATE webhooks SET url = COALESCE($1, url), events = COALESCE($2, events),
                            description = CASE WHEN $3 THEN $4 ELSE description END, updated_at = $5,
                            filter = CASE WHEN $6 THEN $7 ELSE filter END
                     WHERE seq = $8",
                )
                .bind(change.url.as_ref().map(|u| u.as_str()))
                .bind(change.events.as_deref().map($crate::store::webhooks::events_json))
                .bind(change.description.is_some())
                .bind(change.description.clone().flatten())
                .bind(now_ms)
                .bind(change.filter.is_some())
                .bind(change.filter.clone().flatten().map(|f| f.to_json().to_string()))
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                match change.enabled {
                    Some(true) if !was_enabled => {
                        $lifecycle::enable_webhook(&mut tx, seq, now_ms).await?;
                    }
                    Some(false) if was_enabled => {
                        $lifecycle::disable_webhook(&mut tx, seq, "disabled by the owner", None, now_ms)
                            .await?;
                    }
                    _ => {}
                }
                let row = sqlx::query(&format!(
                    "SELECT {} FROM webhooks WHERE seq = $1",
                    $crate::store::webhooks::WEBHOOK_COLUMNS
                ))
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::store::webhooks::webhook_from(&row))
            }

            async fn rotate_secret(
                &self,
                account: &$crate::store::Account,
                id: &str,
                secret: $crate::store::WebhookSecret,
                grace_until_ms: Option<i64>,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                use $crate::store::statements::Credential;
                self.rotate_credential(account, id, Credential::Secret, secret, grace_until_ms, now_ms)
                    .await
            }

            async fn rotate_signing_key(
                &self,
                account: &$crate::store::Account,
                id: &str,
                key: $crate::store::WebhookSecret,
                grace_until_ms: Option<i64>,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                use $crate::store::statements::Credential;
                self.rotate_credential(account, id, Credential::SigningKey, key, grace_until_ms, now_ms)
                    .await
            }

            async fn delete_webhook(
                &self,
                account: &$crate::store::Account,
                id: &str,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.$writes.begin().await?;
                let seq: i64 = sqlx::query_scalar(concat!(
                    "SELECT seq FROM webhooks WHERE account_id = $1 AND id = $2 ",
                    $lock
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                sqlx::query(
                    "DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE webhook_seq = $1)",
                )
                .bind(seq)
                .execute(&mut *tx)
                .await?;
                let cleanup: &[&str] = $cleanup;
                for table in cleanup.iter().chain(&["deliveries"]) {
                    sqlx::query(&format!("DELETE FROM {table} WHERE webhook_seq = $1"))
                        .bind(seq)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM webhooks WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        impl $store {
            /// Replaces a webhook's secret or signing key: the rotated-out ones are decided by
            /// the domain from what is stored now, in the transaction that applies them.
            async fn rotate_credential(
                &self,
                account: &$crate::store::Account,
                id: &str,
                credential: $crate::store::statements::Credential,
                value: $crate::store::WebhookSecret,
                grace_until_ms: Option<i64>,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::WebhookRecord> {
                use sqlx::Row as _;
                use $crate::store::{PreviousSecret, StoreError, WebhookSecret};
                let (current_column, previous_column) = credential.columns();
                let mut tx = self.$writes.begin().await?;
                let current = sqlx::query(&format!(
                    concat!(
                        "SELECT {} AS current, {} AS previous FROM webhooks WHERE account_id = $1 AND id = $2 ",
                        $lock
                    ),
                    current_column, previous_column
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(current) = current else {
                    tx.rollback().await?;
                    return Err(StoreError::NotFound);
                };
                let previous = $crate::domain::webhook::previous_after_rotation(
                    current
                        .get::<Option<String>, _>("current")
                        .map(WebhookSecret::from_stored)
                        .as_ref(),
                    &PreviousSecret::list_from_stored(current.get("previous")),
                    grace_until_ms,
                    now_ms,
                );
                let Some(previous) = previous else {
                    tx.rollback().await?;
                    return Err(StoreError::InvalidState(
                        "a webhook signs with at most 10 rotated-out secrets at once; wait for a grace period to end, or rotate with grace_seconds 0",
                    ));
                };
                sqlx::query(credential.rotate_statement())
                    .bind(PreviousSecret::list_to_stored(&previous))
                    .bind(value.expose())
                    .bind(now_ms)
                    .bind(&account.id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let row = sqlx::query(&format!(
                    "SELECT {} FROM webhooks WHERE account_id = $1 AND id = $2",
                    $crate::store::webhooks::WEBHOOK_COLUMNS
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok($crate::store::webhooks::webhook_from(&row))
            }
        }
    };
}
pub(super) use impl_webhooks;
