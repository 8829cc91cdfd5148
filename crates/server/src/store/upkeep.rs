//! What tells operators how a store is, and ends it: the readiness probe, the queue's figures
//! for `/metrics`, and closing at a stop.

use async_trait::async_trait;

use super::*;

/// Readiness, figures and closing.
#[async_trait]
pub trait Upkeep: Send + Sync {
    /// Closes the store's connections (after the server's tasks stopped).
    async fn close(&self);

    /// Proves that the store can write now (a small write, rolled back or removed), for the
    /// readiness check.
    async fn check_writable(&self, now_ms: i64) -> StoreResult<()>;

    /// The queue at `now_ms`: pending and due deliveries, the oldest due one, the outbox.
    async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats>;
}
