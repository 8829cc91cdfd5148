//! The email outbox: emails are claimed under a lease (so several senders never send one
//! twice at once), marked sent, or retried at the time the rules chose, or dead-lettered.

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::super::*;
use crate::domain::email::{Email, EmailNext};

fn record(row: &SqliteRow, claim_token: u64) -> OutboxEmail {
    OutboxEmail {
        id: row.get("id"),
        claim_token,
        tries: row.get::<i64, _>("tries") as u32,
        email: Email {
            recipient: row.get("recipient"),
            subject: row.get("subject"),
            body: row.get("body"),
        },
        created_at: row.get("created_at"),
    }
}

/// Claims due emails, oldest first.
pub(super) async fn claim(
    pool: &SqlitePool,
    now_ms: i64,
    lease: EmailClaim,
) -> StoreResult<Vec<OutboxEmail>> {
    let rows = sqlx::query(
        "UPDATE emails SET claim_token = ?1, claimed_until = ?2
         WHERE id IN (SELECT id FROM emails
                      WHERE sent_at IS NULL AND dead_at IS NULL AND next_try_at <= ?3
                        AND (claim_token IS NULL OR claimed_until < ?3)
                      ORDER BY next_try_at, created_at LIMIT ?4)
         RETURNING id, tries, recipient, subject, body, created_at",
    )
    .bind(lease.token as i64)
    .bind(lease.until_ms)
    .bind(now_ms)
    .bind(lease.max)
    .fetch_all(pool)
    .await?;
    let mut emails: Vec<OutboxEmail> = rows.iter().map(|row| record(row, lease.token)).collect();
    emails.sort_by_key(|e| e.created_at);
    Ok(emails)
}

/// Marks a claimed email sent.
pub(super) async fn sent(
    pool: &SqlitePool,
    id: &str,
    claim_token: u64,
    now_ms: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE emails SET sent_at = ?, tries = tries + 1, claim_token = NULL, claimed_until = NULL
         WHERE id = ? AND claim_token = ?",
    )
    .bind(now_ms)
    .bind(id)
    .bind(claim_token as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed try of a claimed email: due again later, or dead-lettered.
pub(super) async fn failed(
    pool: &SqlitePool,
    id: &str,
    claim_token: u64,
    error: &str,
    next: EmailNext,
    now_ms: i64,
) -> StoreResult<()> {
    let (next_try_at, dead_at) = match next {
        EmailNext::RetryAt(at) => (Some(at), None),
        EmailNext::Dead => (None, Some(now_ms)),
    };
    sqlx::query(
        "UPDATE emails SET tries = tries + 1, last_error = ?, next_try_at = COALESCE(?, next_try_at),
                dead_at = ?, claim_token = NULL, claimed_until = NULL
         WHERE id = ? AND claim_token = ?",
    )
    .bind(error)
    .bind(next_try_at)
    .bind(dead_at)
    .bind(id)
    .bind(claim_token as i64)
    .execute(pool)
    .await?;
    Ok(())
}

/// Dead-lettered emails, newest first.
pub(super) async fn dead(pool: &SqlitePool, limit: u32) -> StoreResult<Vec<OutboxEmail>> {
    let rows = sqlx::query(
        "SELECT id, tries, recipient, subject, body, created_at FROM emails
         WHERE dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT ?",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|row| record(row, 0)).collect())
}
