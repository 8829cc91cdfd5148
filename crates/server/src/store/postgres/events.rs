//! Events and their fan-out into deliveries.

use std::collections::HashMap;
use std::sync::LazyLock;

use cdhooks_core::event::DELIVERY_ID_PREFIX;
use sqlx::{Connection, PgConnection, Row};

use super::super::subscriber::{subscriber_from_row, Subscriber};
use super::super::*;
use super::engine;
use crate::domain::claim::{self, Shard};
use crate::domain::health;
use crate::domain::{delivery, new_id};

/// A delivery about to be inserted.
struct Planned<'a> {
    /// Which queued event it belongs to.
    event: usize,
    /// `dlv_…`.
    id: String,
    /// Where it goes.
    webhook: &'a Subscriber,
    /// The lease it is claimed under at once, if any.
    claim: Option<Lease>,
    /// Whether it is left unclaimed for a webhook with room (`claim::worth_a_claim`).
    left_for_a_claim: bool,
    /// Its first status and due time.
    state: (DeliveryStatus, Option<i64>),
}

/// An event waiting in the group-commit queue.
pub(super) struct QueuedEvent {
    /// Whose event it is.
    pub account: Account,
    /// The event itself.
    pub event: NewEvent,
    /// When it was accepted.
    pub now_ms: i64,
    /// Claim up to this many of its deliveries for this process, if given.
    pub lease: Option<Lease>,
}

/// Stores a batch of events and a delivery for every subscribed webhook of each event's
/// account. An event whose id its account used before (or earlier in the batch) is refused
/// alone. Deliveries are claimed for this process (up to each request's `lease.max`) only for
/// webhooks with nothing older waiting, that it can lock at once and that have a free slot —
/// whichever process's `shard` they are in. Of those left unclaimed that call for a claim
/// (`claim::worth_a_claim`), the ones in `shard` wake this process (`left_claimable`); the
/// others' webhooks are returned, for their process (to be announced).
///
/// One statement reads the webhooks and their waiting work; one writes the events, deliveries
/// and leases. When no webhook can be claimed for at once (under a burst, every webhook has
/// work waiting), the write commits on its own — durably, on the events writer's session — so
/// a batch costs two round trips; otherwise it runs in the transaction that holds the
/// webhooks' locks.
pub(super) async fn insert_batch(
    conn: &mut PgConnection,
    queued: &[QueuedEvent],
    shard: Shard,
) -> StoreResult<(Vec<StoreResult<InsertedEvent>>, Vec<i64>)> {
    let lease = queued.iter().find_map(|q| q.lease);
    let now_ms = queued.iter().map(|q| q.now_ms).max().unwrap_or(0);
    let (subscribers, waiting) = subscribers_of(conn, queued, lease.is_some(), now_ms).await?;
    let no_webhooks = Vec::new();
    let matched = |q: &QueuedEvent| -> Vec<&Subscriber> {
        subscribers
            .get(&q.account.id)
            .unwrap_or(&no_webhooks)
            .iter()
            .filter(|w| {
                q.event.reaches(
                    &w.id,
                    w.patterns.iter().map(String::as_str),
                    w.filter.as_ref(),
                )
            })
            .collect()
    };

    // Free slots of the webhooks with older deliveries waiting (not claimed for at once),
    // and the webhooks with nothing waiting, which may be (checked first without a lock, so
    // that under a backlog — when the claim loop has the work — requests never hold the
    // webhook from it).
    let mut free_behind: HashMap<i64, u32> = HashMap::new();
    let mut idle = Vec::new();
    // Each webhook's limit: the per-webhook one, or one at a time while its circuit is open.
    let limits: HashMap<i64, u32> = subscribers
        .values()
        .flatten()
        .map(|w| {
            let per_webhook = lease.map_or(0, |l| l.per_webhook);
            (
                w.seq,
                health::in_flight_limit(per_webhook, w.health, now_ms),
            )
        })
        .collect();
    let limit_of = |seq: i64| limits.get(&seq).copied().unwrap_or(0);
    if lease.is_some() {
        let mut candidates: Vec<i64> = queued
            .iter()
            .filter(|q| q.lease.is_some())
            .flat_map(&matched)
            // A webhook whose circuit is open is left to the claim (its share).
            .filter(|w| w.enabled && health::may_start_at_once(w.health))
            .map(|w| w.seq)
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for seq in candidates {
            match waiting.get(&seq) {
                Some(&busy) => {
                    free_behind.insert(seq, claim::free_slots(limit_of(seq), busy as u32));
                }
                None => idle.push(seq),
            }
        }
    }

    let firsts = first_occurrences(queued);
    let plan = |free: &mut HashMap<i64, u32>| -> Vec<Planned> {
        let mut planned = Vec::new();
        for (index, q) in queued.iter().enumerate() {
            if !firsts[index] {
                continue;
            }
            let mut at_once = claim::AtOnce::new(q.lease.map(|l| l.max));
            for webhook in matched(q) {
                let claim = q.lease.filter(|_| at_once.take(free.get_mut(&webhook.seq)));
                let left = webhook.enabled
                    && claim.is_none()
                    && claim::worth_a_claim(
                        free.get(&webhook.seq)
                            .or(free_behind.get(&webhook.seq))
                            .copied(),
                    );
                planned.push(Planned {
                    event: index,
                    id: new_id(DELIVERY_ID_PREFIX),
                    webhook,
                    claim,
                    left_for_a_claim: left,
                    state: delivery::new_delivery(webhook.enabled, q.now_ms),
                });
            }
        }
        planned
    };
    let (planned, written) = match lease.filter(|_| !idle.is_empty()) {
        None => {
            let planned = plan(&mut HashMap::new());
            let written = write(&mut *conn, queued, &planned).await?;
            (planned, written)
        }
        Some(_) => {
            // Free slots of the idle webhooks no other process is claiming for at this
            // moment (their lock is free), held until the leases are written.
            let mut tx = conn.begin().await?;
            let locked: Vec<i64> = sqlx::query_scalar(
                "SELECT seq FROM webhooks WHERE seq = ANY($1) FOR NO KEY UPDATE SKIP LOCKED",
            )
            .bind(&idle)
            .fetch_all(&mut *tx)
            .await?;
            let in_flight = engine::in_flight(&mut tx, &locked, now_ms).await?;
            let mut free = HashMap::new();
            for seq in locked {
                let busy = in_flight.get(&seq).copied().unwrap_or(0) as u32;
                // Only webhooks with nothing older waiting were locked (`idle`).
                free.insert(seq, claim::slots_at_once(limit_of(seq), busy, false));
            }
            let planned = plan(&mut free);
            let written = write(&mut tx, queued, &planned).await?;
            tx.commit().await?;
            (planned, written)
        }
    };
    let Written {
        mut events,
        deliveries,
    } = written;
    let event_seqs: Vec<Option<i64>> = queued
        .iter()
        .map(|q| events.remove(&(q.account.id.clone(), q.event.id.clone())))
        .collect();

    // Each stored event's answer, with the deliveries claimed for this process.
    let mut fan_out = vec![0u32; queued.len()];
    let mut left_claimable = vec![false; queued.len()];
    let mut left_for_others = Vec::new();
    let mut claimed: Vec<Vec<ClaimedDelivery>> = queued.iter().map(|_| Vec::new()).collect();
    for Planned {
        event: index,
        id,
        webhook,
        claim,
        left_for_a_claim,
        ..
    } in planned
    {
        if event_seqs[index].is_none() {
            continue;
        }
        fan_out[index] += 1;
        if left_for_a_claim {
            if shard.owns(webhook.seq) {
                left_claimable[index] = true;
            } else {
                left_for_others.push(webhook.seq);
            }
        }
        let (Some(lease), Some(&seq)) = (claim, deliveries.get(&id)) else {
            continue;
        };
        let q = &queued[index];
        claimed[index].push(ClaimedDelivery {
            seq,
            failure_streak: webhook.health.failure_streak,
            id,
            claim_token: lease.token,
            attempt_count: 0,
            round_base: 0,
            event_id: q.event.id.clone(),
            event_type: q.event.event_type.to_owned(),
            body: q.event.body.clone(),
            webhook_seq: webhook.seq,
            webhook_id: webhook.id.clone(),
            url: webhook.url.clone(),
            secret: webhook.secret.clone(),
            account_id: q.account.id.clone(),
            account_email: q.account.email.clone(),
            accepted_at_ms: q.now_ms,
            previous_secrets: webhook.previous_secrets.clone(),
            signing_keys: Default::default(),
        });
    }
    let answers = InsertedEvent::answers(&event_seqs, fan_out, claimed, left_claimable);
    Ok((answers, left_for_others))
}

/// Whether each queued event is the first of its id in the batch (a later one is refused: the
/// first takes the id).
fn first_occurrences(queued: &[QueuedEvent]) -> Vec<bool> {
    let mut seen = std::collections::HashSet::new();
    queued
        .iter()
        .map(|q| seen.insert((q.account.id.as_str(), q.event.id.as_str())))
        .collect()
}

/// The webhooks of the batch's accounts, read once, by account; and, when `with_waiting`,
/// the attempts in flight of those of them with work waiting at `now_ms` (by key).
async fn subscribers_of(
    conn: &mut PgConnection,
    queued: &[QueuedEvent],
    with_waiting: bool,
    now_ms: i64,
) -> StoreResult<(HashMap<String, Vec<Subscriber>>, HashMap<i64, i64>)> {
    let accounts: Vec<&str> = queued.iter().map(|q| q.account.id.as_str()).collect();
    subscribers_of_accounts(conn, &accounts, with_waiting, now_ms).await
}

/// The webhooks of the accounts `accounts`, as [`subscribers_of`] reads them for a batch.
pub(super) async fn subscribers_of_accounts(
    conn: &mut PgConnection,
    accounts: &[&str],
    with_waiting: bool,
    now_ms: i64,
) -> StoreResult<(HashMap<String, Vec<Subscriber>>, HashMap<i64, i64>)> {
    let mut subscribers: HashMap<String, Vec<Subscriber>> = HashMap::new();
    let mut waiting = HashMap::new();
    for row in sqlx::query(&SUBSCRIBERS)
        .bind(now_ms)
        .bind(accounts)
        .bind(with_waiting)
        .fetch_all(conn)
        .await?
    {
        let seq = row.get("seq");
        if let Some(busy) = row.get::<Option<i64>, _>("busy") {
            waiting.insert(seq, busy);
        }
        subscribers
            .entry(row.get("account_id"))
            .or_default()
            .push(subscriber_from_row!(&row, engine::health_of(&row)));
    }
    Ok((subscribers, waiting))
}

/// The webhooks of the accounts `$2`; when `$3`, each enabled one's attempts in flight at `$1`
/// if it has work waiting then (`busy`; else null). Counted for every webhook of the accounts,
/// including those no event of the batch reaches (matching is the domain's, after the read):
/// an index probe each, cheaper than a second round trip.
static SUBSCRIBERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT w.account_id, w.seq, w.id, w.url, w.secret, w.previous_secrets,
                 w.events, w.enabled, w.failure_streak, w.held_until, w.filter,
                CASE WHEN $3 AND w.enabled AND {waiting} THEN {in_flight} END AS busy
         FROM webhooks w WHERE w.account_id = ANY($2) ORDER BY w.seq",
        waiting = engine::work_waiting("w.seq", "$1"),
        in_flight = engine::in_flight_of("w", "$1"),
    )
});

/// What one write stored: each event's key by (account, id) — an event whose id was taken
/// has none — and the keys of the deliveries claimed at once, by id.
struct Written {
    events: HashMap<(String, String), i64>,
    deliveries: HashMap<String, i64>,
}

/// Writes the batch's events and, for those stored, their `planned` deliveries and the leases
/// of those claimed at once — one statement, in insertion order (a delivery's key follows its
/// event's order in the batch).
async fn write(
    conn: &mut PgConnection,
    queued: &[QueuedEvent],
    planned: &[Planned<'_>],
) -> StoreResult<Written> {
    let column = |f: &dyn Fn(&Planned) -> Option<i64>| -> Vec<Option<i64>> {
        planned.iter().map(f).collect()
    };
    let claimed: Vec<&str> = planned
        .iter()
        .filter(|p| p.claim.is_some())
        .map(|p| p.id.as_str())
        .collect();
    let rows = sqlx::query(
        "WITH stored AS (
             INSERT INTO events (id, account_id, type, created_at, body)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
             ON CONFLICT (account_id, id) DO NOTHING
             RETURNING seq, account_id, id),
         inserted AS (
             INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status,
                                     next_attempt_at, created_at, updated_at)
             SELECT v.id, v.account_id, s.seq, v.webhook_seq, v.status, v.due, v.created,
                    v.created
             FROM UNNEST($6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[],
                         $11::bigint[], $12::bigint[]) WITH ORDINALITY
                  AS v(id, account_id, event_id, webhook_seq, status, due, created, place)
             JOIN stored s ON s.account_id = v.account_id AND s.id = v.event_id
             ORDER BY v.place
             RETURNING seq, id, webhook_seq),
         leased AS (
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT i.seq, i.webhook_seq, v.token, v.until
             FROM inserted i
             JOIN UNNEST($6::text[], $13::bigint[], $14::bigint[]) AS v(id, token, until)
               ON v.id = i.id
             WHERE v.token IS NOT NULL)
         SELECT seq, account_id, id, FALSE AS delivery FROM stored
         UNION ALL
         SELECT seq, NULL, id, TRUE FROM inserted WHERE id = ANY($15)",
    )
    .bind(
        queued
            .iter()
            .map(|q| q.event.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        queued
            .iter()
            .map(|q| q.account.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        queued
            .iter()
            .map(|q| q.event.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        queued
            .iter()
            .map(|q| q.event.created_at.unix())
            .collect::<Vec<_>>(),
    )
    .bind(
        queued
            .iter()
            .map(|q| q.event.body.as_ref())
            .collect::<Vec<&[u8]>>(),
    )
    .bind(planned.iter().map(|p| p.id.as_str()).collect::<Vec<_>>())
    .bind(
        planned
            .iter()
            .map(|p| queued[p.event].account.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        planned
            .iter()
            .map(|p| queued[p.event].event.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(planned.iter().map(|p| p.webhook.seq).collect::<Vec<_>>())
    .bind(
        planned
            .iter()
            .map(|p| p.state.0.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(column(&|p| p.state.1))
    .bind(
        planned
            .iter()
            .map(|p| queued[p.event].now_ms)
            .collect::<Vec<_>>(),
    )
    .bind(column(&|p| p.claim.map(|l| l.token as i64)))
    .bind(column(&|p| p.claim.map(|l| l.until_ms)))
    .bind(&claimed)
    .fetch_all(conn)
    .await?;
    let mut written = Written {
        events: HashMap::new(),
        deliveries: HashMap::new(),
    };
    for row in rows {
        if row.get("delivery") {
            written.deliveries.insert(row.get("id"), row.get("seq"));
        } else {
            written
                .events
                .insert((row.get("account_id"), row.get("id")), row.get("seq"));
        }
    }
    Ok(written)
}
