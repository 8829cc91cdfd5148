//! Keeps the delivery tables quick to claim from: vacuums them after heavy churn and keeps
//! their statistics fresh while they grow, rather than wait for autovacuum (which looks once
//! a minute).
//!
//! Every result leaves a dead version of its delivery (in the due-order indexes the claims
//! walk) and a dead lease; left alone, claims slowed as a busy minute went on. And a table
//! that grew from nothing to a backlog of thousands within a second still had the statistics
//! of an empty one: the planner then read every pending delivery to find the earliest (a
//! bitmap scan and a sort) where an index walk stops at the first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::PgPool;

/// Dead row versions after which this process vacuums (and analyses) the tables.
const VACUUM_AFTER: u64 = 10_000;
/// New events after which this process first analyses the tables; doubled after each
/// analysis (up to [`MAX_ANALYZE_AFTER`]), so a table is analysed whenever it has about
/// doubled since the last time.
const FIRST_ANALYZE_AFTER: u64 = 1_000;
/// The most new events between two analyses.
const MAX_ANALYZE_AFTER: u64 = 1_000_000;

/// What the writers did since the last upkeep, counted by them.
#[derive(Debug, Default)]
pub(super) struct Churn {
    /// Dead row versions left in `deliveries` and `leases`.
    dead: AtomicU64,
    /// Events stored (each with its deliveries).
    added: AtomicU64,
}

impl Churn {
    /// Counts a batch: `results` recorded (each leaves a dead delivery version and a dead
    /// lease) and `events` stored.
    pub(super) fn count(&self, results: usize, events: usize) {
        self.dead.fetch_add(2 * results as u64, Ordering::Relaxed);
        self.added.fetch_add(events as u64, Ordering::Relaxed);
    }
}

/// Runs until the pool closes. `SKIP_LOCKED`: an instance whose vacuum would wait for
/// another's skips it (quietly).
pub(super) async fn run(pool: PgPool, churn: std::sync::Arc<Churn>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut analyze_after = FIRST_ANALYZE_AFTER;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let statement = if churn.dead.load(Ordering::Relaxed) >= VACUUM_AFTER {
            churn.dead.store(0, Ordering::Relaxed);
            churn.added.store(0, Ordering::Relaxed);
            "VACUUM (ANALYZE, SKIP_LOCKED) deliveries, leases"
        } else if churn.added.load(Ordering::Relaxed) >= analyze_after {
            churn.added.store(0, Ordering::Relaxed);
            analyze_after = (analyze_after * 2).min(MAX_ANALYZE_AFTER);
            "ANALYZE (SKIP_LOCKED) deliveries, leases, events"
        } else {
            continue;
        };
        if let Err(error) = quietly(&pool, statement).await {
            tracing::debug!(%error, statement, "upkeep of the delivery tables failed");
        }
    }
}

/// Runs `statement` on a connection that hears no warnings: PostgreSQL warns "skipping vacuum
/// … lock not available" when another instance's upkeep got there first, which is expected
/// here, not something for the operator's log.
async fn quietly(pool: &PgPool, statement: &str) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("SET client_min_messages = error")
        .execute(&mut *conn)
        .await?;
    let result = sqlx::query(statement).execute(&mut *conn).await.map(drop);
    sqlx::query("RESET client_min_messages")
        .execute(&mut *conn)
        .await?;
    result
}
