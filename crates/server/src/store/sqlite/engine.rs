//! The delivery engine's claims on SQLite: due deliveries claimed under a lease (as
//! `domain::claim` decides), and claims given back — every change conditional on the claim
//! token, so a worker whose lease expired and was taken over changes nothing. Results are
//! recorded in `results`, disables and resumes applied in `lifecycle`.

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::super::queue::{queues_to_read_again, rows_per_webhook};
use super::super::*;
use super::statement_chunks;
use crate::domain::claim::{self, DueQueue};
use crate::domain::health;
use crate::domain::webhook::WebhookSecret;

/// A webhook's health from a row with its `failure_streak` and `held_until`.
pub(super) fn health_of(row: &sqlx::sqlite::SqliteRow) -> health::Health {
    health::Health {
        failure_streak: row.get::<i64, _>("failure_streak") as u32,
        held_until: row.get("held_until"),
    }
}

/// A delivery counts as claimed while its lease runs; an expired lease frees it. Tested on
/// `claimed_until` (set and cleared with the claim token), which the due index holds: a probe
/// of a queue steps over the deliveries in flight at its head without reading their rows.
const UNCLAIMED: &str = "(claimed_until IS NULL OR claimed_until < ?)";

/// How many attempts of a webhook are in flight (unexpired leases, any process), and whether
/// it has due deliveries waiting unclaimed.
pub(super) async fn webhook_load(
    conn: &mut SqliteConnection,
    webhook_seq: i64,
    now_ms: i64,
) -> StoreResult<(u32, bool)> {
    let row = sqlx::query(&format!(
        "SELECT (SELECT COUNT(*) FROM deliveries WHERE webhook_seq = ?1 AND claim_token IS NOT NULL
                   AND claimed_until >= ?2) AS in_flight,
                EXISTS (SELECT 1 FROM deliveries WHERE webhook_seq = ?1 AND status = 'pending'
                   AND next_attempt_at <= ?2 AND {}) AS waiting",
        UNCLAIMED.replace('?', "?2")
    ))
    .bind(webhook_seq)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        row.get::<i64, _>("in_flight") as u32,
        row.get::<bool, _>("waiting"),
    ))
}

/// Claims due deliveries of enabled webhooks: each webhook's free slots, round-robin across
/// webhooks, at most `lease.max` in all.
pub(super) async fn claim_due(
    pool: &SqlitePool,
    now_ms: i64,
    lease: Lease,
    rotation: usize,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let mut tx = pool.begin().await?;
    let claimed = claim_in(&mut tx, now_ms, lease, rotation).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// [`claim_due`] inside a transaction the caller commits.
pub(super) async fn claim_in(
    tx: &mut Transaction<'static, Sqlite>,
    now_ms: i64,
    lease: Lease,
    rotation: usize,
) -> StoreResult<Vec<ClaimedDelivery>> {
    // 1. Enabled webhooks with due, unclaimed work — each with the oldest such delivery and
    //    when it fell due — their attempts in flight and their failure streaks (an open
    //    circuit allows one attempt at a time). Joined on its head, a webhook's queue is probed
    //    once, and its attempts in flight are counted only if it has work.
    let candidates = sqlx::query(&format!(
        "SELECT w.seq, w.failure_streak, w.held_until, head.seq AS head,
                head.next_attempt_at AS head_due,
                (SELECT COUNT(*) FROM deliveries c WHERE c.webhook_seq = w.seq
                   AND c.claim_token IS NOT NULL AND c.claimed_until >= ?1) AS in_flight
         FROM webhooks w
         JOIN deliveries head ON head.seq =
             (SELECT d.seq FROM deliveries d WHERE d.webhook_seq = w.seq
                AND d.status = 'pending' AND d.next_attempt_at <= ?1 AND {unclaimed}
              ORDER BY d.next_attempt_at, d.seq LIMIT 1)
         WHERE w.enabled = 1
         ORDER BY w.seq",
        unclaimed = UNCLAIMED.replace("claim", "d.claim").replace('?', "?1")
    ))
    .bind(now_ms)
    .fetch_all(&mut **tx)
    .await?;
    // 2. Each one's oldest due deliveries, as many as it has free slots — with many webhooks,
    //    at first only a part of each queue (`rows_per_webhook`; its head, read above, when
    //    that part is one), the cut ones read again in full if that cannot fill the claim.
    let mut with_room = Vec::with_capacity(candidates.len());
    let mut with_work = Vec::with_capacity(candidates.len());
    let mut due: HashMap<i64, Vec<i64>> = HashMap::with_capacity(candidates.len());
    for row in candidates {
        let health = health_of(&row);
        let limit = health::in_flight_limit(lease.per_webhook, health, now_ms);
        let free = claim::free_slots(limit, row.get::<i64, _>("in_flight") as u32);
        if free > 0 {
            let seq = row.get::<i64, _>("seq");
            let failing = !health::may_start_at_once(health);
            with_room.push((seq, free.min(lease.max), failing));
            with_work.push(claim::WithWork {
                key: seq,
                oldest_due_ms: row.get("head_due"),
                failing,
            });
            due.insert(seq, vec![row.get("head")]);
        }
    }
    // Only the webhooks this claim serves (`claim::served`) are read further.
    let served: std::collections::HashSet<i64> =
        claim::served(with_work, lease.max, lease.max_failing)
            .into_iter()
            .collect();
    with_room.retain(|(seq, _, _)| served.contains(seq));
    let (part, _) = rows_per_webhook(lease, with_room.len());
    if part > 1 {
        let wanted: Vec<(i64, u32)> = with_room
            .iter()
            .filter(|&&(_, free, _)| free > 1)
            .map(|&(seq, free, _)| (seq, free.min(part)))
            .collect();
        due.extend(queue_heads(tx, now_ms, &wanted).await?);
    }
    let read: Vec<(i64, usize, u32)> = with_room
        .iter()
        .map(|&(seq, free, _)| (seq, due.get(&seq).map_or(0, Vec::len), free))
        .collect();
    let cut = queues_to_read_again(lease, part, &read);
    due.extend(queue_heads(tx, now_ms, &cut).await?);
    let queues = with_room
        .iter()
        .map(|&(seq, _, failing)| {
            let due = due.remove(&seq).unwrap_or_default();
            (DueQueue { due }, failing)
        })
        .collect();
    let queues = claim::within_failing_share(queues, lease.max_failing, rotation);
    let picked = claim::round_robin(queues, lease.max as usize, rotation);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // 3. The lease, on exactly the picked rows.
    for chunk in statement_chunks(&picked) {
        let mut update = QueryBuilder::new("UPDATE deliveries SET claim_token = ");
        update
            .push_bind(lease.token as i64)
            .push(", claimed_until = ")
            .push_bind(lease.until_ms)
            .push(" WHERE seq IN (");
        let mut list = update.separated(", ");
        for seq in chunk {
            list.push_bind(*seq);
        }
        update.push(")");
        update.build().execute(&mut **tx).await?;
    }
    load_claimed(tx, lease).await
}

/// The statements of [`queue_heads`], by the base-2 logarithm of their number of webhooks (the
/// sizes `statement_chunks` cuts: powers of two up to 64): one arm per webhook, each a probe
/// of its due index cut at its count (`?2`, `?3` the first webhook and count, and so on);
/// `?1` is now.
const _: () = assert!(super::MAX_ROWS_PER_STATEMENT.is_power_of_two());

static QUEUE_HEADS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    let arm = |i: usize| {
        format!(
            "SELECT * FROM (SELECT webhook_seq, next_attempt_at, seq FROM deliveries
               WHERE webhook_seq = ?{webhook} AND status = 'pending'
                 AND next_attempt_at <= ?1 AND {unclaimed}
               ORDER BY next_attempt_at, seq LIMIT ?{count})",
            webhook = 2 * i + 2,
            count = 2 * i + 3,
            unclaimed = UNCLAIMED.replace('?', "?1"),
        )
    };
    (0..=super::MAX_ROWS_PER_STATEMENT.ilog2())
        .map(|log| {
            (0..1usize << log)
                .map(arm)
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        })
        .collect()
});

/// The oldest due, unclaimed deliveries of each of `wanted` (a webhook and how many of its
/// deliveries to read), in due order, by webhook. A statement per chunk of webhooks rather
/// than per webhook: each statement is a round trip to SQLite's thread, and a claim over a
/// thousand webhooks with work waiting made a thousand of them.
async fn queue_heads(
    tx: &mut Transaction<'static, Sqlite>,
    now_ms: i64,
    wanted: &[(i64, u32)],
) -> StoreResult<HashMap<i64, Vec<i64>>> {
    let mut heads: HashMap<i64, Vec<(i64, i64)>> = HashMap::with_capacity(wanted.len());
    for chunk in statement_chunks(wanted) {
        let sql = &QUEUE_HEADS[chunk.len().trailing_zeros() as usize];
        let mut query = sqlx::query(sql).bind(now_ms);
        for &(webhook, count) in chunk {
            query = query.bind(webhook).bind(count);
        }
        for row in query.fetch_all(&mut **tx).await? {
            heads
                .entry(row.get("webhook_seq"))
                .or_default()
                .push((row.get("next_attempt_at"), row.get("seq")));
        }
    }
    Ok(heads
        .into_iter()
        .map(|(webhook, mut due)| {
            // A compound statement promises no order of its rows: each queue is sorted here.
            due.sort_unstable();
            (webhook, due.into_iter().map(|(_, seq)| seq).collect())
        })
        .collect())
}

/// Everything a worker needs to send the deliveries held under `lease`.
async fn load_claimed(
    tx: &mut Transaction<'static, Sqlite>,
    lease: Lease,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let rows = sqlx::query(
        "SELECT d.seq, d.id, d.attempt_count, d.round_base, d.created_at, e.id AS event_id, e.type, e.body,
                w.seq AS webhook_seq, w.id AS webhook_id, w.url, w.secret, w.previous_secrets,
                 a.email, d.account_id, w.failure_streak
         FROM deliveries d
         JOIN events e ON e.seq = d.event_seq
         JOIN webhooks w ON w.seq = d.webhook_seq
         JOIN accounts a ON a.id = d.account_id
         WHERE d.claim_token = ? AND d.claimed_until = ?",
    )
    .bind(lease.token as i64)
    .bind(lease.until_ms)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClaimedDelivery {
            seq: row.get("seq"),
            failure_streak: row.get::<i64, _>("failure_streak") as u32,
            id: row.get("id"),
            claim_token: lease.token,
            attempt_count: row.get::<i64, _>("attempt_count") as u32,
            round_base: row.get::<i64, _>("round_base") as u32,
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
        })
        .collect())
}

/// When the next pending, unclaimed delivery falls due (found on the due index alone).
pub(super) async fn next_due_at(pool: &SqlitePool) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(next_attempt_at) FROM deliveries
         WHERE status = 'pending' AND claimed_until IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(row.get(0))
}

/// Releases every claim of deliveries and emails: at the start of the only process using this file (guarded by the
/// data dir's lock), whatever a previous process held is no longer in flight.
pub(super) async fn release_all_claims(pool: &SqlitePool) -> StoreResult<u64> {
    let released = sqlx::query(
        "UPDATE deliveries SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    )
    .execute(pool)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE emails SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    )
    .execute(pool)
    .await?;
    Ok(released)
}

/// Gives back the claims given, where they still hold.
pub(super) async fn release_claims(pool: &SqlitePool, claims: &[(i64, u64)]) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let mut released = 0;
    for (seq, token) in claims {
        released += sqlx::query(
            "UPDATE deliveries SET claim_token = NULL, claimed_until = NULL
             WHERE seq = ?1 AND claim_token = ?2",
        )
        .bind(seq)
        .bind(*token as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(released)
}
