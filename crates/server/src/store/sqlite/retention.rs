//! Retention on SQLite: removes, in batches, what `domain::retention` says is old enough —
//! finished events with their deliveries and attempts, inbox captures, sent and dead-lettered
//! emails — and never anything still pending or paused.

use sqlx::SqlitePool;

use super::super::*;

/// One step of retention (see `domain::retention`).
pub(super) async fn prune(pool: &SqlitePool, cutoff_ms: i64, limit: u32) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let seqs: Vec<i64> = sqlx::query_scalar(
        "SELECT e.seq FROM events e
         WHERE e.created_at < ?1
           AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.event_seq = e.seq AND d.status IN ('pending', 'paused'))
         ORDER BY e.seq LIMIT ?2",
    )
    .bind(cutoff_ms.div_euclid(1000))
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await?;
    if !seqs.is_empty() {
        // Deliveries first (their attempts go with them: ON DELETE CASCADE), then the events.
        for table in ["deliveries", "events"] {
            let key = if table == "events" {
                "seq"
            } else {
                "event_seq"
            };
            let mut delete =
                sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE {key} IN ("));
            let mut list = delete.separated(", ");
            for seq in &seqs {
                list.push_bind(*seq);
            }
            delete.push(")");
            delete.build().execute(&mut *tx).await?;
        }
    }
    sqlx::query("DELETE FROM inbox_requests WHERE received_at < ?1")
        .bind(cutoff_ms)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM emails WHERE sent_at < ?1 OR dead_at < ?1")
        .bind(cutoff_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(seqs.len() as u64)
}
