//! The email outbox as the mailer works it: claims under their own leases, sends and failures
//! recorded under the claim, dead letters kept for operators.
//!
//! The SQL is the same on both stores (numbered parameters, see `statements`) but for the
//! claim's row lock, so it is written once, here, and `impl_outbox!` puts it on each store.

use async_trait::async_trait;

use super::*;

/// The email outbox, as the mailer works it.
#[async_trait]
pub trait Outbox: Send + Sync {
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
}

/// The columns of an email as [`outbox_email`] reads them.
pub(super) const EMAIL_COLUMNS: &str =
    "id, CAST(tries AS BIGINT) AS tries, recipient, subject, body, created_at";

/// An email of the outbox from a row of [`EMAIL_COLUMNS`], claimed with `claim_token`.
pub(super) fn outbox_email<R>(row: &R, claim_token: u64) -> OutboxEmail
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    OutboxEmail {
        id: row.get("id"),
        claim_token,
        tries: row.get::<i64, _>("tries") as u32,
        email: crate::domain::email::Email {
            recipient: row.get("recipient"),
            subject: row.get("subject"),
            body: row.get("body"),
        },
        created_at: row.get("created_at"),
    }
}

/// Implements [`Outbox`] for a store whose pools are the fields `$reads` and `$writes`;
/// `$lock` is the claim's row lock (PostgreSQL's `FOR UPDATE SKIP LOCKED`, so processes
/// claiming at once skip each other's rows; none on SQLite, whose one writer is alone).
macro_rules! impl_outbox {
    ($store:ty, reads: $reads:ident, writes: $writes:ident, lock: $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::outbox::Outbox for $store {
            async fn claim_emails(
                &self,
                now_ms: i64,
                claim: $crate::store::EmailClaim,
            ) -> $crate::store::StoreResult<Vec<$crate::store::OutboxEmail>> {
                let statement = format!(
                    concat!(
                        "UPDATE emails SET claim_token = $1, claimed_until = $2
                         WHERE id IN (SELECT id FROM emails
                                      WHERE sent_at IS NULL AND dead_at IS NULL AND next_try_at <= $3
                                        AND (claim_token IS NULL OR claimed_until < $3)
                                      ORDER BY next_try_at, created_at LIMIT $4 ",
                        $lock,
                        ") RETURNING {}"
                    ),
                    $crate::store::outbox::EMAIL_COLUMNS
                );
                let rows = sqlx::query(&statement)
                    .bind(claim.token as i64)
                    .bind(claim.until_ms)
                    .bind(now_ms)
                    .bind(i64::from(claim.max))
                    .fetch_all(&self.$writes)
                    .await?;
                let mut emails: Vec<$crate::store::OutboxEmail> = rows
                    .iter()
                    .map(|row| $crate::store::outbox::outbox_email(row, claim.token))
                    .collect();
                emails.sort_by_key(|e| e.created_at);
                Ok(emails)
            }

            async fn email_sent(
                &self,
                id: &str,
                claim_token: u64,
                now_ms: i64,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "UPDATE emails SET sent_at = $1, tries = tries + 1,
                            claim_token = NULL, claimed_until = NULL
                     WHERE id = $2 AND claim_token = $3",
                )
                .bind(now_ms)
                .bind(id)
                .bind(claim_token as i64)
                .execute(&self.$writes)
                .await?;
                Ok(())
            }

            async fn email_failed(
                &self,
                id: &str,
                claim_token: u64,
                error: &str,
                next: $crate::domain::email::EmailNext,
                now_ms: i64,
            ) -> $crate::store::StoreResult<()> {
                use $crate::domain::email::EmailNext;
                let (next_try_at, dead_at) = match next {
                    EmailNext::RetryAt(at) => (Some(at), None),
                    EmailNext::Dead => (None, Some(now_ms)),
                };
                sqlx::query(
                    "UPDATE emails SET tries = tries + 1, last_error = $1,
                            next_try_at = COALESCE($2, next_try_at), dead_at = $3,
                            claim_token = NULL, claimed_until = NULL
                     WHERE id = $4 AND claim_token = $5",
                )
                .bind(error)
                .bind(next_try_at)
                .bind(dead_at)
                .bind(id)
                .bind(claim_token as i64)
                .execute(&self.$writes)
                .await?;
                Ok(())
            }

            async fn dead_emails(
                &self,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::OutboxEmail>> {
                let statement = format!(
                    "SELECT {} FROM emails
                     WHERE dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT $1",
                    $crate::store::outbox::EMAIL_COLUMNS
                );
                let rows = sqlx::query(&statement)
                    .bind(i64::from(limit))
                    .fetch_all(&self.$reads)
                    .await?;
                Ok(rows
                    .iter()
                    .map(|row| $crate::store::outbox::outbox_email(row, 0))
                    .collect())
            }
        }
    };
}
pub(super) use impl_outbox;
