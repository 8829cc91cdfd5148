//! What customers read back and steer: an event, a webhook's deliveries with their attempts, a
//! manual retry and recovering a window of failures. The statements are the same on both
//! stores (numbered parameters, see `statements`) but for PostgreSQL's row locks, so they are
//! written once, here, and `impl_history!` puts them on each store; what a retry or a recovery
//! changes is decided by `domain::delivery`.

use async_trait::async_trait;

use super::*;

/// Events and deliveries as customers see and steer them.
#[async_trait]
pub trait History: Send + Sync {
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

    /// Queues a failed delivery again, for a new round of attempts, if
    /// `domain::delivery::manual_retry` allows it (`InvalidState` if not).
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
}

/// A delivery's columns as [`delivery_from`] reads them, and the joins they need.
pub(super) const DELIVERY_SELECT: &str = "SELECT d.seq, d.id, e.id AS event_id, e.type, w.id AS webhook_id, d.status,
        CAST(d.attempt_count AS BIGINT) AS attempt_count, d.next_attempt_at, d.last_error,
        d.created_at, d.updated_at
     FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.seq = d.webhook_seq";

/// An attempt's columns as [`attempt_from`] reads them.
const ATTEMPT_COLUMNS: &str = "CAST(number AS BIGINT) AS number, started_at, duration_ms,
     CAST(status_code AS BIGINT) AS status_code, error_kind, error_message, response_body, url";

/// A delivery's attempts, oldest first (`$1` the delivery's seq), as [`attempt_from`] reads them.
pub(super) static ATTEMPTS_OF: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE delivery_seq = $1 ORDER BY number")
});

/// The condition on a delivery `d` that it is on a page of a webhook's deliveries: of the
/// webhook `$1`, older than the delivery `$2` of it (if given). Pages are newest first, `$3`
/// at most.
const PAGE_OF_DELIVERIES: &str = "d.webhook_seq = $1
     AND d.seq < COALESCE((SELECT seq FROM deliveries WHERE id = $2 AND webhook_seq = $1), 9223372036854775807)";

/// A page of a webhook's deliveries ([`PAGE_OF_DELIVERIES`]), as [`delivery_from`] reads them.
pub(super) static PAGE_DELIVERIES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("{DELIVERY_SELECT} WHERE {PAGE_OF_DELIVERIES} ORDER BY d.seq DESC LIMIT $3")
});

/// The attempts of a page of deliveries ([`PAGE_OF_DELIVERIES`]), by delivery and oldest
/// first, as [`attempt_from`] reads them: one statement for the page, not one per delivery.
pub(super) static PAGE_ATTEMPTS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT delivery_seq, {ATTEMPT_COLUMNS}
         FROM attempts WHERE delivery_seq IN (
             SELECT d.seq FROM deliveries d WHERE {PAGE_OF_DELIVERIES} ORDER BY d.seq DESC LIMIT $3)
         ORDER BY delivery_seq, number"
    )
});

/// A delivery from a row of [`DELIVERY_SELECT`], its attempts not read yet.
pub(super) fn delivery_from<R>(row: &R) -> DeliveryRecord
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    DeliveryRecord {
        id: row.get("id"),
        event_id: row.get("event_id"),
        event_type: row.get("type"),
        webhook_id: row.get("webhook_id"),
        status: DeliveryStatus::parse(&row.get::<String, _>("status"))
            .unwrap_or(DeliveryStatus::Pending),
        attempt_count: row.get::<i64, _>("attempt_count") as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        attempts: Vec::new(),
    }
}

/// An attempt from a row of [`ATTEMPTS_OF`].
pub(super) fn attempt_from<R>(row: &R) -> AttemptRecord
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    AttemptRecord {
        number: row.get::<i64, _>("number") as u32,
        started_at: row.get("started_at"),
        duration_ms: row.get("duration_ms"),
        status_code: row.get::<Option<i64>, _>("status_code").map(|s| s as u16),
        error_kind: row.get("error_kind"),
        error_message: row.get("error_message"),
        response_body: row.get("response_body"),
        url: row.get("url"),
    }
}

/// Implements [`History`] for a store whose pools are the fields `$reads` and `$writes`;
/// `$lock_webhook` and `$lock_delivery` keep a webhook's `enabled` from changing while a
/// recovery or a retry decides from it (PostgreSQL's `FOR SHARE`, of the webhook's row in the
/// retry's join; none on SQLite, whose one writer is alone); `$lifecycle` is the module of the
/// store's `lifecycle_statements!`.
macro_rules! impl_history {
    ($store:ty, reads: $reads:ident, writes: $writes:ident, lock_webhook: $lock_webhook:literal,
     lock_delivery: $lock_delivery:literal, lifecycle: $lifecycle:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::history::History for $store {
            async fn get_event(
                &self,
                account: &$crate::store::Account,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::EventRecord> {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT id, type, created_at, body FROM events WHERE account_id = $1 AND id = $2",
                )
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&self.$reads)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Ok($crate::store::EventRecord {
                    id: row.get("id"),
                    event_type: row.get("type"),
                    created_at: row.get("created_at"),
                    body: row.get("body"),
                })
            }

            async fn list_deliveries(
                &self,
                account: &$crate::store::Account,
                webhook_id: &str,
                before: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::DeliveryRecord>> {
                use sqlx::Row as _;
                let webhook_seq: i64 =
                    sqlx::query_scalar("SELECT seq FROM webhooks WHERE account_id = $1 AND id = $2")
                        .bind(&account.id)
                        .bind(webhook_id)
                        .fetch_optional(&self.$reads)
                        .await?
                        .ok_or($crate::store::StoreError::NotFound)?;
                let rows = sqlx::query(&$crate::store::history::PAGE_DELIVERIES)
                    .bind(webhook_seq)
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reads)
                    .await?;
                let mut attempts: std::collections::HashMap<i64, Vec<$crate::store::AttemptRecord>> =
                    std::collections::HashMap::new();
                if !rows.is_empty() {
                    for row in sqlx::query(&$crate::store::history::PAGE_ATTEMPTS)
                        .bind(webhook_seq)
                        .bind(before)
                        .bind(i64::from(limit))
                        .fetch_all(&self.$reads)
                        .await?
                    {
                        attempts
                            .entry(row.get("delivery_seq"))
                            .or_default()
                            .push($crate::store::history::attempt_from(&row));
                    }
                }
                Ok(rows
                    .iter()
                    .map(|row| {
                        let mut delivery = $crate::store::history::delivery_from(row);
                        delivery.attempts =
                            attempts.remove(&row.get::<i64, _>("seq")).unwrap_or_default();
                        delivery
                    })
                    .collect())
            }

            async fn get_delivery(
                &self,
                account: &$crate::store::Account,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::DeliveryRecord> {
                self.delivery_with_attempts(account, id).await
            }

            async fn retry_delivery(
                &self,
                account: &$crate::store::Account,
                id: &str,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::DeliveryRecord> {
                use sqlx::Row as _;
                use $crate::store::{DeliveryStatus, StoreError};
                let mut tx = self.$writes.begin().await?;
                let row = sqlx::query(concat!(
                    "SELECT d.seq, d.status, w.enabled FROM deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
                     WHERE d.account_id = $1 AND d.id = $2 ",
                    $lock_delivery
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                let status = DeliveryStatus::parse(&row.get::<String, _>("status"))
                    .unwrap_or(DeliveryStatus::Pending);
                let change = $crate::domain::delivery::manual_retry(status, row.get("enabled"), now_ms)
                    .map_err(|refused| StoreError::InvalidState(refused.message()))?;
                let which = $crate::store::lifecycle::Deliveries::One(row.get("seq"));
                $lifecycle::apply_change(&mut tx, which, change, now_ms).await?;
                tx.commit().await?;
                // Committed, so any later read sees it (SQLite's readers too: WAL).
                self.delivery_with_attempts(account, id).await
            }

            async fn recover_deliveries(
                &self,
                account: &$crate::store::Account,
                webhook_id: &str,
                from_ms: i64,
                to_ms: i64,
                now_ms: i64,
            ) -> $crate::store::StoreResult<u64> {
                use sqlx::Row as _;
                let mut tx = self.$writes.begin().await?;
                let row = sqlx::query(concat!(
                    "SELECT seq, enabled FROM webhooks WHERE account_id = $1 AND id = $2 ",
                    $lock_webhook
                ))
                .bind(&account.id)
                .bind(webhook_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::NotFound);
                };
                let change = $crate::domain::delivery::recover_failed(row.get("enabled"), now_ms);
                let which = $crate::store::lifecycle::Deliveries::OfWebhookCreated {
                    webhook: row.get("seq"),
                    from_ms,
                    to_ms,
                };
                let recovered = $lifecycle::apply_change(&mut tx, which, change, now_ms).await?;
                tx.commit().await?;
                Ok(recovered)
            }
        }

        impl $store {
            /// One delivery of the account with its attempts.
            async fn delivery_with_attempts(
                &self,
                account: &$crate::store::Account,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::DeliveryRecord> {
                use sqlx::Row as _;
                let row = sqlx::query(&format!(
                    "{} WHERE d.account_id = $1 AND d.id = $2",
                    $crate::store::history::DELIVERY_SELECT
                ))
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&self.$reads)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                let mut delivery = $crate::store::history::delivery_from(&row);
                delivery.attempts = self.attempts_of(row.get("seq")).await?;
                Ok(delivery)
            }

            /// A delivery's attempts, oldest first.
            async fn attempts_of(
                &self,
                delivery_seq: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AttemptRecord>> {
                let rows = sqlx::query(&$crate::store::history::ATTEMPTS_OF)
                    .bind(delivery_seq)
                    .fetch_all(&self.$reads)
                    .await?;
                Ok(rows.iter().map($crate::store::history::attempt_from).collect())
            }
        }
    };
}
pub(super) use impl_history;
