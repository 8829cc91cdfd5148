//! Claims on PostgreSQL, as `domain::claim` decides: every claim under the lock of the
//! webhooks it claims for, counting their attempts in flight (any process's leases) after the
//! lock is held; and the statement fragments the claims, the results and the fan-out share.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use super::super::queue::{queues_to_read_again, rows_per_webhook};
use super::super::*;
use crate::domain::claim::{self, DueQueue, Shard};
use crate::domain::health;
use crate::domain::webhook::WebhookSecret;

pub(super) type Tx<'c> = Transaction<'c, Postgres>;

/// A webhook's health from a row with its `failure_streak` and `held_until`.
pub(super) fn health_of(row: &PgRow) -> health::Health {
    health::Health {
        failure_streak: row.get::<i32, _>("failure_streak") as u32,
        held_until: row.get("held_until"),
    }
}

/// Begins a transaction that commits without waiting for the disk (see the module's doc: only
/// for claims and attempt results, whose loss in a database crash means a resend, not a
/// loss) — one round trip for both statements.
pub(super) async fn begin_relaxed(conn: &mut PgConnection) -> StoreResult<Tx<'_>> {
    Ok(conn
        .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
        .await?)
}

/// The condition, on a delivery `d`, that no lease holds it at the time `now` (a lease whose
/// time ran out holds nothing: its delivery may be claimed again).
pub(super) fn unleased(now: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_seq = d.seq AND l.until_ms >= {now})"
    )
}

/// [`unleased`] at `$1`.
static UNLEASED: LazyLock<String> = LazyLock::new(|| unleased("$1"));

/// The attempts in flight of the webhook aliased `webhook` at the time `now`: its unexpired
/// leases, any process's.
pub(super) fn in_flight_of(webhook: &str, now: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM leases l WHERE l.webhook_seq = {webhook}.seq AND l.until_ms >= {now})"
    )
}

/// [`in_flight_of`] a webhook `w` at `$1`.
static IN_FLIGHT: LazyLock<String> = LazyLock::new(|| in_flight_of("w", "$1"));

/// The condition, on the webhook aliased `webhook`, that a due delivery of it waits unclaimed
/// at the time `now`.
///
/// A scalar subquery with `ORDER BY … LIMIT 1` rather than `EXISTS`: the planner would turn
/// an EXISTS into a hash join over every due delivery; this stays one probe of
/// `deliveries_webhook_due` per webhook, however large a backlog is.
pub(super) fn work_waiting(webhook: &str, now: &str) -> String {
    format!(
        "(SELECT d.seq FROM deliveries d WHERE d.webhook_seq = {webhook}.seq AND d.status = 'pending'
            AND d.next_attempt_at <= {now} AND {unleased}
          ORDER BY d.next_attempt_at LIMIT 1) IS NOT NULL",
        unleased = unleased(now)
    )
}

/// [`work_waiting`] for a webhook `w` at `$1`.
static HAS_WORK_WAITING: LazyLock<String> = LazyLock::new(|| work_waiting("w", "$1"));

/// Each of the webhooks `$2` with its attempts in flight at `$1`.
static IN_FLIGHT_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq, {in_flight} AS busy FROM UNNEST($2::bigint[]) AS w(seq)",
        in_flight = *IN_FLIGHT
    )
});

/// The condition, on the webhook aliased `webhook`, that it is in the share of this process
/// whose count and index are the parameters `count` and `index` (as
/// `domain::claim::Shard::owns` decides).
pub(super) fn in_share(webhook: &str, count: &str, index: &str) -> String {
    format!("{webhook}.seq % {count} = {index}")
}

/// `domain::health::in_flight_limit` of the webhook aliased `webhook`, in SQL: none while it
/// is held past `now`, one attempt while its failure streak is at `opens_after`
/// (`health::OPENS_AFTER`) or more, else `per_webhook`. Used where a statement must leave out
/// webhooks without room before it reads their queues; the decision on what is claimed stays
/// the Rust function's (the store contract's circuit and hold cases run both).
pub(super) fn in_flight_limit(
    webhook: &str,
    now: &str,
    per_webhook: &str,
    opens_after: &str,
) -> String {
    format!(
        "CASE WHEN {webhook}.held_until > {now} THEN 0
              WHEN {webhook}.failure_streak >= {opens_after} THEN LEAST({per_webhook}, 1)
              ELSE {per_webhook} END"
    )
}

/// Locks the enabled webhooks of this process's share (`$2`, `$3`) with work waiting at `$1`
/// and room for it under their limit (`$4` per webhook, `$5` = `health::OPENS_AFTER`),
/// skipping those another process is claiming for right now.
///
/// Room is counted before the lock, so it may be stale: a webhook whose slot freed a moment
/// ago is left to the next claim (the attempt that freed it wakes one), and one that filled
/// meanwhile is counted again under the lock. Without it, every claim locked and read the
/// queue of every webhook with a backlog — with a thousand endpoints that answer in 250 ms,
/// each at its limit, 14,000 rows per claim to find a few free slots.
static LOCK_DUE_WEBHOOKS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq FROM webhooks w WHERE w.enabled AND {share} AND {waiting}
           AND {in_flight} < {limit}
         FOR NO KEY UPDATE OF w SKIP LOCKED",
        share = in_share("w", "$2", "$3"),
        waiting = *HAS_WORK_WAITING,
        in_flight = *IN_FLIGHT,
        limit = in_flight_limit("w", "$1", "$4", "$5"),
    )
});

/// When the next pending delivery without a lease of a webhook in this process's share
/// (`$1`, `$2`) falls due.
///
/// One probe of `deliveries_webhook_due` per webhook of the share, like the claim's lock
/// statement: a scan of all pending deliveries in due order would first read through every
/// other process's backlog.
static NEXT_DUE_IN_SHARE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT MIN(x.next_attempt_at) FROM webhooks w
         CROSS JOIN LATERAL (
             SELECT d.next_attempt_at FROM deliveries d
             WHERE d.webhook_seq = w.seq AND d.status = 'pending'
               AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_seq = d.seq)
             ORDER BY d.next_attempt_at LIMIT 1) AS x
         WHERE {share}",
        share = in_share("w", "$1", "$2")
    )
});

/// Each of the webhooks `$2` with its attempts in flight at `$1` and its oldest due
/// deliveries no lease holds, at most `$3` and no more than its free slots (limit `$4` per
/// webhook, `$5` = `health::OPENS_AFTER`). The count is its own lateral subquery, not
/// [`IN_FLIGHT`] as a value: the planner would fold that into the result and count again for
/// every delivery returned.
static DUE_AND_BUSY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq AS webhook_seq, b.busy, h.failure_streak, h.held_until, x.seq
         FROM UNNEST($2::bigint[]) AS w(seq)
         JOIN webhooks h ON h.seq = w.seq
         CROSS JOIN LATERAL (
             SELECT COUNT(*) AS busy FROM leases l WHERE l.webhook_seq = w.seq AND l.until_ms >= $1) AS b
         LEFT JOIN LATERAL (
             SELECT d.seq, d.next_attempt_at FROM deliveries d
             WHERE d.webhook_seq = w.seq AND d.status = 'pending' AND d.next_attempt_at <= $1
               AND {unleased}
             ORDER BY d.next_attempt_at, d.seq
             LIMIT LEAST($3, GREATEST({limit} - b.busy, 0))) AS x ON TRUE
         ORDER BY w.seq, x.next_attempt_at, x.seq",
        unleased = *UNLEASED,
        limit = in_flight_limit("h", "$1", "$4", "$5"),
    )
});

/// Attempts in flight (unexpired leases, any process) of each of `webhooks`, by its key.
pub(super) async fn in_flight(
    conn: &mut PgConnection,
    webhooks: &[i64],
    now_ms: i64,
) -> StoreResult<HashMap<i64, i64>> {
    Ok(sqlx::query(&IN_FLIGHT_OF)
        .bind(now_ms)
        .bind(webhooks)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|row| (row.get("seq"), row.get("busy")))
        .collect())
}

/// Claims due deliveries of the enabled webhooks in `shard` — each webhook's free slots,
/// round-robin, at most `lease.max` — inside `tx`. Webhooks another process is claiming for
/// right now are skipped (it holds their lock); their work is that process's or the next
/// claim's.
pub(super) async fn claim_in(
    tx: &mut Tx<'_>,
    now_ms: i64,
    lease: Lease,
    shard: Shard,
) -> StoreResult<Vec<ClaimedDelivery>> {
    if lease.max == 0 {
        return Ok(Vec::new());
    }
    let webhooks: Vec<i64> = sqlx::query_scalar(&LOCK_DUE_WEBHOOKS)
        .bind(now_ms)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .bind(i64::from(lease.per_webhook))
        .bind(health::OPENS_AFTER as i32)
        .fetch_all(&mut **tx)
        .await?;
    if webhooks.is_empty() {
        return Ok(Vec::new());
    }
    // Each webhook's attempts in flight and its oldest due deliveries, as many as it could
    // take: one statement, after the locks are held, so every earlier claim for these
    // webhooks is counted. The rules then decide how many of them it gets.
    let (part, all) = rows_per_webhook(lease, webhooks.len());
    let mut due = due_and_busy(tx, now_ms, &webhooks, part, lease).await?;
    let read: Vec<(i64, usize, u32)> = due
        .iter()
        .map(|(seq, (_, _, queue))| (*seq, queue.len(), all))
        .collect();
    let cut: Vec<i64> = queues_to_read_again(lease, part, &read)
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    if !cut.is_empty() {
        // Too little to fill the claim: the queues cut at `part` are read in full.
        due.extend(due_and_busy(tx, now_ms, &cut, all, lease).await?);
    }
    let queues: Vec<(DueQueue<i64>, bool)> = webhooks
        .iter()
        .filter_map(|seq| due.remove(seq))
        .map(|(busy, health, mut due)| {
            let limit = health::in_flight_limit(lease.per_webhook, health, now_ms);
            let free = claim::free_slots(limit, busy as u32).min(lease.max);
            due.truncate(free as usize);
            (DueQueue { due }, !health::may_start_at_once(health))
        })
        .filter(|(queue, _)| !queue.due.is_empty())
        .collect();
    let rotation = rand::random::<u32>() as usize;
    let queues = claim::within_failing_share(queues, lease.max_failing, rotation);
    let picked = claim::round_robin(queues, lease.max as usize, rotation);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    lease_and_load(tx, &picked, now_ms, lease).await
}

/// Each of `webhooks` with its attempts in flight, its health and its oldest due deliveries no
/// lease holds, at most `rows` and its free slots ([`DUE_AND_BUSY`]).
async fn due_and_busy(
    tx: &mut Tx<'_>,
    now_ms: i64,
    webhooks: &[i64],
    rows: u32,
    lease: Lease,
) -> StoreResult<HashMap<i64, (i64, health::Health, Vec<i64>)>> {
    let mut due: HashMap<i64, (i64, health::Health, Vec<i64>)> = HashMap::new();
    for row in sqlx::query(&DUE_AND_BUSY)
        .bind(now_ms)
        .bind(webhooks)
        .bind(i64::from(rows))
        .bind(i64::from(lease.per_webhook))
        .bind(health::OPENS_AFTER as i32)
        .fetch_all(&mut **tx)
        .await?
    {
        let entry = due
            .entry(row.get("webhook_seq"))
            .or_insert_with(|| (row.get("busy"), health_of(&row), Vec::new()));
        if let Some(seq) = row.get::<Option<i64>, _>("seq") {
            entry.2.push(seq);
        }
    }
    Ok(due)
}

/// What a claimed delivery's attempt needs (see [`claimed`]), from the leased deliveries `c`
/// joined by [`CLAIMED_JOINS`].
pub(super) const CLAIMED_COLUMNS: &str =
    "d.seq, d.id, d.attempt_count, d.round_base, d.created_at, e.id AS event_id, e.type, e.body,
     w.seq AS webhook_seq, w.id AS webhook_id, w.url, w.secret, w.previous_secrets,
      a.email, d.account_id, w.failure_streak";

/// The joins [`CLAIMED_COLUMNS`] reads from, for leases `c` (by `delivery_seq`).
pub(super) const CLAIMED_JOINS: &str = "JOIN deliveries d ON d.seq = c.delivery_seq
     JOIN events e ON e.seq = d.event_seq
     JOIN webhooks w ON w.seq = d.webhook_seq
     JOIN accounts a ON a.id = d.account_id";

/// Leases the deliveries `$3` still pending (`$5`) under the token `$1` until `$2`, taking
/// over leases whose time ran out at `$4`, and loads what their attempts need.
static LEASE_AND_LOAD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH c AS (
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT d.seq, d.webhook_seq, $1, $2 FROM deliveries d
             WHERE d.seq = ANY($3) AND d.status = $5
             ON CONFLICT (delivery_seq) DO UPDATE SET token = EXCLUDED.token, until_ms = EXCLUDED.until_ms
                 WHERE leases.until_ms < $4
             RETURNING delivery_seq)
         SELECT {CLAIMED_COLUMNS} FROM c {CLAIMED_JOINS}"
    )
});

/// Leases the deliveries `picked` for `lease` (taking over any lease whose time ran out; one
/// another claim holds is left out) and loads what their attempts need. Only ever called
/// under the lock of the picked deliveries' webhooks.
async fn lease_and_load(
    tx: &mut Tx<'_>,
    picked: &[i64],
    now_ms: i64,
    lease: Lease,
) -> StoreResult<Vec<ClaimedDelivery>> {
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&LEASE_AND_LOAD)
        .bind(lease.token as i64)
        .bind(lease.until_ms)
        .bind(picked)
        .bind(now_ms)
        // A parameter, not a literal: with `'pending'` the planner matched the partial index of
        // pending deliveries and scanned all of it instead of looking the keys up.
        .bind(DeliveryStatus::Pending.as_str())
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.iter().map(|row| claimed(row, lease.token)).collect())
}

/// A claimed delivery from a row of [`CLAIMED_COLUMNS`], under `token`.
pub(super) fn claimed(row: &PgRow, token: u64) -> ClaimedDelivery {
    ClaimedDelivery {
        seq: row.get("seq"),
        failure_streak: row.get::<i32, _>("failure_streak") as u32,
        id: row.get("id"),
        claim_token: token,
        attempt_count: row.get::<i32, _>("attempt_count") as u32,
        round_base: row.get::<i32, _>("round_base") as u32,
        event_id: row.get("event_id"),
        event_type: row.get("type"),
        body: Bytes::from(row.get::<Vec<u8>, _>("body")),
        webhook_seq: row.get("webhook_seq"),
        webhook_id: row.get("webhook_id"),
        url: row.get("url"),
        secret: WebhookSecret::from_stored(row.get("secret")),
        account_id: row.get("account_id"),
        account_email: row.get("email"),
        accepted_at_ms: row.get("created_at"),
        previous_secrets: PreviousSecret::list_from_stored(row.get("previous_secrets")),
        signing_keys: Default::default(),
    }
}

/// When the next pending delivery without a lease of a webhook in `shard` falls due.
pub(super) async fn next_due_at(pool: &PgPool, shard: Shard) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(&NEXT_DUE_IN_SHARE)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .fetch_one(pool)
        .await?)
}
