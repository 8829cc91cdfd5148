//! Claims on PostgreSQL, as `domain::claim` decides: every claim under the lock of the
//! webhooks it claims for, counting their attempts in flight (any process's leases) after the
//! lock is held; and the statement fragments the claims, the results and the fan-out share.
//!
//! Claims find webhooks with work through `due_webhooks` (a row per webhook that may have a
//! delivery waiting, no later than it: see its migration), walked in due order, and keep its
//! rows close to the truth for the webhooks they look at — so a claim costs what it takes,
//! not the number of webhooks.

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

/// The condition, on a delivery `d` of the webhook whose key is `webhook_seq` (a column),
/// that no lease holds it at the time `now` (a lease whose time ran out holds nothing: its
/// delivery may be claimed again).
///
/// Against the list of the webhook's held deliveries (a probe of `leases_by_webhook`, once
/// per webhook) rather than `NOT EXISTS` per delivery: an anti-join leaves the planner a
/// choice, and with `leases` small when the plan was made it scanned the whole table once
/// for every delivery it stepped over.
pub(super) fn unleased(webhook_seq: &str, now: &str) -> String {
    format!(
        "d.seq <> ALL(ARRAY(SELECT l.delivery_seq FROM leases l
                            WHERE l.webhook_seq = {webhook_seq} AND l.until_ms >= {now}))"
    )
}

/// The attempts in flight of the webhook aliased `webhook` at the time `now`: its unexpired
/// leases, any process's.
pub(super) fn in_flight_of(webhook: &str, now: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM leases l WHERE l.webhook_seq = {webhook}.seq AND l.until_ms >= {now})"
    )
}

/// [`in_flight_of`] a webhook `w` at `$1`.
static IN_FLIGHT: LazyLock<String> = LazyLock::new(|| in_flight_of("w", "$1"));

/// When the oldest pending delivery of the webhook whose key is `webhook_seq` (a column) that
/// no lease holds at the time `now` falls due, of those due by `due_by` if given; NULL when
/// there is none.
///
/// A scalar subquery with `ORDER BY … LIMIT 1` rather than `EXISTS` or `MIN`: the planner
/// would turn those into a hash join over every due delivery; this stays one probe of
/// `deliveries_webhook_due` per webhook, however large a backlog is.
fn oldest_unleased(webhook_seq: &str, now: &str, due_by: Option<&str>) -> String {
    let due = due_by.map_or(String::new(), |due_by| {
        format!(" AND d.next_attempt_at <= {due_by}")
    });
    format!(
        "(SELECT d.next_attempt_at FROM deliveries d WHERE d.webhook_seq = {webhook_seq}
            AND d.status = 'pending'{due} AND {unleased}
          ORDER BY d.next_attempt_at LIMIT 1)",
        unleased = unleased(webhook_seq, now)
    )
}

/// The condition, on a webhook's key `webhook_seq` (a column), that a due delivery of it
/// waits unclaimed at the time `now` ([`oldest_unleased`] due by then).
pub(super) fn work_waiting(webhook_seq: &str, now: &str) -> String {
    format!(
        "{} IS NOT NULL",
        oldest_unleased(webhook_seq, now, Some(now))
    )
}

/// Each of the webhooks `$2` with its attempts in flight at `$1`.
static IN_FLIGHT_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq, {in_flight} AS busy FROM UNNEST($2::bigint[]) AS w(seq)",
        in_flight = *IN_FLIGHT
    )
});

/// The condition, on a webhook's key `seq` (a column), that the webhook is in the share of
/// this process whose count and index are the parameters `count` and `index` (as
/// `domain::claim::Shard::owns` decides).
pub(super) fn in_share(seq: &str, count: &str, index: &str) -> String {
    format!("{seq} % {count} = {index}")
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

/// Locks the webhooks this claim serves: the enabled ones of this process's share (`$2`, `$3`)
/// with work waiting at `$1` and room for it under their limit (`$4` per webhook, `$5` =
/// `health::OPENS_AFTER`), at most `$6` with a closed circuit and `$7` with an open one,
/// longest waiting first — `domain::claim::served`, in SQL so that only these are read and
/// locked (the store contract's `a_claim_serves_the_webhooks_waiting_longest` runs both
/// stores over it) — skipping those another process is claiming for right now; and any
/// webhook whose lease ran out (its delivery is claimable again: usually none). Rows: each
/// webhook and its `due_webhooks` time (`covered`: how far the walk went).
///
/// The webhooks are walked in the order of their `due_webhooks` time — their oldest delivery
/// waiting, or earlier (claims keep it exact for the webhooks they serve) — and the walk stops
/// once it has locked enough: a claim reads the queues of the webhooks it serves and of those
/// before them without room, not of every webhook with work (a thousand far endpoints, each
/// with a backlog, cost 77 ms of database time per claim). The rows are put in that order
/// before any webhook is checked (a subquery the planner keeps apart, `OFFSET 0`): left to
/// itself, the planner checked every due webhook and sorted those that passed, which cannot
/// stop early — with a thousand webhooks waiting for room, each claim checked all of them.
///
/// Room is counted before the lock, so it may be stale: a webhook whose slot freed a moment
/// ago is left to the next claim (the attempt that freed it wakes one), and one that filled
/// meanwhile is counted again under the lock.
static LOCK_SERVED_WEBHOOKS: LazyLock<String> = LazyLock::new(|| {
    let claimable = format!(
        "w.enabled AND {waiting} AND {in_flight} < {limit}",
        waiting = work_waiting("w.seq", "$1"),
        in_flight = *IN_FLIGHT,
        limit = in_flight_limit("w", "$1", "$4", "$5"),
    );
    let walk = |circuit: &str, most: &str| {
        format!(
            "SELECT w.seq, r.due_ms AS covered
             FROM (SELECT r.webhook_seq, r.due_ms FROM due_webhooks r
                   WHERE r.due_ms <= $1 AND {share}
                   ORDER BY r.due_ms, r.webhook_seq OFFSET 0) AS r
             JOIN webhooks w ON w.seq = r.webhook_seq
             WHERE w.failure_streak {circuit} $5 AND {claimable}
             ORDER BY r.due_ms, r.webhook_seq LIMIT {most}
             FOR NO KEY UPDATE OF w SKIP LOCKED",
            share = in_share("r.webhook_seq", "$2", "$3"),
        )
    };
    format!(
        "WITH closed AS ({closed}),
         open AS ({open}),
         expired AS (
             SELECT w.seq, NULL::bigint AS covered FROM webhooks w
             WHERE w.seq IN (SELECT l.webhook_seq FROM leases l WHERE l.until_ms < $1 AND {lease_share})
               AND {claimable}
             FOR NO KEY UPDATE OF w SKIP LOCKED)
         SELECT seq, covered, TRUE AS walked FROM closed
         UNION ALL SELECT seq, NULL, FALSE FROM open
         UNION ALL SELECT seq, covered, FALSE FROM expired",
        closed = walk("<", "$6"),
        open = walk(">=", "$7"),
        lease_share = in_share("l.webhook_seq", "$2", "$3"),
    )
});

/// Locks the `due_webhooks` rows of this process's share (`$2`, `$3`) due by `$4` (the
/// part a claim at `$1` walked) that no other transaction holds — one storing a delivery for
/// the webhook holds its row until it commits — of the webhooks `$5` it served and of those
/// with nothing waiting at `$1`, for [`ADVANCE_DUE_ROWS`].
static LOCK_WALKED_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT r.webhook_seq FROM due_webhooks r
         WHERE r.due_ms <= $4 AND {share}
           AND (r.webhook_seq = ANY($5) OR NOT {waiting})
         ORDER BY r.webhook_seq
         FOR UPDATE SKIP LOCKED",
        share = in_share("r.webhook_seq", "$2", "$3"),
        waiting = work_waiting("r.webhook_seq", "$1"),
    )
});

/// Of the rows of `due_webhooks` locked for the webhooks `$2`, removes those whose webhook has
/// no pending delivery that an unexpired lease at `$1` leaves free, and moves the others to
/// their earliest one. A statement of its own, after the lock: its snapshot sees every
/// delivery stored by a transaction that held the row before (see the migration
/// `due_webhooks`), and one that has yet to take the row waits for this transaction.
static ADVANCE_DUE_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH n AS (SELECT v.seq, {next} AS next FROM UNNEST($2::bigint[]) AS v(seq)),
         gone AS (
             DELETE FROM due_webhooks r USING n WHERE r.webhook_seq = n.seq AND n.next IS NULL)
         UPDATE due_webhooks r SET due_ms = n.next FROM n
         WHERE r.webhook_seq = n.seq AND n.next > r.due_ms",
        next = oldest_unleased("v.seq", "$1", None),
    )
});

/// When the next pending delivery without a lease of a webhook in this process's share
/// (`$1`, `$2`) falls due, as far as `due_webhooks` tells (a row may be early: a claim that
/// finds nothing then moves it on).
static NEXT_DUE_IN_SHARE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT MIN(r.due_ms) FROM due_webhooks r WHERE {share}",
        share = in_share("r.webhook_seq", "$1", "$2")
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
        unleased = unleased("w.seq", "$1"),
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
    let rows = sqlx::query(&LOCK_SERVED_WEBHOOKS)
        .bind(now_ms)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .bind(i64::from(lease.per_webhook))
        .bind(health::OPENS_AFTER as i32)
        .bind(i64::from(lease.max))
        .bind(i64::from(lease.max_failing))
        .fetch_all(&mut **tx)
        .await?;
    let mut webhooks: Vec<i64> = rows.iter().map(|row| row.get("seq")).collect();
    webhooks.sort_unstable();
    webhooks.dedup();
    // How far the walk of webhooks with a closed circuit went: all that is due, unless it
    // stopped at its most (then as far as the last it took).
    let walked = rows.iter().filter(|row| row.get::<bool, _>("walked"));
    let covered = if walked.clone().count() < lease.max as usize {
        now_ms
    } else {
        walked.map(|row| row.get("covered")).max().unwrap_or(now_ms)
    };
    if webhooks.is_empty() {
        advance_due_rows(tx, now_ms, covered, &webhooks, shard).await?;
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
    let claimed = lease_and_load(tx, &picked, now_ms, lease).await?;
    advance_due_rows(tx, now_ms, covered, &webhooks, shard).await?;
    Ok(claimed)
}

/// After a claim at `now_ms` that walked the `due_webhooks` rows due by `covered` and served
/// `served`: moves the rows of the served webhooks to their next delivery waiting (so the
/// next claims serve others first) and removes those of webhooks with nothing pending left
/// (so the next claims look only at webhooks with work) — of the rows no other transaction
/// holds ([`LOCK_WALKED_ROWS`], [`ADVANCE_DUE_ROWS`]).
async fn advance_due_rows(
    tx: &mut Tx<'_>,
    now_ms: i64,
    covered: i64,
    served: &[i64],
    shard: Shard,
) -> StoreResult<()> {
    let locked: Vec<i64> = sqlx::query_scalar(&LOCK_WALKED_ROWS)
        .bind(now_ms)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .bind(covered)
        .bind(served)
        .fetch_all(&mut **tx)
        .await?;
    if !locked.is_empty() {
        sqlx::query(&ADVANCE_DUE_ROWS)
            .bind(now_ms)
            .bind(&locked)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
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
