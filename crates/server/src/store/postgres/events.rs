//! Events and their fan-out into deliveries.

use std::collections::HashMap;

use cdhooks_core::event::DELIVERY_ID_PREFIX;
use cdhooks_core::pattern;
use sqlx::{PgPool, QueryBuilder, Row};

use super::super::*;
use super::{engine, found};
use crate::domain::webhook::WebhookSecret;
use crate::domain::{claim, delivery, new_id};

/// A webhook of an account, as fan-out needs it.
struct Subscriber {
    seq: i64,
    id: String,
    url: String,
    secret: WebhookSecret,
    patterns: Vec<String>,
    enabled: bool,
}

/// Stores an event and a delivery for every subscribed webhook of its account, in one
/// transaction. Deliveries are claimed for this process (up to `lease.max`) only for webhooks
/// it can lock at once, that have a free slot and no older due delivery waiting; the rest are
/// to be announced to every process (the `bool`: some are waiting).
pub(super) async fn insert(
    pool: &PgPool,
    account: &Account,
    event: NewEvent,
    now_ms: i64,
    lease: Option<Lease>,
) -> StoreResult<(InsertedEvent, bool)> {
    let mut tx = pool.begin().await?;
    let event_seq: Option<i64> = sqlx::query_scalar(
        "INSERT INTO events (id, account_id, type, created_at, body) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account_id, id) DO NOTHING RETURNING seq",
    )
    .bind(&event.id)
    .bind(&account.id)
    .bind(event.event_type)
    .bind(event.created_at.unix())
    .bind(event.body.as_ref())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(event_seq) = event_seq else {
        return Err(StoreError::Conflict("an event with this id exists already"));
    };
    let subscribers: Vec<Subscriber> = sqlx::query(
        "SELECT seq, id, url, secret, events, enabled FROM webhooks WHERE account_id = $1",
    )
    .bind(&account.id)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|row| Subscriber {
        seq: row.get("seq"),
        id: row.get("id"),
        url: row.get("url"),
        secret: WebhookSecret::from_stored(row.get("secret")),
        patterns: serde_json::from_str(row.get("events")).unwrap_or_default(),
        enabled: row.get("enabled"),
    })
    .filter(|w| pattern::any_matches(w.patterns.iter().map(String::as_str), event.event_type))
    .collect();

    // Free slots of the webhooks this process may claim for now: those with nothing older
    // waiting (checked first without a lock, so that under a backlog — when the claim loop
    // has the work — requests never hold the webhook from it) that no other process is
    // claiming for at this moment (their lock is free).
    let mut free: HashMap<i64, u32> = HashMap::new();
    if let Some(lease) = lease {
        let mut idle = Vec::new();
        for webhook in subscribers.iter().filter(|w| w.enabled) {
            let (_, waiting) = engine::webhook_load(&mut tx, webhook.seq, now_ms).await?;
            if !waiting {
                idle.push(webhook.seq);
            }
        }
        if !idle.is_empty() {
            let locked: Vec<i64> = sqlx::query_scalar(
                "SELECT seq FROM webhooks WHERE seq = ANY($1) FOR NO KEY UPDATE SKIP LOCKED",
            )
            .bind(&idle)
            .fetch_all(&mut *tx)
            .await?;
            for seq in locked {
                let (in_flight, waiting) = engine::webhook_load(&mut tx, seq, now_ms).await?;
                let slots = if waiting {
                    0
                } else {
                    claim::free_slots(lease.per_webhook, in_flight)
                };
                free.insert(seq, slots);
            }
        }
    }

    let mut rows = Vec::with_capacity(subscribers.len());
    let mut claimed_count = 0;
    for webhook in &subscribers {
        let claim = match (lease, free.get_mut(&webhook.seq)) {
            (Some(lease), Some(slots)) if claimed_count < lease.max && *slots > 0 => {
                claimed_count += 1;
                *slots -= 1;
                Some(lease)
            }
            _ => None,
        };
        rows.push((new_id(DELIVERY_ID_PREFIX), webhook, claim));
    }
    let mut claimed = Vec::new();
    if !rows.is_empty() {
        let mut insert = QueryBuilder::new(
            "INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status, next_attempt_at,
                                     claim_token, claimed_until, created_at, updated_at) ",
        );
        insert.push_values(&rows, |mut row, (id, webhook, claim)| {
            let (status, due_at) = delivery::new_delivery(webhook.enabled, now_ms);
            row.push_bind(id)
                .push_bind(&account.id)
                .push_bind(event_seq)
                .push_bind(webhook.seq)
                .push_bind(status.as_str())
                .push_bind(due_at)
                .push_bind(claim.map(|l| l.token as i64))
                .push_bind(claim.map(|l| l.until_ms))
                .push_bind(now_ms)
                .push_bind(now_ms);
        });
        insert.push(" RETURNING seq, id");
        let seqs: HashMap<String, i64> = insert
            .build()
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|row| (row.get("id"), row.get("seq")))
            .collect();
        for (id, webhook, claim) in &rows {
            let Some(lease) = claim else { continue };
            claimed.push(ClaimedDelivery {
                seq: seqs[id],
                id: id.clone(),
                claim_token: lease.token,
                attempt_count: 0,
                round_base: 0,
                event_id: event.id.clone(),
                event_type: event.event_type.to_owned(),
                body: event.body.clone(),
                webhook_seq: webhook.seq,
                webhook_id: webhook.id.clone(),
                url: webhook.url.clone(),
                secret: webhook.secret.clone(),
                account_id: account.id.clone(),
                account_email: account.email.clone(),
            });
        }
    }
    let waiting = rows
        .iter()
        .any(|(_, w, claim)| w.enabled && claim.is_none());
    tx.commit().await?;
    Ok((
        InsertedEvent {
            deliveries: rows.len() as u32,
            claimed,
        },
        waiting,
    ))
}

/// One event of the account.
pub(super) async fn get(pool: &PgPool, account: &Account, id: &str) -> StoreResult<EventRecord> {
    let row = sqlx::query(
        "SELECT id, type, created_at, body FROM events WHERE account_id = $1 AND id = $2",
    )
    .bind(&account.id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let row = found(row)?;
    Ok(EventRecord {
        id: row.get("id"),
        event_type: row.get("type"),
        created_at: row.get("created_at"),
        body: row.get("body"),
    })
}
