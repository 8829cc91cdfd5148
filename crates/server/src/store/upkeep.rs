//! What keeps a store in shape and tells operators how it is: retention, the readiness probe,
//! the queue's figures for `/metrics`, and closing at a stop.

use async_trait::async_trait;

use super::*;

/// Retention, readiness, figures and closing.
#[async_trait]
pub trait Upkeep: Send + Sync {
    /// Closes the store's connections (after the server's tasks stopped).
    async fn close(&self);

    /// Proves that the store can write now (a small write, rolled back or removed), for the
    /// readiness check.
    async fn check_writable(&self, now_ms: i64) -> StoreResult<()>;

    /// Removes up to `limit` events accepted before `cutoff_ms` whose deliveries are all
    /// finished (with those deliveries and their attempts), and inbox captures and sent or
    /// dead-lettered emails older than it; returns how many events went.
    async fn prune(&self, cutoff_ms: i64, limit: u32) -> StoreResult<u64>;

    /// The queue at `now_ms`: pending and due deliveries, the oldest due one, the outbox.
    async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats>;
}
