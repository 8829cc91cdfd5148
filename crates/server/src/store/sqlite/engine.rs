//! The delivery engine's queries: claiming due deliveries under a lease, and applying an
//! attempt's outcome — conditional on the claim token, so a worker whose lease expired and
//! was taken over changes nothing.

use bytes::Bytes;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::super::*;
use crate::domain::new_id;

/// Claims up to `lease.max` due deliveries of enabled webhooks, oldest due first.
pub(super) async fn claim_due(
    pool: &SqlitePool,
    now_ms: i64,
    lease: Lease,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let mut tx = pool.begin().await?;
    let claimed = sqlx::query(
        "UPDATE deliveries SET claim_token = ?, claimed_until = ?
         WHERE seq IN (
             SELECT d.seq FROM deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
             WHERE d.status = 'pending' AND d.next_attempt_at <= ?
               AND (d.claimed_until IS NULL OR d.claimed_until < ?) AND w.enabled = 1
             ORDER BY d.next_attempt_at LIMIT ?)",
    )
    .bind(lease.token as i64)
    .bind(lease.until_ms)
    .bind(now_ms)
    .bind(now_ms)
    .bind(lease.max)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT d.seq, d.id, d.attempt_count, d.round_base, e.id AS event_id, e.type, e.body,
                w.seq AS webhook_seq, w.id AS webhook_id, w.url, w.secret, a.email, d.account_id
         FROM deliveries d
         JOIN events e ON e.seq = d.event_seq
         JOIN webhooks w ON w.seq = d.webhook_seq
         JOIN accounts a ON a.id = d.account_id
         WHERE d.claim_token = ? AND d.claimed_until = ?",
    )
    .bind(lease.token as i64)
    .bind(lease.until_ms)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|row| ClaimedDelivery {
            seq: row.get("seq"),
            id: row.get("id"),
            claim_token: lease.token,
            attempt_count: row.get::<i64, _>("attempt_count") as u32,
            round_base: row.get::<i64, _>("round_base") as u32,
            event_id: row.get("event_id"),
            event_type: row.get("type"),
            body: Bytes::from(row.get::<Vec<u8>, _>("body")),
            webhook_seq: row.get("webhook_seq"),
            webhook_id: row.get("webhook_id"),
            url: row.get("url"),
            secret: row.get("secret"),
            account_id: row.get("account_id"),
            account_email: row.get("email"),
        })
        .collect())
}

/// When the next pending delivery falls due.
pub(super) async fn next_due_at(pool: &SqlitePool) -> StoreResult<Option<i64>> {
    let row = sqlx::query("SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND claim_token IS NULL")
        .fetch_one(pool)
        .await?;
    Ok(row.get(0))
}

/// Releases every claim (start-up of the only process using this file).
pub(super) async fn release_all_claims(pool: &SqlitePool) -> StoreResult<u64> {
    Ok(sqlx::query("UPDATE deliveries SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL")
        .execute(pool)
        .await?
        .rows_affected())
}

/// Records one attempt and moves its delivery on, if the claim still holds.
pub(super) async fn apply_outcome(
    tx: &mut Transaction<'static, Sqlite>,
    outcome: &AttemptOutcome,
) -> StoreResult<()> {
    let attempt = &outcome.attempt;
    let now_ms = attempt.started_at + attempt.duration_ms;
    let (status, next_at): (&str, Option<i64>) = match &outcome.next {
        NextStep::Succeeded => ("succeeded", None),
        NextStep::RetryAt(at) => ("pending", Some(*at)),
        NextStep::GiveUp { .. } => ("failed", None),
    };
    let last_error = attempt.error_message.as_deref();
    // A retry of a webhook that got disabled meanwhile waits, paused, for it to be enabled.
    let updated = sqlx::query(
        "UPDATE deliveries SET
            status = CASE WHEN ?1 = 'pending'
                          AND (SELECT enabled FROM webhooks w WHERE w.seq = deliveries.webhook_seq) = 0
                     THEN 'paused' ELSE ?1 END,
            next_attempt_at = ?2, attempt_count = ?3, last_error = ?4, updated_at = ?5,
            claim_token = NULL, claimed_until = NULL
         WHERE seq = ?6 AND claim_token = ?7",
    )
    .bind(status)
    .bind(next_at)
    .bind(attempt.number)
    .bind(last_error)
    .bind(now_ms)
    .bind(outcome.delivery_seq)
    .bind(outcome.claim_token as i64)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if updated == 0 {
        tracing::warn!(
            delivery = outcome.delivery_seq,
            "attempt result dropped: the claim was lost"
        );
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO attempts (delivery_seq, number, started_at, duration_ms, status_code, error_kind,
                               error_message, response_body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(outcome.delivery_seq)
    .bind(attempt.number)
    .bind(attempt.started_at)
    .bind(attempt.duration_ms)
    .bind(attempt.status_code)
    .bind(&attempt.error_kind)
    .bind(&attempt.error_message)
    .bind(&attempt.response_body)
    .execute(&mut **tx)
    .await?;
    if let NextStep::GiveUp {
        webhook_seq,
        reason,
        email,
    } = &outcome.next
    {
        disable_webhook(tx, *webhook_seq, reason, email, now_ms).await?;
    }
    Ok(())
}

/// Disables the webhook if it is still enabled; only then pauses its pending deliveries and
/// queues the email, so concurrent final failures send exactly one.
async fn disable_webhook(
    tx: &mut Transaction<'static, Sqlite>,
    webhook_seq: i64,
    reason: &str,
    email: &crate::domain::email::Email,
    now_ms: i64,
) -> StoreResult<()> {
    let disabled = sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?
         WHERE seq = ? AND enabled = 1",
    )
    .bind(reason)
    .bind(now_ms)
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE deliveries SET status = 'paused', next_attempt_at = NULL WHERE webhook_seq = ? AND status = 'pending'")
        .bind(webhook_seq)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO emails (id, recipient, subject, body, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(new_id("eml_"))
    .bind(&email.recipient)
    .bind(&email.subject)
    .bind(&email.body)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
