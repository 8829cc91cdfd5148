//! Events and their fan-out into deliveries.

use std::collections::HashMap;

use cdhooks_core::event::DELIVERY_ID_PREFIX;
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::super::subscriber::{subscriber_from_row, Subscriber};
use super::super::*;
use super::{engine, statement_chunks};
use crate::domain::{claim, delivery, new_id};

/// An event waiting in the group-commit queue.
pub(super) struct QueuedEvent {
    /// Whose event it is.
    pub account: Account,
    /// The event itself.
    pub event: NewEvent,
    /// When it was accepted.
    pub now_ms: i64,
    /// Claim this many of its deliveries for this process, if given.
    pub lease: Option<Lease>,
}

/// A delivery row about to be inserted, and which queued event it belongs to.
struct NewDelivery<'a> {
    event: usize,
    id: String,
    account_id: &'a str,
    event_seq: i64,
    webhook: &'a Subscriber,
    claim: Option<Lease>,
    now_ms: i64,
}

/// Stores a batch of events and a delivery for every subscribed webhook of each event's
/// account, with a few multi-row statements for the whole batch (each statement is a round
/// trip to SQLite's thread). Deliveries of enabled webhooks are pending (and claimed under
/// the event's lease while it has room); those of disabled webhooks are paused until the
/// webhook is enabled again. An event whose id its account used before is refused alone.
pub(super) async fn insert_batch(
    tx: &mut Transaction<'static, Sqlite>,
    queued: &[QueuedEvent],
) -> StoreResult<Vec<StoreResult<InsertedEvent>>> {
    // 1. The events. A duplicate id is skipped by the database; within the batch, the first
    //    event with an id gets the row and later ones are refused.
    let mut stored: HashMap<(String, String), i64> = HashMap::with_capacity(queued.len());
    for chunk in statement_chunks(queued) {
        let mut insert =
            QueryBuilder::new("INSERT INTO events (id, account_id, type, created_at, body) ");
        insert.push_values(chunk, |mut row, q| {
            row.push_bind(&q.event.id)
                .push_bind(&q.account.id)
                .push_bind(q.event.event_type.as_str())
                .push_bind(q.event.created_at.unix())
                .push_bind(q.event.body.as_ref());
        });
        insert.push(" ON CONFLICT (account_id, id) DO NOTHING RETURNING seq, account_id, id");
        for row in insert.build().fetch_all(&mut **tx).await? {
            stored.insert((row.get("account_id"), row.get("id")), row.get("seq"));
        }
    }
    let event_seqs: Vec<Option<i64>> = queued
        .iter()
        .map(|q| stored.remove(&(q.account.id.clone(), q.event.id.clone())))
        .collect();

    // 2. The webhooks of every account in the batch, a statement per chunk of accounts (a
    //    batch of events for many accounts made a round trip per account).
    let mut accounts: Vec<&str> = queued.iter().map(|q| q.account.id.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let mut subscribers: HashMap<&str, Vec<Subscriber>> =
        accounts.iter().map(|&id| (id, Vec::new())).collect();
    for chunk in statement_chunks(&accounts) {
        for (account_id, webhook) in webhooks_of(tx, chunk).await? {
            if let Some(list) = subscribers.get_mut(account_id.as_str()) {
                list.push(webhook);
            }
        }
    }

    // 3. The deliveries. A new delivery is claimed for this process only while its request's
    //    lease has room, and its webhook has a free slot and no older due delivery waiting
    //    (which keeps the webhook's order of due time); the rest wait for the claim loop.
    let mut free: HashMap<i64, u32> = HashMap::new();
    // Free slots of the webhooks with older deliveries waiting (not claimed for at once).
    let mut free_behind: HashMap<i64, u32> = HashMap::new();
    if let Some(now_ms) = queued.iter().find(|q| q.lease.is_some()).map(|q| q.now_ms) {
        for q in queued.iter().filter(|q| q.lease.is_some()) {
            for webhook in &subscribers[q.account.id.as_str()] {
                // A webhook whose circuit is open is left to the claim (its share).
                if webhook.enabled
                    && crate::domain::health::may_start_at_once(webhook.health)
                    && !free.contains_key(&webhook.seq)
                    && q.event.reaches(
                        &webhook.id,
                        webhook.patterns.iter().map(String::as_str),
                        webhook.filter.as_ref(),
                    )
                {
                    let (in_flight, waiting) =
                        engine::webhook_load(tx, webhook.seq, now_ms).await?;
                    let limit = crate::domain::health::in_flight_limit(
                        q.lease.map_or(0, |l| l.per_webhook),
                        webhook.health,
                        now_ms,
                    );
                    free.insert(webhook.seq, claim::slots_at_once(limit, in_flight, waiting));
                    if waiting {
                        free_behind.insert(webhook.seq, claim::free_slots(limit, in_flight));
                    }
                }
            }
        }
    }
    let mut rows = Vec::new();
    let mut fan_out = vec![0u32; queued.len()];
    let mut left_claimable = vec![false; queued.len()];
    for (index, (q, event_seq)) in queued.iter().zip(&event_seqs).enumerate() {
        let Some(event_seq) = *event_seq else {
            continue;
        };
        let mut at_once = claim::AtOnce::new(q.lease.map(|l| l.max));
        for webhook in &subscribers[q.account.id.as_str()] {
            if !q.event.reaches(
                &webhook.id,
                webhook.patterns.iter().map(String::as_str),
                webhook.filter.as_ref(),
            ) {
                continue;
            }
            fan_out[index] += 1;
            let claim = q.lease.filter(|_| at_once.take(free.get_mut(&webhook.seq)));
            if webhook.enabled && claim.is_none() {
                let free_now = free_behind.get(&webhook.seq).or(free.get(&webhook.seq));
                left_claimable[index] |= claim::worth_a_claim(free_now.copied());
            }
            rows.push(NewDelivery {
                event: index,
                id: new_id(DELIVERY_ID_PREFIX),
                account_id: &q.account.id,
                event_seq,
                webhook,
                claim,
                now_ms: q.now_ms,
            });
        }
    }
    let mut delivery_seqs: HashMap<String, i64> = HashMap::with_capacity(rows.len());
    for chunk in statement_chunks(&rows) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status, next_attempt_at,
                                     claim_token, claimed_until, created_at, updated_at) ",
        );
        insert.push_values(chunk, |mut row, d| {
            let (status, due_at) = delivery::new_delivery(d.webhook.enabled, d.now_ms);
            row.push_bind(&d.id)
                .push_bind(d.account_id)
                .push_bind(d.event_seq)
                .push_bind(d.webhook.seq)
                .push_bind(status.as_str())
                .push_bind(due_at)
                .push_bind(d.claim.map(|l| l.token as i64))
                .push_bind(d.claim.map(|l| l.until_ms))
                .push_bind(d.now_ms)
                .push_bind(d.now_ms);
        });
        insert.push(" RETURNING seq, id");
        for row in insert.build().fetch_all(&mut **tx).await? {
            delivery_seqs.insert(row.get("id"), row.get("seq"));
        }
    }

    // 4. Each event's answer, with the deliveries claimed for this process.
    let mut claimed: Vec<Vec<ClaimedDelivery>> = queued.iter().map(|_| Vec::new()).collect();
    for d in rows {
        let (Some(lease), Some(&seq)) = (d.claim, delivery_seqs.get(&d.id)) else {
            continue;
        };
        let q = &queued[d.event];
        claimed[d.event].push(ClaimedDelivery {
            seq,
            failure_streak: d.webhook.health.failure_streak,
            id: d.id,
            claim_token: lease.token,
            attempt_count: 0,
            round_base: 0,
            event_id: q.event.id.clone(),
            event_type: q.event.event_type.to_owned(),
            body: q.event.body.clone(),
            webhook_seq: d.webhook.seq,
            webhook_id: d.webhook.id.clone(),
            url: d.webhook.url.clone(),
            secret: d.webhook.secret.clone(),
            account_id: q.account.id.clone(),
            account_email: q.account.email.clone(),
            accepted_at_ms: q.now_ms,
            previous_secrets: d.webhook.previous_secrets.clone(),
            signing_keys: Default::default(),
        });
    }
    Ok(InsertedEvent::answers(
        &event_seqs,
        fan_out,
        claimed,
        left_claimable,
    ))
}

/// The webhooks of `accounts`, each with its account's id, in webhook order.
async fn webhooks_of(
    tx: &mut Transaction<'static, Sqlite>,
    accounts: &[&str],
) -> StoreResult<Vec<(String, Subscriber)>> {
    let mut select = QueryBuilder::new(
        "SELECT account_id, seq, id, url, secret, previous_secrets, events, enabled,
                failure_streak, held_until, filter
         FROM webhooks WHERE account_id IN (",
    );
    let mut list = select.separated(", ");
    for id in accounts {
        list.push_bind(*id);
    }
    select.push(") ORDER BY seq");
    let rows = select.build().fetch_all(&mut **tx).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let subscriber = subscriber_from_row!(&row, engine::health_of(&row));
            (row.get("account_id"), subscriber)
        })
        .collect())
}
