//! Webhooks: what PostgreSQL counts its own way (attempts in flight, from the leases that
//! every instance holds); the rest is `store::webhooks`'s shared SQL.

use sqlx::{PgPool, Row};

use super::super::*;

/// Attempts in flight (unexpired leases) of those of the account's webhooks `ids` that have any.
pub(super) async fn attempts_in_flight(
    pool: &PgPool,
    account: &Account,
    ids: &[String],
    now_ms: i64,
) -> StoreResult<std::collections::HashMap<String, u32>> {
    let rows = sqlx::query(
        "SELECT w.id, COUNT(*) AS busy FROM webhooks w JOIN leases l ON l.webhook_seq = w.seq
         WHERE w.account_id = $1 AND w.id = ANY($2) AND l.until_ms >= $3
         GROUP BY w.id",
    )
    .bind(&account.id)
    .bind(ids)
    .bind(now_ms)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.get("id"), row.get::<i64, _>("busy") as u32))
        .collect())
}
