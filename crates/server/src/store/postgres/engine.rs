//! Claims, outcomes and the delivery lifecycle on PostgreSQL, as `domain::claim` and
//! `domain::delivery` decide — every change conditional on the claim token or the current
//! status, and every claim under the lock of the webhooks it claims for.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, PgPool, Postgres, Row, Transaction};

use super::super::*;
use super::found;
use crate::domain::claim::{self, DueQueue, Shard};
use crate::domain::delivery::{self, AfterAttempt, BulkChange};
use crate::domain::new_id;
use crate::domain::webhook::WebhookSecret;

type Tx<'c> = Transaction<'c, Postgres>;

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
fn unleased(now: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM leases l WHERE l.delivery_seq = d.seq AND l.until_ms >= {now})"
    )
}

/// [`unleased`] at `$1`.
static UNLEASED: LazyLock<String> = LazyLock::new(|| unleased("$1"));

/// The attempts in flight of the webhook aliased `webhook` at the time `now`: its unexpired
/// leases, any process's.
fn in_flight_of(webhook: &str, now: &str) -> String {
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
fn work_waiting(webhook: &str, now: &str) -> String {
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

/// Which of the webhooks `$2` have work waiting at `$1`, with their attempts in flight.
static WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq, {in_flight} AS busy FROM UNNEST($2::bigint[]) AS w(seq)
         WHERE {waiting}",
        in_flight = *IN_FLIGHT,
        waiting = *HAS_WORK_WAITING
    )
});

/// The condition, on the webhook aliased `webhook`, that it is in the share of this process
/// whose count and index are the parameters `count` and `index` (as
/// `domain::claim::Shard::owns` decides).
fn in_share(webhook: &str, count: &str, index: &str) -> String {
    format!("{webhook}.seq % {count} = {index}")
}

/// Locks the enabled webhooks of this process's share (`$2`, `$3`) with work waiting at `$1`,
/// skipping those another process is claiming for right now.
static LOCK_DUE_WEBHOOKS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq FROM webhooks w WHERE w.enabled AND {share} AND {waiting}
         FOR NO KEY UPDATE OF w SKIP LOCKED",
        share = in_share("w", "$2", "$3"),
        waiting = *HAS_WORK_WAITING
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
/// deliveries no lease holds, at most `$3`. The count is its own lateral subquery, not
/// [`IN_FLIGHT`] as a value: the planner would fold that into the result and count again for
/// every delivery returned.
static DUE_AND_BUSY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.seq AS webhook_seq, b.busy, x.seq
         FROM UNNEST($2::bigint[]) AS w(seq)
         CROSS JOIN LATERAL (
             SELECT COUNT(*) AS busy FROM leases l WHERE l.webhook_seq = w.seq AND l.until_ms >= $1) AS b
         LEFT JOIN LATERAL (
             SELECT d.seq, d.next_attempt_at FROM deliveries d
             WHERE d.webhook_seq = w.seq AND d.status = 'pending' AND d.next_attempt_at <= $1
               AND {unleased}
             ORDER BY d.next_attempt_at, d.seq LIMIT $3) AS x ON TRUE
         ORDER BY w.seq, x.next_attempt_at, x.seq",
        unleased = *UNLEASED
    )
});

/// Which of `webhooks` have due deliveries waiting unclaimed, each with its attempts in
/// flight (unexpired leases, any process): one statement for all.
pub(super) async fn waiting(
    conn: &mut PgConnection,
    webhooks: &[i64],
    now_ms: i64,
) -> StoreResult<HashMap<i64, i64>> {
    busy_by_webhook(conn, &WAITING, webhooks, now_ms).await
}

/// Attempts in flight (unexpired leases, any process) of each of `webhooks`.
pub(super) async fn in_flight(
    conn: &mut PgConnection,
    webhooks: &[i64],
    now_ms: i64,
) -> StoreResult<HashMap<i64, i64>> {
    busy_by_webhook(conn, &IN_FLIGHT_OF, webhooks, now_ms).await
}

/// Runs `statement` (rows of `seq`, `busy`) for `webhooks` at `now_ms`: each webhook's
/// attempts in flight, by its key.
async fn busy_by_webhook(
    conn: &mut PgConnection,
    statement: &str,
    webhooks: &[i64],
    now_ms: i64,
) -> StoreResult<HashMap<i64, i64>> {
    Ok(sqlx::query(statement)
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
        .fetch_all(&mut **tx)
        .await?;
    if webhooks.is_empty() {
        return Ok(Vec::new());
    }
    // Each webhook's attempts in flight and its oldest due deliveries, as many as it could
    // take: one statement, after the locks are held, so every earlier claim for these
    // webhooks is counted. The rules then decide how many of them it gets.
    let mut due: HashMap<i64, (i64, Vec<i64>)> = HashMap::new();
    for row in sqlx::query(&DUE_AND_BUSY)
        .bind(now_ms)
        .bind(&webhooks)
        .bind(i64::from(lease.per_webhook.min(lease.max)))
        .fetch_all(&mut **tx)
        .await?
    {
        let entry = due
            .entry(row.get("webhook_seq"))
            .or_insert_with(|| (row.get("busy"), Vec::new()));
        if let Some(seq) = row.get::<Option<i64>, _>("seq") {
            entry.1.push(seq);
        }
    }
    let queues: Vec<DueQueue<i64>> = webhooks
        .iter()
        .filter_map(|seq| due.remove(seq))
        .map(|(busy, mut due)| {
            let free = claim::free_slots(lease.per_webhook, busy as u32).min(lease.max);
            due.truncate(free as usize);
            DueQueue { due }
        })
        .filter(|queue| !queue.due.is_empty())
        .collect();
    let picked = claim::round_robin(queues, lease.max as usize, rand::random::<u32>() as usize);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    lease_and_load(tx, &picked, now_ms, lease).await
}

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
    let rows = sqlx::query(
        "WITH claimed AS (
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT d.seq, d.webhook_seq, $1, $2 FROM deliveries d
             WHERE d.seq = ANY($3) AND d.status = $5
             ON CONFLICT (delivery_seq) DO UPDATE SET token = EXCLUDED.token, until_ms = EXCLUDED.until_ms
                 WHERE leases.until_ms < $4
             RETURNING delivery_seq)
         SELECT d.seq, d.id, d.attempt_count, d.round_base, d.created_at, e.id AS event_id, e.type, e.body,
                w.seq AS webhook_seq, w.id AS webhook_id, w.url, w.secret, w.previous_secret,
                w.previous_secret_until, a.email, d.account_id
         FROM claimed c
         JOIN deliveries d ON d.seq = c.delivery_seq
         JOIN events e ON e.seq = d.event_seq
         JOIN webhooks w ON w.seq = d.webhook_seq
         JOIN accounts a ON a.id = d.account_id",
    )
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

fn claimed(row: &PgRow, token: u64) -> ClaimedDelivery {
    ClaimedDelivery {
        seq: row.get("seq"),
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
        previous_secret: PreviousSecret::from_stored(
            row.get("previous_secret"),
            row.get("previous_secret_until"),
        ),
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

/// Records a batch of results (see [`apply_outcomes`]) and picks, under their webhooks' locks,
/// the deliveries their freed slots go straight back to, as `domain::claim::handed_back`
/// decides: for the enabled webhooks of this process's share (`$15`, `$16`) whose lock is
/// free, while no other webhook of the share waits at `$14` with room under the limit `$17`,
/// each webhook's oldest due deliveries no lease holds, as many as it freed less any excess
/// over the limit. Rows: each delivery moved on (`handed` false) and each picked (true).
///
/// The picks are read in the statement's snapshot, which may predate a claim committed just
/// before the lock was taken: leasing such a delivery then fails on its lease and the slot
/// stays free for the next claim; since a hand-back only replaces leases it released, no
/// count can grow past the limit.
static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH released AS (
             DELETE FROM leases l USING UNNEST($1::bigint[], $2::bigint[]) AS v(seq, token)
             WHERE l.delivery_seq = v.seq AND l.token = v.token
             RETURNING l.delivery_seq, l.webhook_seq),
         moved AS (
             UPDATE deliveries d
             SET status = CASE WHEN w.enabled THEN v.status ELSE v.status_disabled END,
                 next_attempt_at = CASE WHEN w.enabled THEN v.due ELSE v.due_disabled END,
                 attempt_count = v.number, last_error = v.error, updated_at = v.started + v.duration
             FROM UNNEST($1::bigint[], $3::text[], $4::bigint[], $12::text[], $13::bigint[],
                         $5::int[], $6::text[], $7::bigint[], $8::bigint[])
                  AS v(seq, status, due, status_disabled, due_disabled, number, error, started,
                       duration),
                  webhooks w
             WHERE d.seq = v.seq AND w.seq = d.webhook_seq
               AND d.seq IN (SELECT r.delivery_seq FROM released r)
             RETURNING d.seq),
         recorded AS (
             INSERT INTO attempts (delivery_seq, number, started_at, duration_ms, status_code,
                                   error_kind, error_message, response_body)
             SELECT * FROM UNNEST($1::bigint[], $5::int[], $7::bigint[], $8::bigint[], $9::int[],
                                  $10::text[], $6::text[], $11::text[])
                      AS a(seq, number, started, duration, code, kind, message, body)
             WHERE a.seq IN (SELECT seq FROM moved)
             ON CONFLICT DO NOTHING),
         freed AS (SELECT webhook_seq AS seq, COUNT(*) AS k FROM released GROUP BY webhook_seq),
         locked AS (
             SELECT w.seq, f.k FROM webhooks w JOIN freed f ON f.seq = w.seq
             WHERE $17 > 0 AND w.enabled AND {share}
               AND NOT EXISTS (
                   SELECT 1 FROM webhooks o
                   WHERE o.enabled AND o.seq <> w.seq AND {other_share} AND {other_waiting}
                     AND {other_in_flight} < $17)
             FOR NO KEY UPDATE OF w SKIP LOCKED),
         handed AS (
             SELECT n.seq FROM locked w
             CROSS JOIN LATERAL (
                 SELECT COUNT(*) AS busy FROM leases l WHERE l.webhook_seq = w.seq AND l.until_ms >= $14) AS b
             CROSS JOIN LATERAL (
                 SELECT d.seq FROM deliveries d
                 WHERE d.webhook_seq = w.seq AND d.status = 'pending' AND d.next_attempt_at <= $14
                   AND {unleased}
                 ORDER BY d.next_attempt_at, d.seq
                 LIMIT LEAST(w.k, GREATEST($17 - (b.busy - w.k), 0))) AS n)
         SELECT seq, FALSE AS handed FROM moved
         UNION ALL SELECT seq, TRUE FROM handed",
        share = in_share("w", "$15", "$16"),
        other_share = in_share("o", "$15", "$16"),
        other_waiting = work_waiting("o", "$14"),
        other_in_flight = in_flight_of("o", "$14"),
        unleased = unleased("$14"),
    )
});

/// Where the slots freed by recorded results may go straight back (see [`RECORD`]).
#[derive(Debug, Clone, Copy)]
struct HandBack {
    /// The time now, Unix ms.
    now_ms: i64,
    /// This process's share of the webhooks.
    shard: Shard,
    /// The per-webhook concurrency limit.
    limit: u32,
}

/// Records a batch of attempts and hands the room they free on: straight back to their own
/// webhooks' next deliveries where the rules allow it ([`RECORD`]), the rest as any claim
/// shares it — at most `follow_up`'s lease's `max` in all (none without one).
pub(super) async fn record_and_claim(
    tx: &mut Tx<'_>,
    outcomes: &[AttemptOutcome],
    follow_up: Option<(i64, Lease)>,
    shard: Shard,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let hand_back = follow_up.map(|(now_ms, lease)| HandBack {
        now_ms,
        shard,
        limit: lease.per_webhook,
    });
    let handed = apply_outcomes(tx, outcomes, hand_back).await?;
    let Some((now_ms, lease)) = follow_up else {
        return Ok(Vec::new());
    };
    let handed = &handed[..handed.len().min(lease.max as usize)];
    let mut claimed = lease_and_load(tx, handed, now_ms, lease).await?;
    let rest = lease.max.saturating_sub(claimed.len() as u32);
    if rest > 0 {
        let rest = Lease { max: rest, ..lease };
        claimed.extend(claim_in(tx, now_ms, rest, shard).await?);
    }
    Ok(claimed)
}

/// Records a batch of attempts and moves each delivery on, if its claim still holds: its
/// lease is released, and only then the delivery moves and its attempt is recorded — one
/// statement for the whole batch, which also picks the deliveries the freed slots go back to
/// (under `hand_back`; none without it).
async fn apply_outcomes(
    tx: &mut Tx<'_>,
    outcomes: &[AttemptOutcome],
    hand_back: Option<HandBack>,
) -> StoreResult<Vec<i64>> {
    // The state each delivery moves to, decided for both cases: a retry whose webhook was
    // disabled meanwhile waits, paused. Which case holds is read (without a lock, so that
    // recording results never waits for a claim in progress) in the statement itself; a final
    // failure's disable is conditional on the webhook still being enabled, so concurrent ones
    // still queue exactly one email.
    let (mut if_enabled, mut if_disabled) = ((vec![], vec![]), (vec![], vec![]));
    for outcome in outcomes {
        for (enabled, states) in [(true, &mut if_enabled), (false, &mut if_disabled)] {
            let (status, next_at) = delivery::settle(outcome.next, enabled);
            states.0.push(status.as_str());
            states.1.push(next_at);
        }
    }
    let attempts: Vec<&AttemptRecord> = outcomes.iter().map(|o| &o.attempt).collect();
    let text = |f: &dyn Fn(&AttemptRecord) -> Option<String>| -> Vec<Option<String>> {
        attempts.iter().map(|a| f(a)).collect()
    };
    let (now_ms, shard, limit) =
        hand_back.map_or((0, Shard::WHOLE, 0), |h| (h.now_ms, h.shard, h.limit));
    let rows: Vec<(i64, bool)> = sqlx::query_as(&RECORD)
        .bind(
            outcomes
                .iter()
                .map(|o| o.delivery_seq)
                .collect::<Vec<i64>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.claim_token as i64)
                .collect::<Vec<i64>>(),
        )
        .bind(&if_enabled.0)
        .bind(&if_enabled.1)
        .bind(
            attempts
                .iter()
                .map(|a| a.number as i32)
                .collect::<Vec<i32>>(),
        )
        .bind(text(&|a| a.error_message.clone()))
        .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<i64>>())
        .bind(attempts.iter().map(|a| a.duration_ms).collect::<Vec<i64>>())
        .bind(
            attempts
                .iter()
                .map(|a| a.status_code.map(i32::from))
                .collect::<Vec<Option<i32>>>(),
        )
        .bind(text(&|a| a.error_kind.clone()))
        .bind(text(&|a| a.response_body.clone()))
        .bind(&if_disabled.0)
        .bind(&if_disabled.1)
        .bind(now_ms)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .bind(i64::from(limit))
        .fetch_all(&mut **tx)
        .await?;
    let moved: std::collections::HashSet<i64> = rows
        .iter()
        .filter(|(_, handed)| !handed)
        .map(|(seq, _)| *seq)
        .collect();
    let handed: Vec<i64> = rows
        .iter()
        .filter(|(_, handed)| *handed)
        .map(|(seq, _)| *seq)
        .collect();
    let (recorded, lost): (Vec<&AttemptOutcome>, Vec<&AttemptOutcome>) = outcomes
        .iter()
        .partition(|outcome| moved.contains(&outcome.delivery_seq));
    for outcome in lost {
        tracing::warn!(
            delivery = outcome.delivery_seq,
            "attempt result dropped: the claim was lost"
        );
    }

    // A final failure disables its webhook (rare, so one by one).
    for outcome in recorded {
        if let (AfterAttempt::GiveUp { .. }, Some(disabling)) = (outcome.next, &outcome.disabling) {
            disable_webhook(
                tx,
                outcome.webhook_seq,
                &disabling.reason,
                Some(&disabling.email),
                disabling.at_ms,
            )
            .await?;
        }
    }
    Ok(handed)
}

/// Disables the webhook if it is still enabled; only then pauses its pending deliveries and
/// queues the email (if any), so concurrent final failures send exactly one.
pub(super) async fn disable_webhook(
    tx: &mut Tx<'_>,
    webhook_seq: i64,
    reason: &str,
    email: Option<&crate::domain::email::Email>,
    now_ms: i64,
) -> StoreResult<bool> {
    let disabled = sqlx::query(
        "UPDATE webhooks SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, updated_at = $2
         WHERE seq = $3 AND enabled",
    )
    .bind(reason)
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_disabled(),
        now_ms,
    )
    .await?;
    if let Some(email) = email {
        sqlx::query(
            "INSERT INTO emails (id, recipient, subject, body, created_at, next_try_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(new_id("eml_"))
        .bind(&email.recipient)
        .bind(&email.subject)
        .bind(&email.body)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// Enables the webhook if it is disabled and resumes its paused deliveries.
pub(super) async fn enable_webhook(
    tx: &mut Tx<'_>,
    webhook_seq: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let enabled = sqlx::query(
        "UPDATE webhooks SET enabled = TRUE, disabled_reason = NULL, disabled_at = NULL, updated_at = $1
         WHERE seq = $2 AND NOT enabled",
    )
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if enabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_enabled(now_ms),
        now_ms,
    )
    .await?;
    Ok(true)
}

/// Which deliveries a decided change applies to.
#[derive(Debug, Clone, Copy)]
enum Deliveries {
    /// Every delivery of this webhook (by its key).
    OfWebhook(i64),
    /// This one delivery (by its key).
    One(i64),
    /// The deliveries of this webhook (by its key) created in `[from_ms, to_ms)`.
    OfWebhookCreated {
        /// The webhook's key.
        webhook: i64,
        /// Start of the window, Unix ms.
        from_ms: i64,
        /// End of the window (excluded), Unix ms.
        to_ms: i64,
    },
}

/// Applies a decided change to the deliveries still in `change.from`.
async fn apply_change(
    tx: &mut Tx<'_>,
    which: Deliveries,
    change: BulkChange,
    now_ms: i64,
) -> StoreResult<u64> {
    let (column, key, from_ms, to_ms) = match which {
        Deliveries::OfWebhook(seq) => ("webhook_seq", seq, i64::MIN, i64::MAX),
        Deliveries::One(seq) => ("seq", seq, i64::MIN, i64::MAX),
        Deliveries::OfWebhookCreated {
            webhook,
            from_ms,
            to_ms,
        } => ("webhook_seq", webhook, from_ms, to_ms),
    };
    Ok(sqlx::query(&format!(
        "UPDATE deliveries SET status = $1, next_attempt_at = $2,
                round_base = CASE WHEN $3 THEN attempt_count ELSE round_base END, updated_at = $4
         WHERE {column} = $5 AND status = $6 AND created_at >= $7 AND created_at < $8"
    ))
    .bind(change.to.as_str())
    .bind(change.due_at)
    .bind(change.new_round)
    .bind(now_ms)
    .bind(key)
    .bind(change.from.as_str())
    .bind(from_ms)
    .bind(to_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected())
}

/// Re-queues a webhook's failed deliveries created in the window, as the rules decide.
pub(super) async fn recover(
    pool: &PgPool,
    account: &Account,
    webhook_id: &str,
    (from_ms, to_ms): (i64, i64),
    now_ms: i64,
) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT seq, enabled FROM webhooks WHERE account_id = $1 AND id = $2 FOR SHARE",
    )
    .bind(&account.id)
    .bind(webhook_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let change = delivery::recover_failed(row.get("enabled"), now_ms);
    let which = Deliveries::OfWebhookCreated {
        webhook: row.get("seq"),
        from_ms,
        to_ms,
    };
    let recovered = apply_change(&mut tx, which, change, now_ms).await?;
    tx.commit().await?;
    Ok(recovered)
}

/// Queues a failed delivery for a new round of attempts, now, if the rules allow it.
pub(super) async fn retry(
    pool: &PgPool,
    account: &Account,
    id: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT d.seq, d.status, w.enabled FROM deliveries d JOIN webhooks w ON w.seq = d.webhook_seq
         WHERE d.account_id = $1 AND d.id = $2 FOR SHARE OF w",
    )
    .bind(&account.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = found(row)?;
    let status = DeliveryStatus::parse(row.get("status")).unwrap_or(DeliveryStatus::Pending);
    let change = delivery::manual_retry(status, row.get("enabled"), now_ms)
        .map_err(|refused| StoreError::InvalidState(refused.message()))?;
    apply_change(&mut tx, Deliveries::One(row.get("seq")), change, now_ms).await?;
    tx.commit().await?;
    Ok(())
}

const SELECT: &str = "SELECT d.seq, d.id, e.id AS event_id, e.type, w.id AS webhook_id, d.status,
        d.attempt_count, d.next_attempt_at, d.last_error, d.created_at, d.updated_at
     FROM deliveries d JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.seq = d.webhook_seq";

fn record(row: &PgRow) -> DeliveryRecord {
    DeliveryRecord {
        id: row.get("id"),
        event_id: row.get("event_id"),
        event_type: row.get("type"),
        webhook_id: row.get("webhook_id"),
        status: DeliveryStatus::parse(row.get("status")).unwrap_or(DeliveryStatus::Pending),
        attempt_count: row.get::<i32, _>("attempt_count") as u32,
        next_attempt_at: row.get("next_attempt_at"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        attempts: Vec::new(),
    }
}

async fn attempts(pool: &PgPool, delivery_seq: i64) -> StoreResult<Vec<AttemptRecord>> {
    let rows = sqlx::query(
        "SELECT number, started_at, duration_ms, status_code, error_kind, error_message, response_body
         FROM attempts WHERE delivery_seq = $1 ORDER BY number",
    )
    .bind(delivery_seq)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| AttemptRecord {
            number: row.get::<i32, _>("number") as u32,
            started_at: row.get("started_at"),
            duration_ms: row.get("duration_ms"),
            status_code: row.get::<Option<i32>, _>("status_code").map(|s| s as u16),
            error_kind: row.get("error_kind"),
            error_message: row.get("error_message"),
            response_body: row.get("response_body"),
        })
        .collect())
}

/// A webhook's deliveries before the cursor, newest first.
pub(super) async fn list(
    pool: &PgPool,
    account: &Account,
    webhook_id: &str,
    before: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<DeliveryRecord>> {
    let webhook_seq: i64 = found(
        sqlx::query_scalar("SELECT seq FROM webhooks WHERE account_id = $1 AND id = $2")
            .bind(&account.id)
            .bind(webhook_id)
            .fetch_optional(pool)
            .await?,
    )?;
    let rows = sqlx::query(&format!(
        "{SELECT} WHERE d.webhook_seq = $1
           AND d.seq < COALESCE((SELECT seq FROM deliveries WHERE id = $2 AND webhook_seq = $1), 9223372036854775807)
         ORDER BY d.seq DESC LIMIT $3"
    ))
    .bind(webhook_seq)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut delivery = record(row);
        delivery.attempts = attempts(pool, row.get("seq")).await?;
        out.push(delivery);
    }
    Ok(out)
}

/// One delivery with its attempts.
pub(super) async fn get(pool: &PgPool, account: &Account, id: &str) -> StoreResult<DeliveryRecord> {
    let row = sqlx::query(&format!("{SELECT} WHERE d.account_id = $1 AND d.id = $2"))
        .bind(&account.id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let row = found(row)?;
    let mut delivery = record(&row);
    delivery.attempts = attempts(pool, row.get("seq")).await?;
    Ok(delivery)
}
