//! Events and their fan-out into deliveries.

use bytes::Bytes;
use cdhooks_core::event::DELIVERY_ID_PREFIX;
use cdhooks_core::pattern;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::super::*;
use super::found;
use crate::domain::new_id;

/// Stores an event and a delivery for every subscribed webhook of the account. Deliveries of
/// enabled webhooks are pending (and claimed under `lease` while it has room); those of
/// disabled webhooks are paused until the webhook is enabled again.
pub(super) async fn insert(
    tx: &mut Transaction<'static, Sqlite>,
    account: &Account,
    event: NewEvent,
    now_ms: i64,
    lease: Option<Lease>,
) -> StoreResult<InsertedEvent> {
    let inserted = sqlx::query(
        "INSERT INTO events (id, account_id, type, created_at, body) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (account_id, id) DO NOTHING RETURNING seq",
    )
    .bind(&event.id)
    .bind(&account.id)
    .bind(event.event_type)
    .bind(event.created_at.unix())
    .bind(&event.body)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = inserted else {
        return Err(StoreError::Conflict("an event with this id exists already"));
    };
    let event_seq: i64 = row.get(0);
    let webhooks = sqlx::query(
        "SELECT seq, id, url, secret, events, enabled FROM webhooks WHERE account_id = ?",
    )
    .bind(&account.id)
    .fetch_all(&mut **tx)
    .await?;
    let body = Bytes::from(event.body);
    let mut deliveries = 0;
    let mut claimed = Vec::new();
    for webhook in webhooks {
        let patterns: Vec<String> = serde_json::from_str(webhook.get("events")).unwrap_or_default();
        if !pattern::any_matches(patterns.iter().map(String::as_str), event.event_type) {
            continue;
        }
        deliveries += 1;
        let enabled: bool = webhook.get("enabled");
        let claim = lease.filter(|l| enabled && (claimed.len() as u32) < l.max);
        let id = new_id(DELIVERY_ID_PREFIX);
        let seq: i64 = sqlx::query(
            "INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status, next_attempt_at,
                                     claim_token, claimed_until, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(&id)
        .bind(&account.id)
        .bind(event_seq)
        .bind(webhook.get::<i64, _>("seq"))
        .bind(if enabled { "pending" } else { "paused" })
        .bind(enabled.then_some(now_ms))
        .bind(claim.map(|l| l.token as i64))
        .bind(claim.map(|l| l.until_ms))
        .bind(now_ms)
        .bind(now_ms)
        .fetch_one(&mut **tx)
        .await?
        .get(0);
        if let Some(lease) = claim {
            claimed.push(ClaimedDelivery {
                seq,
                id,
                claim_token: lease.token,
                attempt_count: 0,
                round_base: 0,
                event_id: event.id.clone(),
                event_type: event.event_type.to_owned(),
                body: body.clone(),
                webhook_seq: webhook.get("seq"),
                webhook_id: webhook.get("id"),
                url: webhook.get("url"),
                secret: webhook.get("secret"),
                account_id: account.id.clone(),
                account_email: account.email.clone(),
            });
        }
    }
    Ok(InsertedEvent {
        deliveries,
        claimed,
    })
}

/// One event of the account.
pub(super) async fn get(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
) -> StoreResult<EventRecord> {
    let row = sqlx::query(
        "SELECT id, type, created_at, body FROM events WHERE account_id = ? AND id = ?",
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
