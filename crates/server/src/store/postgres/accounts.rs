//! Accounts and inbox captures: the small tables.

use cdhooks_core::event::ACCOUNT_ID_PREFIX;
use sqlx::{PgPool, Row};

use super::super::*;
use super::found;
use crate::domain::new_id;

pub(super) async fn create(pool: &PgPool, email: &str, api_key_hash: &str) -> StoreResult<Account> {
    let account = Account {
        id: new_id(ACCOUNT_ID_PREFIX),
        email: email.to_owned(),
    };
    sqlx::query(
        "INSERT INTO accounts (id, email, api_key_hash, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&account.id)
    .bind(&account.email)
    .bind(api_key_hash)
    .bind(crate::clock::now_ms())
    .execute(pool)
    .await?;
    Ok(account)
}

pub(super) async fn by_key_hash(pool: &PgPool, api_key_hash: &str) -> StoreResult<Option<Account>> {
    let row = sqlx::query("SELECT id, email, api_key_hash FROM accounts WHERE api_key_hash = $1")
        .bind(api_key_hash)
        .fetch_optional(pool)
        .await?;
    // The lookup goes through an index; the final comparison is constant-time.
    Ok(row
        .filter(|row| crate::domain::api_key::hashes_equal(row.get("api_key_hash"), api_key_hash))
        .map(|row| Account {
            id: row.get("id"),
            email: row.get("email"),
        }))
}

/// Requests kept per inbox.
const INBOX_KEEP: i64 = 100;

pub(super) async fn create_inbox(
    pool: &PgPool,
    account: &Account,
    now_ms: i64,
) -> StoreResult<String> {
    let token = new_id(cdhooks_core::event::INBOX_ID_PREFIX);
    sqlx::query("INSERT INTO inboxes (token, account_id, created_at) VALUES ($1, $2, $3)")
        .bind(&token)
        .bind(&account.id)
        .bind(now_ms)
        .execute(pool)
        .await?;
    Ok(token)
}

pub(super) async fn record_inbox_request(
    pool: &PgPool,
    request: InboxRequest,
) -> StoreResult<String> {
    let mut tx = pool.begin().await?;
    let owner = sqlx::query("SELECT account_id FROM inboxes WHERE token = $1")
        .bind(&request.token)
        .fetch_optional(&mut *tx)
        .await?;
    let account_id: String = found(owner)?.get(0);
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
    sqlx::query(
        "DELETE FROM inbox_requests WHERE token = $1 AND seq <= (
             SELECT seq FROM inbox_requests WHERE token = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
    )
    .bind(&request.token)
    .bind(INBOX_KEEP)
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
