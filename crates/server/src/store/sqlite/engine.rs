//! The delivery engine's queries: claiming due deliveries under a lease, and applying an
//! attempt's outcome — conditional on the claim token, so a worker whose lease expired and
//! was taken over changes nothing.

use std::collections::HashSet;

use bytes::Bytes;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};

use super::super::*;
use super::statement_chunks;
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

/// Records a batch of attempts and moves each delivery on, if its claim still holds, with a
/// few multi-row statements for the whole batch.
pub(super) async fn apply_outcomes(
    tx: &mut Transaction<'static, Sqlite>,
    outcomes: &[AttemptOutcome],
) -> StoreResult<()> {
    // 1. Move the deliveries on. A retry of a webhook that got disabled meanwhile waits,
    //    paused, for it to be enabled.
    let mut moved = HashSet::with_capacity(outcomes.len());
    for chunk in statement_chunks(outcomes) {
        let mut update = QueryBuilder::new(
            "UPDATE deliveries SET
                status = CASE WHEN v.column3 = 'pending'
                              AND (SELECT enabled FROM webhooks w WHERE w.seq = deliveries.webhook_seq) = 0
                         THEN 'paused' ELSE v.column3 END,
                next_attempt_at = v.column4, attempt_count = v.column5, last_error = v.column6,
                updated_at = v.column7, claim_token = NULL, claimed_until = NULL
             FROM (",
        );
        update.push_values(chunk, |mut row, outcome| {
            let attempt = &outcome.attempt;
            let (status, next_at): (&str, Option<i64>) = match &outcome.next {
                NextStep::Succeeded => ("succeeded", None),
                NextStep::RetryAt(at) => ("pending", Some(*at)),
                NextStep::GiveUp { .. } => ("failed", None),
            };
            row.push_bind(outcome.delivery_seq)
                .push_bind(outcome.claim_token as i64)
                .push_bind(status)
                .push_bind(next_at)
                .push_bind(attempt.number)
                .push_bind(attempt.error_message.as_deref())
                .push_bind(attempt.started_at + attempt.duration_ms);
        });
        update.push(
            ") AS v WHERE deliveries.seq = v.column1 AND deliveries.claim_token = v.column2
             RETURNING deliveries.seq",
        );
        for row in update.build().fetch_all(&mut **tx).await? {
            moved.insert(row.get::<i64, _>(0));
        }
    }
    let (recorded, lost): (Vec<&AttemptOutcome>, Vec<&AttemptOutcome>) = outcomes
        .iter()
        .partition(|outcome| moved.contains(&outcome.delivery_seq));
    for outcome in lost {
        tracing::warn!(
            delivery = outcome.delivery_seq,
            "attempt result dropped: the claim was lost"
        );
    }

    // 2. The attempts' records.
    for chunk in statement_chunks(&recorded) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO attempts (delivery_seq, number, started_at, duration_ms, status_code,
                                   error_kind, error_message, response_body) ",
        );
        insert.push_values(chunk, |mut row, outcome| {
            let attempt = &outcome.attempt;
            row.push_bind(outcome.delivery_seq)
                .push_bind(attempt.number)
                .push_bind(attempt.started_at)
                .push_bind(attempt.duration_ms)
                .push_bind(attempt.status_code)
                .push_bind(attempt.error_kind.as_deref())
                .push_bind(attempt.error_message.as_deref())
                .push_bind(attempt.response_body.as_deref());
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut **tx).await?;
    }

    // 3. The last failure of a webhook disables it (rare, so one by one).
    for outcome in recorded {
        if let NextStep::GiveUp {
            webhook_seq,
            reason,
            email,
        } = &outcome.next
        {
            let now_ms = outcome.attempt.started_at + outcome.attempt.duration_ms;
            disable_webhook(tx, *webhook_seq, reason, email, now_ms).await?;
        }
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
