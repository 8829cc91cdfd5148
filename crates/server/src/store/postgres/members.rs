//! Which server processes share the database, so that each claims for its own share of the
//! webhooks (`domain::claim::Shard`) instead of all of them contending for every webhook's lock.
//!
//! Each process renews a row in `instances` every [`HEARTBEAT`], live for [`LIVE_FOR`] by the
//! database's clock, and reads which rows are live: its share follows from its place among
//! them. A process that stops deletes its row, so the others take its share at their next
//! heartbeat; one that dies drops out when its row's time runs out. A change of share wakes
//! the claim loop, which then looks at the webhooks it newly owns.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::store::WorkSignal;
use sqlx::PgPool;

use super::super::StoreResult;
use crate::domain::claim::Shard;
use crate::domain::new_id;

/// How often a process renews its row and re-reads who is live.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long a row counts as live after its last renewal: several heartbeats, so a process busy
/// or briefly cut off from the database is not dropped at once.
const LIVE_FOR: Duration = Duration::from_secs(5);

/// This process's membership: its id and its current share.
#[derive(Debug)]
pub(super) struct Membership {
    /// `ins_…`, new for every start.
    id: String,
    /// The share read at the last heartbeat.
    shard: Mutex<Shard>,
    /// Set once the process left; no heartbeat renews its row after that.
    left: std::sync::atomic::AtomicBool,
}

impl Membership {
    /// A new process, alone until its first heartbeat.
    pub(super) fn new() -> Self {
        Membership {
            id: new_id("ins_"),
            shard: Mutex::new(Shard::WHOLE),
            left: Default::default(),
        }
    }

    /// The share this process claims for.
    pub(super) fn shard(&self) -> Shard {
        *self.shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Renews this process's row and reads who is live; returns whether its share changed.
    pub(super) async fn beat(&self, pool: &PgPool) -> StoreResult<bool> {
        sqlx::query(
            "INSERT INTO instances (id, live_until)
             VALUES ($1, clock_timestamp() + $2 * INTERVAL '1 millisecond')
             ON CONFLICT (id) DO UPDATE SET live_until = EXCLUDED.live_until",
        )
        .bind(&self.id)
        .bind(LIVE_FOR.as_millis() as i64)
        .execute(pool)
        .await?;
        // Rows whose time ran out are removed on the way (the SELECT still sees them, hence
        // its own condition).
        let live: Vec<String> = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM instances WHERE live_until < clock_timestamp())
             SELECT id FROM instances WHERE live_until >= clock_timestamp()",
        )
        .fetch_all(pool)
        .await?;
        let shard = Shard::among(live.iter().map(String::as_str), &self.id);
        let mut current = self.shard.lock().unwrap_or_else(|e| e.into_inner());
        let changed = *current != shard;
        *current = shard;
        Ok(changed)
    }

    /// Deletes this process's row, so the others take its share at their next heartbeat.
    pub(super) async fn leave(&self, pool: &PgPool) {
        self.left.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(&self.id)
            .execute(pool)
            .await;
    }

    /// Whether this process has left.
    fn has_left(&self) -> bool {
        self.left.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Beats every [`HEARTBEAT`] until the process leaves or the pool closes; wakes `claim_loop`
/// when the share changes.
pub(super) async fn run(pool: PgPool, membership: Arc<Membership>, claim_loop: WorkSignal) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if pool.is_closed() || membership.has_left() {
            return;
        }
        match membership.beat(&pool).await {
            Ok(true) => {
                tracing::info!(shard = ?membership.shard(), "the live server processes changed");
                claim_loop.raise();
            }
            Ok(false) => {}
            // The share stays as it was; the database's outage is reported where it matters.
            Err(error) => tracing::debug!(%error, "heartbeat failed"),
        }
    }
}
