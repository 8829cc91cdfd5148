//! Inboxes: an account's capture URLs and the requests they caught, kept trimmed.

use sqlx::{Row, SqlitePool};

use super::super::*;
use crate::domain::new_id;

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
