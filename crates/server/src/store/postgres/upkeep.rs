//! Keeps the delivery tables quick to claim from: vacuums them after heavy churn and keeps
//! their statistics fresh while they grow, rather than wait for autovacuum (which looks once
//! a minute).
//!
//! Every result leaves a dead version of its delivery (in the due-order indexes the claims
//! walk) and a dead lease; left alone, claims slowed as a busy minute went on. And a table
//! that grew from nothing to a backlog of thousands within a second still had the statistics
//! of an empty one: the planner then read every pending delivery to find the earliest (a
//! bitmap scan and a sort) where an index walk stops at the first.
//!
//! Analysing also makes every connection plan its statements again: a plan kept from a moment
//! `deliveries` or `leases` were nearly empty scans them where it should probe, so the tables
//! are analysed as soon as either has doubled since its last analysis, not only when `events`
//! has. `leases` holds the attempts in flight — a few hundred rows, not thousands, while
//! hundreds of endpoints are slow — and is probed once or twice per webhook by every claim:
//! planned while it held a page, each probe read all of it (a claim of 475 webhooks beside 494
//! leases read 470,000 rows, 117 ms). So it is analysed on its own (it and `due_webhooks` are
//! small: a millisecond) as soon as it has doubled by [`LEASES_ANALYZE_AFTER`] rows.
//!
//! What is due is read from PostgreSQL's own counts (`pg_stat_user_tables`), which every
//! instance sees alike, and done under an advisory lock: with several instances the tables are
//! vacuumed and analysed once, by whichever instance looks first, not once per instance.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Row};

/// Dead row versions in `deliveries` and `leases` after which they are vacuumed (and
/// analysed).
const VACUUM_AFTER: i64 = 10_000;
/// New events after which the tables are first analysed; after that, whenever `events` has
/// about doubled since its last analysis (at most every [`MAX_ANALYZE_AFTER`] new events).
/// Also the fewest rows `deliveries` or `leases` must have grown by to be analysed.
const FIRST_ANALYZE_AFTER: i64 = 1_000;
/// The most new events between two analyses.
const MAX_ANALYZE_AFTER: i64 = 1_000_000;
/// The fewest rows `leases` must have grown by to be analysed (on its own): about a page.
const LEASES_ANALYZE_AFTER: i64 = 100;
/// The advisory lock an instance holds while it vacuums or analyses (an arbitrary key of
/// this program's own).
const UPKEEP_LOCK: i64 = 0x6364_686f_6f6b_7301;

/// PostgreSQL's counts of the tables, as upkeep needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TableCounts {
    /// Dead row versions in `deliveries`, `leases` and `due_webhooks`.
    dead: i64,
    /// Rows of `events`.
    events: i64,
    /// Rows added to `events` since it was last analysed.
    events_since_analyze: i64,
    /// Rows of `deliveries` now and at its last analysis.
    deliveries: Growth,
    /// Rows of `leases` now and at its last analysis.
    leases: Growth,
}

/// A table's rows now and as its last analysis counted them (what plans were made for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Growth {
    rows: i64,
    analysed: i64,
}

impl Growth {
    /// Whether the table has at least doubled, by `by` rows or more.
    fn doubled(self, by: i64) -> bool {
        let grown = self.rows - self.analysed;
        grown >= by && self.rows >= 2 * self.analysed
    }
}

/// What upkeep the counts call for, if any.
fn due(counts: TableCounts) -> Option<&'static str> {
    if counts.dead >= VACUUM_AFTER {
        return Some("VACUUM (ANALYZE, SKIP_LOCKED) deliveries, leases, due_webhooks");
    }
    let before = (counts.events - counts.events_since_analyze).max(0);
    let analyze_after = before.clamp(FIRST_ANALYZE_AFTER, MAX_ANALYZE_AFTER);
    if counts.events_since_analyze >= analyze_after
        || counts.deliveries.doubled(FIRST_ANALYZE_AFTER)
    {
        return Some("ANALYZE (SKIP_LOCKED) deliveries, leases, due_webhooks, events");
    }
    counts
        .leases
        .doubled(LEASES_ANALYZE_AFTER)
        .then_some("ANALYZE (SKIP_LOCKED) leases, due_webhooks")
}

/// Runs until the pool closes: every half second, reads the counts and does what is due.
pub(super) async fn run(pool: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = tend(&pool).await {
            tracing::debug!(%error, "upkeep of the delivery tables failed");
        }
    }
}

/// Reads the counts and does what they call for, if anything (unless another instance is at
/// it); returns the statement it ran.
pub(super) async fn tend(pool: &PgPool) -> sqlx::Result<Option<&'static str>> {
    let Some(statement) = due(counts(pool).await?) else {
        return Ok(None);
    };
    run_alone(pool, statement).await?;
    Ok(Some(statement))
}

/// The tables' counts as PostgreSQL keeps them (updated by each backend within about a
/// second of its changes).
async fn counts(pool: &PgPool) -> sqlx::Result<TableCounts> {
    let row = sqlx::query(
        "SELECT
             COALESCE(SUM(n_dead_tup) FILTER (WHERE relid <> 'events'::regclass), 0)::BIGINT AS dead,
             COALESCE(SUM(n_live_tup) FILTER (WHERE relid = 'events'::regclass), 0)::BIGINT AS events,
             COALESCE(SUM(n_mod_since_analyze) FILTER (WHERE relid = 'events'::regclass), 0)::BIGINT
                 AS events_since_analyze,
             COALESCE(SUM(n_live_tup) FILTER (WHERE relid = 'deliveries'::regclass), 0)::BIGINT
                 AS deliveries,
             COALESCE(SUM(GREATEST(c.reltuples, 0)) FILTER (WHERE relid = 'deliveries'::regclass), 0)::BIGINT
                 AS deliveries_analysed,
             COALESCE(SUM(n_live_tup) FILTER (WHERE relid = 'leases'::regclass), 0)::BIGINT AS leases,
             COALESCE(SUM(GREATEST(c.reltuples, 0)) FILTER (WHERE relid = 'leases'::regclass), 0)::BIGINT
                 AS leases_analysed
         FROM pg_stat_user_tables JOIN pg_class c ON c.oid = relid
         WHERE relid IN ('deliveries'::regclass, 'leases'::regclass, 'due_webhooks'::regclass,
                         'events'::regclass)",
    )
    .fetch_one(pool)
    .await?;
    Ok(TableCounts {
        dead: row.get("dead"),
        events: row.get("events"),
        events_since_analyze: row.get("events_since_analyze"),
        deliveries: Growth {
            rows: row.get("deliveries"),
            analysed: row.get("deliveries_analysed"),
        },
        leases: Growth {
            rows: row.get("leases"),
            analysed: row.get("leases_analysed"),
        },
    })
}

/// Runs `statement` unless another instance holds the upkeep lock, on a connection of its own
/// that hears no warnings (PostgreSQL warns "skipping vacuum … lock not available" when
/// autovacuum got there first) and logs no slow statements (a VACUUM may take seconds): both
/// expected here, not something for the operator's log.
async fn run_alone(pool: &PgPool, statement: &str) -> sqlx::Result<()> {
    let options = (*pool.connect_options())
        .clone()
        .disable_statement_logging();
    let mut conn = PgConnection::connect_with(&options).await?;
    let alone: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(UPKEEP_LOCK)
        .fetch_one(&mut conn)
        .await?;
    if !alone {
        return conn.close().await;
    }
    let result = async {
        sqlx::query("SET client_min_messages = error")
            .execute(&mut conn)
            .await?;
        sqlx::query(statement).execute(&mut conn).await?;
        sqlx::query("RESET client_min_messages")
            .execute(&mut conn)
            .await
    }
    .await;
    // Released whatever happened, and with it the connection.
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(UPKEEP_LOCK)
        .execute(&mut conn)
        .await;
    let closed = conn.close().await;
    result.and(unlocked).and(closed).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(dead: i64, events: i64, events_since_analyze: i64) -> TableCounts {
        TableCounts {
            dead,
            events,
            events_since_analyze,
            deliveries: Growth::default(),
            leases: Growth::default(),
        }
    }

    #[test]
    fn heavy_churn_calls_for_a_vacuum_first() {
        assert_eq!(
            due(counts(10_000, 5, 5)),
            Some("VACUUM (ANALYZE, SKIP_LOCKED) deliveries, leases, due_webhooks")
        );
        assert_eq!(due(counts(9_999, 5, 5)), None);
    }

    #[test]
    fn growing_tables_are_analysed_whenever_they_have_about_doubled() {
        let analyze = Some("ANALYZE (SKIP_LOCKED) deliveries, leases, due_webhooks, events");
        assert_eq!(due(counts(0, 999, 999)), None, "fewer than 1,000 new");
        assert_eq!(due(counts(0, 1_000, 1_000)), analyze);
        assert_eq!(
            due(counts(0, 5_999, 2_999)),
            None,
            "3,000 before, 2,999 new"
        );
        assert_eq!(due(counts(0, 6_000, 3_000)), analyze);
        assert_eq!(due(counts(0, 50_000_000, 999_999)), None);
        assert_eq!(due(counts(0, 50_000_000, 1_000_000)), analyze, "capped");
    }

    #[test]
    fn leases_are_analysed_alone_once_they_have_doubled_by_a_page() {
        let leases = |rows, analysed| TableCounts {
            leases: Growth { rows, analysed },
            ..counts(0, 100_000, 10)
        };
        let analyze = Some("ANALYZE (SKIP_LOCKED) leases, due_webhooks");
        assert_eq!(due(leases(99, 0)), None, "fewer than 100");
        assert_eq!(due(leases(100, 0)), analyze, "from empty");
        assert_eq!(due(leases(799, 400)), None);
        assert_eq!(due(leases(800, 400)), analyze);
        assert_eq!(due(leases(10, 4_000)), None, "shrunk");
    }

    #[test]
    fn deliveries_or_leases_are_analysed_once_they_have_doubled() {
        let analyze = Some("ANALYZE (SKIP_LOCKED) deliveries, leases, due_webhooks, events");
        let grown = |rows, analysed| Growth { rows, analysed };
        let with = |deliveries, leases| TableCounts {
            deliveries,
            leases,
            ..counts(0, 100_000, 10)
        };
        assert_eq!(due(with(grown(0, 0), grown(0, 0))), None);
        assert_eq!(
            due(with(grown(999, 0), grown(0, 0))),
            None,
            "fewer than 1,000"
        );
        assert_eq!(
            due(with(grown(1_000, 0), grown(0, 0))),
            analyze,
            "from empty"
        );
        assert_eq!(
            due(with(grown(0, 0), grown(1_000, 0))),
            Some("ANALYZE (SKIP_LOCKED) leases, due_webhooks"),
            "leases alone"
        );
        assert_eq!(due(with(grown(100_000, 50_001), grown(0, 0))), None);
        assert_eq!(due(with(grown(100_000, 50_000), grown(0, 0))), analyze);
        assert_eq!(due(with(grown(10, 100_000), grown(0, 0))), None, "shrunk");
    }
}
