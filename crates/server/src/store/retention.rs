//! Retention as the store applies it: removes, in batches, what `domain::retention` says is
//! old enough — finished events with their deliveries and attempts, inbox captures, sent and
//! dead-lettered emails — and never anything still pending or paused.
//!
//! The SQL is the same on both stores (numbered parameters, see `statements`), so it is
//! written once, here, and `impl_retention!` puts it on each store.

use async_trait::async_trait;

use super::*;

/// Removing old finished data.
#[async_trait]
pub trait Retention: Send + Sync {
    /// Removes up to `limit` events accepted before `cutoff_ms` whose deliveries are all
    /// finished (with those deliveries and their attempts), and inbox captures and sent or
    /// dead-lettered emails older than it; returns how many events went.
    async fn prune(&self, cutoff_ms: i64, limit: u32) -> StoreResult<u64>;
}

/// Implements [`Retention`] for a store whose writing pool is the field `$writes`.
macro_rules! impl_retention {
    ($store:ty, writes: $writes:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::retention::Retention for $store {
            async fn prune(&self, cutoff_ms: i64, limit: u32) -> $crate::store::StoreResult<u64> {
                let mut tx = self.$writes.begin().await?;
                // Events carry seconds (`created_at` of the docs' payload).
                let seqs: Vec<i64> = sqlx::query_scalar(
                    "SELECT e.seq FROM events e
                     WHERE e.created_at < $1
                       AND NOT EXISTS (SELECT 1 FROM deliveries d
                                       WHERE d.event_seq = e.seq
                                         AND d.status IN ('pending', 'paused'))
                     ORDER BY e.seq LIMIT $2",
                )
                .bind(cutoff_ms.div_euclid(1000))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
                if !seqs.is_empty() {
                    // Deliveries first (their attempts go with them: ON DELETE CASCADE), then
                    // the events.
                    for (table, key) in [("deliveries", "event_seq"), ("events", "seq")] {
                        let mut delete = sqlx::QueryBuilder::new(format!(
                            "DELETE FROM {table} WHERE {key} IN ("
                        ));
                        let mut list = delete.separated(", ");
                        for seq in &seqs {
                            list.push_bind(*seq);
                        }
                        delete.push(")");
                        delete.build().execute(&mut *tx).await?;
                    }
                }
                sqlx::query("DELETE FROM inbox_requests WHERE received_at < $1")
                    .bind(cutoff_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM emails WHERE sent_at < $1 OR dead_at < $1")
                    .bind(cutoff_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(seqs.len() as u64)
            }
        }
    };
}
pub(super) use impl_retention;
