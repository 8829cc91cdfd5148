//! Delivery history as the API shows it, and manual retries.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::super::*;
use super::found;
use super::lifecycle::{self, Deliveries};
use crate::domain::delivery;

const SELECT: &str = "SELECT d.seq, d.id, e.id AS event_id, e.type, w.id AS webhook_id, d.status, d.attempt_count,
        d.next_attempt_at, d.last_error, d.created_at, d.updated_at
     FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.seq = d.webhook_seq";

fn record(row: &SqliteRow) -> DeliveryRecord {
    DeliveryRecord {
        id: row.get("id"),
        event_id: row.get("event_id"),
        event_type: row.get("type"),
        webhook_id: row.get("webhook_id"),
        status: DeliveryStatus::parse(row.get("status")).unwrap_or(DeliveryStatus::Pending),
        attempt_count: row.get::<i64, _>("attempt_count") as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        attempts: Vec::new(),
    }
}

async fn attempts(pool: &SqlitePool, delivery_seq: i64) -> StoreResult<Vec<AttemptRecord>> {
    let rows = sqlx::query(
        "SELECT number, started_at, duration_ms, status_code, error_kind, error_message, response_body, url
         FROM attempts WHERE delivery_seq = ? ORDER BY number",
    )
    .bind(delivery_seq)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| AttemptRecord {
            number: row.get::<i64, _>("number") as u32,
            started_at: row.get("started_at"),
            duration_ms: row.get("duration_ms"),
            status_code: row.get::<Option<i64>, _>("status_code").map(|s| s as u16),
            error_kind: row.get("error_kind"),
            error_message: row.get("error_message"),
            response_body: row.get("response_body"),
            url: row.get("url"),
        })
        .collect())
}

pub(super) async fn list(
    pool: &SqlitePool,
    account: &Account,
    webhook_id: &str,
    before: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<DeliveryRecord>> {
    let webhook = sqlx::query("SELECT seq FROM webhooks WHERE account_id = ? AND id = ?")
        .bind(&account.id)
        .bind(webhook_id)
        .fetch_optional(pool)
        .await?;
    let webhook_seq: i64 = found(webhook)?.get(0);
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE d.webhook_seq = ?1
           AND d.seq < COALESCE((SELECT seq FROM deliveries WHERE id = ?2 AND webhook_seq = ?1), 9223372036854775807)
         ORDER BY d.seq DESC LIMIT ?3"
    ))
    .bind(webhook_seq)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut delivery = record(row);
        delivery.attempts = attempts(pool, row.get("seq")).await?;
        out.push(delivery);
    }
    Ok(out)
}

pub(super) async fn get(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
) -> StoreResult<DeliveryRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE d.account_id = ? AND d.id = ?"))
        .bind(&account.id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let row = found(row)?;
    let mut delivery = record(&row);
    delivery.attempts = attempts(pool, row.get("seq")).await?;
    Ok(delivery)
}

/// Queues a failed delivery for a new round of attempts, now, if the rules allow it.
/// Re-queues a webhook's failed deliveries created in the window, as the rules decide.
pub(super) async fn recover(
    pool: &SqlitePool,
    account: &Account,
    webhook_id: &str,
    (from_ms, to_ms): (i64, i64),
    now_ms: i64,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT seq, enabled FROM webhooks WHERE account_id = ? AND id = ?")
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
    let recovered = lifecycle::apply_change(&mut tx, which, change, now_ms).await?;
    tx.commit().await?;
    Ok(recovered)
}

pub(super) async fn retry(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT d.seq, d.status, w.enabled FROM deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
         WHERE d.account_id = ? AND d.id = ?",
    )
    .bind(&account.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = found(row)?;
    let status = DeliveryStatus::parse(row.get("status")).unwrap_or(DeliveryStatus::Pending);
    let change = delivery::manual_retry(status, row.get("enabled"), now_ms)
        .map_err(|refused| StoreError::InvalidState(refused.message()))?;
    lifecycle::apply_change(&mut tx, Deliveries::One(row.get("seq")), change, now_ms).await?;
    tx.commit().await?;
    Ok(())
}
