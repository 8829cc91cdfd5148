//! The claim's statements on a connection that first ran them while the tables were empty.
//!
//! A connection keeps one plan per prepared statement (`connect_options`), made when the
//! statement first runs and kept until the tables are analysed again. Made on empty tables, a
//! plan may scan where it should probe: in a fan-out, every claim then read the whole backlog
//! once per webhook (and every lease once per delivery), took seconds, and its leases ran out
//! while it ran — deliveries were sent twice. These tests make plans on empty, analysed tables,
//! fill the tables as a fan-out does, let upkeep look once (it analyses tables that have
//! doubled, which has every connection plan again) and count the rows the statements then
//! read. And a claim that serves a few of many webhooks waiting for room must stop once it has
//! them, rather than check every one. They need the test cluster (`scripts/with-postgres`); without it they skip, except
//! under `CI=true`.

use sqlx::postgres::PgPool;
use sqlx::{Connection, Executor, PgConnection};

use super::engine::{begin_relaxed, claim_in};
use super::events::subscribers_of_accounts;
use super::upgrade_tests::{account_with_webhooks_and_events, fresh_database, migrate};
use super::upkeep;
use crate::domain::claim::Shard;
use crate::store::migrations::POSTGRES;
use crate::store::Lease;

/// Webhooks with a backlog, and the deliveries waiting for each.
const WEBHOOKS: i64 = 20;
const BACKLOG: i64 = 2_000;
/// Deliveries of each webhook already in flight (leased) at the head of its queue.
const IN_FLIGHT: i64 = 16;

/// Rows of `deliveries` and `leases` (and entries of their indexes) read so far by the
/// transaction on `conn`, as PostgreSQL counts them for it.
async fn rows_read(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(c.oid)
                             + pg_stat_get_xact_tuples_fetched(c.oid)), 0)::BIGINT
         FROM pg_class c
         WHERE c.oid IN ('deliveries'::regclass, 'leases'::regclass)
            OR c.oid IN (SELECT indexrelid FROM pg_index
                         WHERE indrelid IN ('deliveries'::regclass, 'leases'::regclass))",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

/// A new database with the schema, its tables empty and analysed, as after a quiet spell — no
/// autovacuum to analyse them behind the test's back (that would make new plans) — and a
/// connection to it as the store makes them, and its URL; `None` without the test cluster.
async fn empty_tables() -> Option<(PgConnection, String)> {
    let url = fresh_database().await?;
    let mut conn = PgConnection::connect_with(&super::connect_options(&url).unwrap())
        .await
        .unwrap();
    migrate(&mut conn, POSTGRES).await;
    conn.execute(
        "ALTER TABLE deliveries SET (autovacuum_enabled = false);
         ALTER TABLE leases SET (autovacuum_enabled = false);
         ALTER TABLE due_webhooks SET (autovacuum_enabled = false);
         ALTER TABLE webhooks SET (autovacuum_enabled = false);",
    )
    .await
    .unwrap();
    conn.execute("VACUUM ANALYZE").await.unwrap();
    Some((conn, url))
}

/// A fan-out's backlog: the account `acc_1` with [`WEBHOOKS`] webhooks, each with [`BACKLOG`]
/// deliveries due, the oldest [`IN_FLIGHT`] of each leased until after `now`. Delivery ids are
/// `dlv_{event}_{webhook}`.
async fn fill_backlog(conn: &mut PgConnection, now: i64) {
    fill(
        conn,
        WEBHOOKS,
        BACKLOG,
        "e.created_at",
        (IN_FLIGHT, now + 60_000),
    )
    .await;
}

/// `webhooks` webhooks of `acc_1`, each with a delivery of each of `events` events, pending and
/// due at `due` (SQL over the event `e` and the webhook `w`), those of the first
/// `leased.0` events leased until `leased.1`.
async fn fill(conn: &mut PgConnection, webhooks: i64, events: i64, due: &str, leased: (i64, i64)) {
    let (in_flight, until) = leased;
    conn.execute(
        format!(
            "{rows}
             INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status,
                                     next_attempt_at, created_at, updated_at)
             SELECT 'dlv_' || e.seq || '_' || w.seq, 'acc_1', e.seq, w.seq, 'pending',
                    {due}, e.created_at, e.created_at
             FROM events e CROSS JOIN webhooks w;
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT d.seq, d.webhook_seq, 1, {until}
             FROM deliveries d JOIN events e ON e.seq = d.event_seq
             WHERE e.created_at <= {in_flight};",
            rows = account_with_webhooks_and_events(webhooks, events),
        )
        .as_str(),
    )
    .await
    .unwrap();
}

/// Has upkeep look at the tables once, as it does every half second, after `conn`'s counts
/// have reached PostgreSQL's statistics; asserts that it analysed them.
async fn upkeep_looks(conn: &mut PgConnection, url: &str) {
    conn.execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    let pool = PgPool::connect_with(super::connect_options(url).unwrap())
        .await
        .unwrap();
    let done = upkeep::tend(&pool).await.unwrap();
    assert!(
        done.is_some_and(|statement| statement.starts_with("ANALYZE")),
        "upkeep did {done:?}"
    );
    pool.close().await;
}

/// A lease for up to 64 deliveries, `per_webhook` at most per webhook, from `now` on.
fn lease_of_64(now: i64, per_webhook: u32) -> Lease {
    Lease {
        token: 7,
        until_ms: now + 30_000,
        max: 64,
        per_webhook,
        max_failing: 16,
    }
}

/// Runs a claim (which finds nothing) on the empty tables, so that `conn` keeps the plans it
/// made for them.
async fn claim_on_empty_tables(conn: &mut PgConnection, now: i64, lease: Lease) {
    let mut tx = begin_relaxed(conn).await.unwrap();
    assert!(claim_in(&mut tx, now, lease, Shard::WHOLE)
        .await
        .unwrap()
        .is_empty());
    tx.commit().await.unwrap();
}

/// Runs a claim on `conn` and rolls it back; returns what it claimed and the rows of
/// `deliveries` and `leases` it read.
async fn claim_counting_reads(
    conn: &mut PgConnection,
    now: i64,
    lease: Lease,
) -> (Vec<crate::store::ClaimedDelivery>, i64) {
    let mut tx = begin_relaxed(conn).await.unwrap();
    // Counted from here: the counts may still hold the backend's reads since it last reported.
    let before = rows_read(&mut tx).await;
    let claimed = claim_in(&mut tx, now, lease, Shard::WHOLE).await.unwrap();
    let read = rows_read(&mut tx).await - before;
    tx.rollback().await.unwrap();
    (claimed, read)
}

/// Asserts that `read` rows are what probes read, not a scan of the backlog.
fn assert_probed(read: i64, what: &str) {
    // Probes read what is taken and what is in flight ahead of it, webhook by webhook; a scan
    // reads the whole backlog (40,000 deliveries), and did so again and again.
    assert!(
        read < WEBHOOKS * BACKLOG / 4,
        "{what} read {read} rows for a backlog of {}",
        WEBHOOKS * BACKLOG
    );
}

#[tokio::test]
async fn a_claim_planned_on_empty_tables_probes_a_large_backlog() {
    let Some((mut conn, url)) = empty_tables().await else {
        return;
    };
    let now = 1_000_000;
    let lease = lease_of_64(now, 32);
    claim_on_empty_tables(&mut conn, now, lease).await;
    fill_backlog(&mut conn, now).await;
    upkeep_looks(&mut conn, &url).await;

    let mut tx = begin_relaxed(&mut conn).await.unwrap();
    let claimed = claim_in(&mut tx, now, lease, Shard::WHOLE).await.unwrap();
    let read = rows_read(&mut tx).await;
    tx.rollback().await.unwrap();

    // Each webhook has 16 free slots: the claim takes its most, none of them in flight.
    assert_eq!(claimed.len(), 64);
    let event_of = |id: &str| -> i64 { id.split('_').nth(1).unwrap().parse().unwrap() };
    assert!(claimed.iter().all(|d| event_of(&d.id) > IN_FLIGHT));
    assert_probed(read, "the claim");
}

#[tokio::test]
async fn a_fan_outs_read_of_subscribers_planned_on_empty_tables_probes_a_large_backlog() {
    let Some((mut conn, url)) = empty_tables().await else {
        return;
    };
    let now = 1_000_000;
    let (subscribers, _) = subscribers_of_accounts(&mut conn, &["acc_1"], true, now)
        .await
        .unwrap();
    assert!(subscribers.is_empty());
    fill_backlog(&mut conn, now).await;
    upkeep_looks(&mut conn, &url).await;

    let mut tx = conn.begin().await.unwrap();
    let (subscribers, waiting) = subscribers_of_accounts(&mut tx, &["acc_1"], true, now)
        .await
        .unwrap();
    let read = rows_read(&mut tx).await;
    tx.rollback().await.unwrap();

    // Every webhook has work waiting, with the oldest of it in flight.
    assert_eq!(subscribers["acc_1"].len(), WEBHOOKS as usize);
    assert_eq!(waiting.len(), WEBHOOKS as usize);
    assert!(waiting.values().all(|busy| *busy == IN_FLIGHT));
    assert_probed(read, "the read of subscribers");
}

#[tokio::test]
async fn a_claim_of_a_few_among_many_waiting_webhooks_checks_about_as_many() {
    let Some((mut conn, url)) = empty_tables().await else {
        return;
    };
    let now = 1_000_000;
    // Webhook `w`'s deliveries are due from `10 w` on: each has waited a different while, the
    // first longest. None is in flight.
    fill(&mut conn, 1_000, 20, "10 * w.seq + e.created_at", (0, 0)).await;
    upkeep_looks(&mut conn, &url).await;
    let lease = Lease {
        token: 7,
        until_ms: now + 30_000,
        max: 10,
        per_webhook: 16,
        max_failing: 16,
    };

    let (claimed, read) = claim_counting_reads(&mut conn, now, lease).await;

    // The ten that waited longest, one delivery each (round-robin).
    let mut webhooks: Vec<i64> = claimed.iter().map(|d| d.webhook_seq).collect();
    webhooks.sort_unstable();
    assert_eq!(webhooks, (1..=10).collect::<Vec<i64>>());
    // Checking every waiting webhook reads a delivery of each at least: 1,000 rows or more.
    assert!(
        read < 1_000,
        "a claim of 10 read {read} rows among 1,000 waiting webhooks"
    );
}

#[tokio::test]
async fn a_claim_planned_on_empty_tables_probes_a_few_hundred_leases() {
    let Some((mut conn, url)) = empty_tables().await else {
        return;
    };
    let now = 1_000_000;
    let lease = lease_of_64(now, 16);
    claim_on_empty_tables(&mut conn, now, lease).await;
    // Slow endpoints: 400 webhooks with an attempt in flight each and one more delivery due —
    // fewer new deliveries than call for analysing `deliveries` (1,000).
    fill(&mut conn, 400, 2, "e.created_at", (1, now + 60_000)).await;
    upkeep_looks(&mut conn, &url).await;

    let (claimed, read) = claim_counting_reads(&mut conn, now, lease).await;

    assert_eq!(claimed.len(), 64);
    // Probes read about 5,000 rows here; a plan that scans `leases` reads all 400 of them for
    // every webhook it looks at, twice (4.5 million rows without the analysis).
    assert!(
        read < 20_000,
        "a claim of 64 beside 400 leases read {read} rows"
    );
}
