//! The email outbox as the mailer works it: claims under their own leases, sends and failures
//! recorded under the claim, dead letters kept for operators.

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
