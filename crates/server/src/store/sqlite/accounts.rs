//! Accounts and inbox captures: the small tables.

use cdhooks_core::event::API_KEY_ID_PREFIX;
use sqlx::{Row, SqlitePool};

use super::super::*;
use crate::domain::access::KeyScope;
use crate::domain::new_id;

async fn insert_key(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
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

pub(super) async fn account(pool: &SqlitePool, id: &str) -> StoreResult<Account> {
    let row = sqlx::query("SELECT id, email FROM accounts WHERE id = ?1")
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
    pool: &SqlitePool,
    account: &Account,
    name: &str,
    scope: KeyScope,
    key: &crate::domain::api_key::KeyDigest,
    now_ms: i64,
    max_keys: u32,
) -> StoreResult<ApiKeyRecord> {
    let mut tx = pool.begin().await?;
    let active: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL",
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

pub(super) async fn list_keys(
    pool: &SqlitePool,
    account: &Account,
) -> StoreResult<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, prefix, created_at, last_used_at, scope FROM api_keys
         WHERE account_id = ?1 AND revoked_at IS NULL ORDER BY created_at, id",
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
    pool: &SqlitePool,
    account: &Account,
    id: &str,
    callers_key_hash: Option<&str>,
    now_ms: i64,
) -> StoreResult<String> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT key_hash, (SELECT COUNT(*) FROM api_keys WHERE account_id = ?1 AND revoked_at IS NULL) AS active
         FROM api_keys WHERE id = ?2 AND account_id = ?1 AND revoked_at IS NULL",
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
    sqlx::query("UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2")
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hash)
}

/// Notes a key's use, at most once per `domain::api_key::TOUCH_EVERY_MS`.
pub(super) async fn touch_key(pool: &SqlitePool, key_hash: &str, now_ms: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = ?1
         WHERE key_hash = ?2 AND (last_used_at IS NULL OR last_used_at < ?1 - ?3)",
    )
    .bind(now_ms)
    .bind(key_hash)
    .bind(crate::domain::api_key::TOUCH_EVERY_MS)
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn by_key_hash(
    pool: &SqlitePool,
    api_key_hash: &str,
) -> StoreResult<Option<(Account, KeyScope)>> {
    let row = sqlx::query(
        "SELECT a.id, a.email, k.key_hash, k.scope FROM api_keys k JOIN accounts a ON a.id = k.account_id
         WHERE k.key_hash = ?1 AND k.revoked_at IS NULL",
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
    pool: &SqlitePool,
    account: &Account,
    now_ms: i64,
    max_inboxes: u32,
) -> StoreResult<String> {
    let token = new_id(cdhooks_core::event::INBOX_ID_PREFIX);
    // One writer connection: the count and the insert cannot interleave with another's.
    let inserted = sqlx::query(
        "INSERT INTO inboxes (token, account_id, created_at)
         SELECT ?1, ?2, ?3 WHERE (SELECT COUNT(*) FROM inboxes WHERE account_id = ?2) < ?4",
    )
    .bind(&token)
    .bind(&account.id)
    .bind(now_ms)
    .bind(i64::from(max_inboxes))
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::LimitReached("inboxes"));
    }
    Ok(token)
}

pub(super) async fn inbox_owner(pool: &SqlitePool, token: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT account_id FROM inboxes WHERE token = ?")
            .bind(token)
            .fetch_optional(pool)
            .await?,
    )
}

/// The bytes the database's pages hold now (free pages not counted).
async fn used_bytes(tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>) -> StoreResult<u64> {
    let used: i64 = sqlx::query_scalar(
        "SELECT ((SELECT page_count FROM pragma_page_count())
                 - (SELECT freelist_count FROM pragma_freelist_count()))
                * (SELECT page_size FROM pragma_page_size())",
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(used.max(0) as u64)
}

pub(super) async fn record_inbox_request(
    pool: &SqlitePool,
    request: InboxRequest,
    keep: InboxKeep,
    cap_bytes: Option<u64>,
) -> StoreResult<String> {
    let mut tx = pool.begin().await?;
    let owner = sqlx::query("SELECT account_id FROM inboxes WHERE token = ?")
        .bind(&request.token)
        .fetch_optional(&mut *tx)
        .await?;
    // A refusal ends the transaction here, so the connection goes back clean.
    let Some(owner) = owner else {
        tx.rollback().await?;
        return Err(StoreError::NotFound);
    };
    let account_id: String = owner.get(0);
    if !crate::domain::inbox::may_capture(used_bytes(&mut tx).await?, cap_bytes) {
        tx.rollback().await?;
        return Err(StoreError::Full(
            "inbox captures may fill at most 80 % of --max-database-mb".to_owned(),
        ));
    }
    let headers = serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".to_owned());
    sqlx::query("INSERT INTO inbox_requests (token, received_at, method, headers, body) VALUES (?, ?, ?, ?, ?)")
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
    pool: &SqlitePool,
    account: &Account,
    token: &str,
    limit: u32,
) -> StoreResult<Vec<InboxRequest>> {
    super::found(
        sqlx::query("SELECT 1 FROM inboxes WHERE token = ? AND account_id = ?")
            .bind(token)
            .bind(&account.id)
            .fetch_optional(pool)
            .await?,
    )?;
    let rows = sqlx::query("SELECT token, received_at, method, headers, body FROM inbox_requests WHERE token = ? ORDER BY seq DESC LIMIT ?")
        .bind(token)
        .bind(limit)
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
