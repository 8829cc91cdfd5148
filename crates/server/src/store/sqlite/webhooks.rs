//! Webhook registrations.

use cdhooks_core::event::WEBHOOK_ID_PREFIX;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};

use super::super::statements::Credential;
use super::super::*;
use super::{found, lifecycle};
use crate::domain::new_id;

const COLUMNS: &str = "id, url, events, description, secret, enabled, disabled_reason, disabled_at, created_at, updated_at, previous_secrets, signing_key, previous_signing_keys, failure_streak, held_until, filter";

fn record(row: SqliteRow) -> WebhookRecord {
    WebhookRecord {
        id: row.get("id"),
        url: row.get("url"),
        events: serde_json::from_str(row.get("events")).unwrap_or_default(),
        description: row.get("description"),
        secret: WebhookSecret::from_stored(row.get("secret")),
        enabled: row.get("enabled"),
        disabled_reason: row.get("disabled_reason"),
        disabled_at: row.get("disabled_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        previous_secrets: PreviousSecret::list_from_stored(row.get("previous_secrets")),
        signing_key: row
            .get::<Option<String>, _>("signing_key")
            .map(WebhookSecret::from_stored),
        previous_signing_keys: PreviousSecret::list_from_stored(row.get("previous_signing_keys")),
        filter: crate::domain::filter::EventFilter::from_stored(
            row.get::<Option<String>, _>("filter").as_deref(),
        ),
        health: crate::domain::health::Health {
            failure_streak: row.get::<i64, _>("failure_streak") as u32,
            held_until: row.get("held_until"),
        },
        attempts_in_flight: 0,
    }
}

fn filter_json(filter: &crate::domain::filter::EventFilter) -> String {
    filter.to_json().to_string()
}

fn events_json(events: &[String]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned())
}

pub(super) async fn create(
    pool: &SqlitePool,
    account: &Account,
    webhook: NewWebhook,
    now_ms: i64,
) -> StoreResult<WebhookRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO webhooks (id, account_id, url, events, description, secret, created_at, updated_at, signing_key, filter)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {COLUMNS}"
    ))
    .bind(new_id(WEBHOOK_ID_PREFIX))
    .bind(&account.id)
    .bind(webhook.url.as_str())
    .bind(events_json(&webhook.events))
    .bind(&webhook.description)
    .bind(webhook.secret.expose())
    .bind(now_ms)
    .bind(now_ms)
    .bind(webhook.signing_key.as_ref().map(WebhookSecret::expose))
    .bind(webhook.filter.as_ref().map(filter_json))
    .fetch_one(pool)
    .await?;
    Ok(record(row))
}

pub(super) async fn list(
    pool: &SqlitePool,
    account: &Account,
    after: Option<&str>,
    limit: u32,
) -> StoreResult<Vec<WebhookRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_id = ?1
           AND seq > COALESCE((SELECT seq FROM webhooks WHERE id = ?2 AND account_id = ?1), 0)
         ORDER BY seq LIMIT ?3"
    ))
    .bind(&account.id)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(record).collect())
}

pub(super) async fn get(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
) -> StoreResult<WebhookRecord> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_id = ? AND id = ?"
    ))
    .bind(&account.id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    found(row).map(record)
}

pub(super) async fn update(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
    change: WebhookChange,
    now_ms: i64,
) -> StoreResult<WebhookRecord> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT seq, enabled FROM webhooks WHERE account_id = ? AND id = ?")
        .bind(&account.id)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let row = found(row)?;
    let (seq, was_enabled): (i64, bool) = (row.get("seq"), row.get("enabled"));
    sqlx::query(
        "UPDATE webhooks SET url = COALESCE(?, url), events = COALESCE(?, events),
                description = CASE WHEN ? THEN ? ELSE description END, updated_at = ?,
                filter = CASE WHEN ? THEN ? ELSE filter END
         WHERE seq = ?",
    )
    .bind(change.url.as_ref().map(|u| u.as_str()))
    .bind(change.events.as_deref().map(events_json))
    .bind(change.description.is_some())
    .bind(change.description.clone().flatten())
    .bind(now_ms)
    .bind(change.filter.is_some())
    .bind(change.filter.clone().flatten().as_ref().map(filter_json))
    .bind(seq)
    .execute(&mut *tx)
    .await?;
    match change.enabled {
        Some(true) if !was_enabled => {
            lifecycle::enable_webhook(&mut tx, seq, now_ms).await?;
        }
        Some(false) if was_enabled => {
            lifecycle::disable_webhook(&mut tx, seq, "disabled by the owner", None, now_ms).await?;
        }
        _ => {}
    }
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM webhooks WHERE seq = ?"))
        .bind(seq)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(record(row))
}

pub(super) async fn rotate(
    pool: &SqlitePool,
    account: &Account,
    id: &str,
    credential: Credential,
    value: WebhookSecret,
    grace_until_ms: Option<i64>,
    now_ms: i64,
) -> StoreResult<WebhookRecord> {
    // The previous secrets (or keys) are decided by the domain from what is stored now, in
    // the transaction that applies them.
    let (current_column, previous_column) = credential.columns();
    let mut tx = pool.begin().await?;
    let current = sqlx::query(&format!(
        "SELECT {current_column} AS current, {previous_column} AS previous FROM webhooks WHERE account_id = ?1 AND id = ?2"
    ))
    .bind(&account.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(current) = current else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let previous = crate::domain::webhook::previous_after_rotation(
        current
            .get::<Option<String>, _>("current")
            .map(WebhookSecret::from_stored)
            .as_ref(),
        &PreviousSecret::list_from_stored(current.get("previous")),
        grace_until_ms,
        now_ms,
    );
    let Some(previous) = previous else {
        tx.rollback().await?;
        return Err(StoreError::InvalidState(
            "a webhook signs with at most 10 rotated-out secrets at once; wait for a grace period to end, or rotate with grace_seconds 0",
        ));
    };
    sqlx::query(credential.rotate_statement())
        .bind(PreviousSecret::list_to_stored(&previous))
        .bind(value.expose())
        .bind(now_ms)
        .bind(&account.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhooks WHERE account_id = ?1 AND id = ?2"
    ))
    .bind(&account.id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(record(row))
}

pub(super) async fn delete(pool: &SqlitePool, account: &Account, id: &str) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    let seq: i64 = found(
        sqlx::query("SELECT seq FROM webhooks WHERE account_id = ? AND id = ?")
            .bind(&account.id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?,
    )?
    .get(0);
    sqlx::query("DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE webhook_seq = ?)")
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM deliveries WHERE webhook_seq = ?")
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM webhooks WHERE seq = ?")
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Attempts in flight (unexpired claims) of those of the account's webhooks `ids` that have any.
pub(super) async fn attempts_in_flight(
    pool: &SqlitePool,
    account: &Account,
    ids: &[String],
    now_ms: i64,
) -> StoreResult<std::collections::HashMap<String, u32>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows = sqlx::query(
        "SELECT w.id, COUNT(*) AS busy FROM webhooks w JOIN deliveries d ON d.webhook_seq = w.seq
         WHERE w.account_id = ?1 AND w.id IN (SELECT value FROM json_each(?2))
           AND d.claim_token IS NOT NULL AND d.claimed_until >= ?3
         GROUP BY w.id",
    )
    .bind(&account.id)
    .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned()))
    .bind(now_ms)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.get("id"), row.get::<i64, _>("busy") as u32))
        .collect())
}
