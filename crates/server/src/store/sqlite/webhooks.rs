//! Webhooks: what SQLite counts its own way (attempts in flight, from the claims on the
//! deliveries' rows); the rest is `store::webhooks`'s shared SQL.

use sqlx::{Row, SqlitePool};

use super::super::*;

/// Attempts in flight (unexpired claims) of those of the account's webhooks `ids` that have any.
pub(super) async fn attempts_in_flight(
    pool: &SqlitePool,
    account: &Account,
    ids: &[String],
    now_ms: i64,
) -> StoreResult<std::collections::HashMap<String, u32>> {
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
