//! Inboxes: an account's capture URLs and the requests they caught, kept trimmed.

use sqlx::{PgPool, Row};

use super::super::*;
use super::found;
use crate::domain::new_id;

pub(super) async fn create_inbox(
    pool: &PgPool,
    account: &Account,
    now_ms: i64,
    max_inboxes: u32,
) -> StoreResult<String> {
    let token = new_id(cdhooks_core::event::INBOX_ID_PREFIX);
    let mut tx = pool.begin().await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM inboxes WHERE account_id = a.id)
         FROM accounts a WHERE a.id = $1 FOR UPDATE",
    )
    .bind(&account.id)
    .fetch_one(&mut *tx)
    .await?;
    if held >= i64::from(max_inboxes) {
        tx.rollback().await?;
        return Err(StoreError::LimitReached("inboxes"));
    }
    sqlx::query("INSERT INTO inboxes (token, account_id, created_at) VALUES ($1, $2, $3)")
        .bind(&token)
        .bind(&account.id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(token)
}

pub(super) async fn inbox_owner(pool: &PgPool, token: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM inboxes WHERE token = $1")
            .bind(token)
            .fetch_optional(pool)
            .await?,
    )
}

pub(super) async fn record_inbox_request(
    pool: &PgPool,
    request: InboxRequest,
    keep: InboxKeep,
) -> StoreResult<String> {
    let mut tx = pool.begin().await?;
    let owner = sqlx::query("SELECT account_id FROM inboxes WHERE token = $1")
        .bind(&request.token)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(owner) = owner else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let account_id: String = owner.get(0);
    let headers = serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query(
        "INSERT INTO inbox_requests (token, received_at, method, headers, body) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&request.token)
    .bind(request.received_at)
    .bind(&request.method)
    .bind(headers)
    .bind(&request.body)
    .execute(&mut *tx)
    .await?;
    sqlx::query(super::super::statements::TRIM_INBOX)
        .bind(&request.token)
        .bind(keep.requests)
        .bind(keep.bytes)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(account_id)
}

pub(super) async fn inbox_requests(
    pool: &PgPool,
    account: &Account,
    token: &str,
    limit: u32,
) -> StoreResult<Vec<InboxRequest>> {
    found(
        sqlx::query("SELECT 1 FROM inboxes WHERE token = $1 AND account_id = $2")
            .bind(token)
            .bind(&account.id)
            .fetch_optional(pool)
            .await?,
    )?;
    let rows = sqlx::query(
        "SELECT token, received_at, method, headers, body FROM inbox_requests WHERE token = $1
         ORDER BY seq DESC LIMIT $2",
    )
    .bind(token)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| InboxRequest {
            token: row.get("token"),
            received_at: row.get("received_at"),
            method: row.get("method"),
            headers: serde_json::from_str(row.get("headers")).unwrap_or_default(),
            body: row.get("body"),
        })
        .collect())
}
