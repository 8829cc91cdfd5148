//! The delivery lifecycle on PostgreSQL, as `domain::delivery` decides: disabling and enabling
//! a webhook (pausing and resuming its deliveries, queueing the owner's email once), recovering
//! failed deliveries and retrying one — every change conditional on the current status.

use sqlx::{PgPool, Row};

use super::super::*;
use super::engine::Tx;
use super::found;
use crate::domain::delivery::{self, BulkChange};
use crate::domain::new_id;

/// Disables the webhook if it is still enabled; only then pauses its pending deliveries and
/// queues the email (if any), so concurrent final failures send exactly one.
pub(super) async fn disable_webhook(
    tx: &mut Tx<'_>,
    webhook_seq: i64,
    reason: &str,
    email: Option<&crate::domain::email::Email>,
    now_ms: i64,
) -> StoreResult<bool> {
    let disabled = sqlx::query(
        "UPDATE webhooks SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, updated_at = $2
         WHERE seq = $3 AND enabled",
    )
    .bind(reason)
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_disabled(),
        now_ms,
    )
    .await?;
    if let Some(email) = email {
        sqlx::query(
            "INSERT INTO emails (id, recipient, subject, body, created_at, next_try_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(new_id("eml_"))
        .bind(&email.recipient)
        .bind(&email.subject)
        .bind(&email.body)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// Enables the webhook if it is disabled and resumes its paused deliveries.
pub(super) async fn enable_webhook(
    tx: &mut Tx<'_>,
    webhook_seq: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let enabled = sqlx::query(
        "UPDATE webhooks SET enabled = TRUE, disabled_reason = NULL, disabled_at = NULL, updated_at = $1
         WHERE seq = $2 AND NOT enabled",
    )
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if enabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_enabled(now_ms),
        now_ms,
    )
    .await?;
    Ok(true)
}

/// Which deliveries a decided change applies to.
#[derive(Debug, Clone, Copy)]
enum Deliveries {
    /// Every delivery of this webhook (by its key).
    OfWebhook(i64),
    /// This one delivery (by its key).
    One(i64),
    /// The deliveries of this webhook (by its key) created in `[from_ms, to_ms)`.
    OfWebhookCreated {
        /// The webhook's key.
        webhook: i64,
        /// Start of the window, Unix ms.
        from_ms: i64,
        /// End of the window (excluded), Unix ms.
        to_ms: i64,
    },
}

/// Applies a decided change to the deliveries still in `change.from`.
async fn apply_change(
    tx: &mut Tx<'_>,
    which: Deliveries,
    change: BulkChange,
    now_ms: i64,
) -> StoreResult<u64> {
    let (column, key, from_ms, to_ms) = match which {
        Deliveries::OfWebhook(seq) => ("webhook_seq", seq, i64::MIN, i64::MAX),
        Deliveries::One(seq) => ("seq", seq, i64::MIN, i64::MAX),
        Deliveries::OfWebhookCreated {
            webhook,
            from_ms,
            to_ms,
        } => ("webhook_seq", webhook, from_ms, to_ms),
    };
    Ok(sqlx::query(&format!(
        "UPDATE deliveries SET status = $1, next_attempt_at = $2,
                round_base = CASE WHEN $3 THEN attempt_count ELSE round_base END, updated_at = $4
         WHERE {column} = $5 AND status = $6 AND created_at >= $7 AND created_at < $8"
    ))
    .bind(change.to.as_str())
    .bind(change.due_at)
    .bind(change.new_round)
    .bind(now_ms)
    .bind(key)
    .bind(change.from.as_str())
    .bind(from_ms)
    .bind(to_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Re-queues a webhook's failed deliveries created in the window, as the rules decide.
pub(super) async fn recover(
    pool: &PgPool,
    account: &Account,
    webhook_id: &str,
    (from_ms, to_ms): (i64, i64),
    now_ms: i64,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT seq, enabled FROM webhooks WHERE account_id = $1 AND id = $2 FOR SHARE",
    )
    .bind(&account.id)
    .bind(webhook_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let change = delivery::recover_failed(row.get("enabled"), now_ms);
    let which = Deliveries::OfWebhookCreated {
        webhook: row.get("seq"),
        from_ms,
        to_ms,
    };
    let recovered = apply_change(&mut tx, which, change, now_ms).await?;
    tx.commit().await?;
    Ok(recovered)
}

/// Queues a failed delivery for a new round of attempts, now, if the rules allow it.
pub(super) async fn retry(
    pool: &PgPool,
    account: &Account,
    id: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT d.seq, d.status, w.enabled FROM deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
         WHERE d.account_id = $1 AND d.id = $2 FOR SHARE OF w",
    )
    .bind(&account.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = found(row)?;
    let status = DeliveryStatus::parse(row.get("status")).unwrap_or(DeliveryStatus::Pending);
    let change = delivery::manual_retry(status, row.get("enabled"), now_ms)
        .map_err(|refused| StoreError::InvalidState(refused.message()))?;
    apply_change(&mut tx, Deliveries::One(row.get("seq")), change, now_ms).await?;
    tx.commit().await?;
    Ok(())
}
