//! Accounts and inbox captures: the small tables.

use cdhooks_core::event::API_KEY_ID_PREFIX;
use sqlx::{PgPool, Row};

use super::super::*;
use super::found;
use crate::domain::access::KeyScope;
use crate::domain::new_id;

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account: &Account,
    name: &str,
    scope: KeyScope,
    key: &crate::domain::api_key::KeyDigest,
    now_ms: i64,
) -> StoreResult<ApiKeyRecord> {
    let record = ApiKeyRecord {
        id: new_id(API_KEY_ID_PREFIX),
        name: name.to_owned(),
        prefix: key.prefix.clone(),
        created_at: now_ms,
        last_used_at: None,
        scope,
    };
    sqlx::query(super::super::statements::INSERT_API_KEY)
        .bind(&record.id)
        .bind(&account.id)
        .bind(&record.name)
        .bind(&record.prefix)
        .bind(&key.hash)
        .bind(now_ms)
        .bind(scope.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(record)
}

pub(super) async fn account(pool: &PgPool, id: &str) -> StoreResult<Account> {
    let row = sqlx::query("SELECT id, email FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Account {
        id: row.get("id"),
        email: row.get("email"),
    })
}

pub(super) async fn create_key(
    pool: &PgPool,
    account: &Account,
    name: &str,
    scope: KeyScope,
    key: &crate::domain::api_key::KeyDigest,
    now_ms: i64,
    max_keys: u32,
) -> StoreResult<ApiKeyRecord> {
    let mut tx = pool.begin().await?;
    // The account's row is the lock that keeps two instances from both taking the last slot.
    let active: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM api_keys WHERE account_id = a.id AND revoked_at IS NULL)
         FROM accounts a WHERE a.id = $1 FOR UPDATE",
    )
    .bind(&account.id)
    .fetch_one(&mut *tx)
    .await?;
    if active >= i64::from(max_keys) {
        tx.rollback().await?;
        return Err(StoreError::LimitReached("API keys"));
    }
    let record = insert_key(&mut tx, account, name, scope, key, now_ms).await?;
    tx.commit().await?;
    Ok(record)
}

pub(super) async fn list_keys(pool: &PgPool, account: &Account) -> StoreResult<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, last_used_at, scope FROM api_keys
         WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
    )
    .bind(&account.id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|row| ApiKeyRecord {
            id: row.get("id"),
            name: row.get("name"),
            prefix: row.get("prefix"),
            created_at: row.get("created_at"),
            last_used_at: row.get("last_used_at"),
            scope: stored_scope(row.get("scope")),
        })
        .collect())
}

pub(super) async fn revoke_key(
    pool: &PgPool,
    account: &Account,
    id: &str,
    callers_key_hash: Option<&str>,
    now_ms: i64,
) -> StoreResult<String> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT key_hash, (SELECT COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL) AS active
         FROM api_keys WHERE id = $2 AND account_id = $1 AND revoked_at IS NULL",
    )
    .bind(&account.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    // A refusal ends the transaction here, so the connection goes back clean.
    let Some(row) = row else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let hash: String = row.get("key_hash");
    let active: i64 = row.get("active");
    let is_callers = callers_key_hash
        .is_some_and(|callers| crate::domain::api_key::hashes_equal(callers, &hash));
    if let Err(why) = crate::domain::api_key::may_revoke(active.max(0) as u64, is_callers) {
        tx.rollback().await?;
        return Err(StoreError::Conflict(why));
    }
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hash)
}

/// Notes a key's use, at most once per `domain::api_key::TOUCH_EVERY_MS`.
pub(super) async fn touch_key(pool: &PgPool, key_hash: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1
         WHERE key_hash = $2 AND (last_used_at IS NULL OR last_used_at < $1 - $3)",
    )
    .bind(now_ms)
    .bind(key_hash)
    .bind(crate::domain::api_key::TOUCH_EVERY_MS)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn by_key_hash(
    pool: &PgPool,
    api_key_hash: &str,
) -> StoreResult<Option<(Account, KeyScope)>> {
    let row = sqlx::query(
        "SELECT a.id, a.email, k.key_hash, k.scope FROM api_keys k JOIN accounts a ON a.id = k.account_id
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(api_key_hash)
    .fetch_optional(pool)
    .await?;
    // The lookup goes through an index; the final comparison is constant-time.
    Ok(row
        .filter(|row| crate::domain::api_key::hashes_equal(row.get("key_hash"), api_key_hash))
        .map(|row| {
            (
                Account {
                    id: row.get("id"),
                    email: row.get("email"),
                },
                stored_scope(row.get("scope")),
            )
        }))
}

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

/// A stored scope; one this build does not know reads as the narrowest.
fn stored_scope(name: &str) -> KeyScope {
    KeyScope::parse(name).unwrap_or(KeyScope::Read)
}
