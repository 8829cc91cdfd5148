//! Inboxes (endpoints the server hosts, capturing what reaches them) and the relay that
//! carries live events between processes sharing a store.

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc};

use super::*;

/// A shared store's channel between instances, for live events (whose meaning the store
/// does not know): messages out, and every instance's messages in (this one's included).
#[derive(Debug)]
pub struct LiveRelay {
    /// Messages to send to every instance.
    pub outgoing: mpsc::Sender<String>,
    /// Messages every instance sent.
    pub incoming: broadcast::Receiver<String>,
}

/// Inboxes and the live relay.
#[async_trait]
pub trait Inboxes: Send + Sync {
    /// The channel that relays live events between processes sharing the store; `None` for
    /// a store only this process uses.
    fn live_relay(&self) -> Option<LiveRelay> {
        None
    }

    /// Creates an inbox for the account and returns its token, unless the account holds
    /// `max_inboxes` already (`LimitReached`).
    async fn create_inbox(
        &self,
        account: &Account,
        now_ms: i64,
        max_inboxes: u32,
    ) -> StoreResult<String>;

    /// The account an inbox token belongs to, if any (a read: checked before a body is taken).
    async fn inbox_owner(&self, token: &str) -> StoreResult<Option<String>>;

    /// Records a request that reached an inbox, keeping only its newest captures within
    /// `keep`, and returns the owning account's id; `NotFound` for an unknown token, `Full`
    /// when captures may not take more of a capped database (`domain::inbox::may_capture`).
    async fn record_inbox_request(
        &self,
        request: InboxRequest,
        keep: InboxKeep,
    ) -> StoreResult<String>;

    /// The requests an inbox of the account captured, newest first.
    async fn inbox_requests(
        &self,
        account: &Account,
        token: &str,
        limit: u32,
    ) -> StoreResult<Vec<InboxRequest>>;
}

/// Implements [`Inboxes`] for a store whose pools are the fields `$reads` and `$writes`; the
/// statements are the same on both stores (numbered parameters, see `statements`) but for
/// `$lock`, which locks the account's row while its inboxes are counted (PostgreSQL's
/// `FOR UPDATE`; none on SQLite, whose one writer is alone). Each store has two methods of its
/// own: `live_relay_channel` (the relay, if processes share the store) and
/// `captures_may_grow` (whether a capture may take more room, in the capture's transaction).
macro_rules! impl_inboxes {
    ($store:ty, reads: $reads:ident, writes: $writes:ident, lock: $lock:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::inboxes::Inboxes for $store {
            fn live_relay(&self) -> Option<$crate::store::LiveRelay> {
                self.live_relay_channel()
            }

            async fn create_inbox(
                &self,
                account: &$crate::store::Account,
                now_ms: i64,
                max_inboxes: u32,
            ) -> $crate::store::StoreResult<String> {
                let token = $crate::domain::new_id(cdhooks_core::event::INBOX_ID_PREFIX);
                let mut tx = self.$writes.begin().await?;
                let held: i64 = sqlx::query_scalar(concat!(
                    "SELECT (SELECT COUNT(*) FROM inboxes WHERE account_id = a.id)
                     FROM accounts a WHERE a.id = $1 ",
                    $lock
                ))
                .bind(&account.id)
                .fetch_one(&mut *tx)
                .await?;
                if held >= i64::from(max_inboxes) {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::LimitReached("inboxes"));
                }
                sqlx::query(
                    "INSERT INTO inboxes (token, account_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(&token)
                .bind(&account.id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn inbox_owner(&self, token: &str) -> $crate::store::StoreResult<Option<String>> {
                Ok(
                    sqlx::query_scalar("SELECT account_id FROM inboxes WHERE token = $1")
                        .bind(token)
                        .fetch_optional(&self.$reads)
                        .await?,
                )
            }

            async fn record_inbox_request(
                &self,
                request: $crate::store::InboxRequest,
                keep: $crate::domain::inbox::InboxKeep,
            ) -> $crate::store::StoreResult<String> {
                let mut tx = self.$writes.begin().await?;
                let owner: Option<String> =
                    sqlx::query_scalar("SELECT account_id FROM inboxes WHERE token = $1")
                        .bind(&request.token)
                        .fetch_optional(&mut *tx)
                        .await?;
                // A refusal ends the transaction here, so the connection goes back clean.
                let Some(account_id) = owner else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::NotFound);
                };
                if !self.captures_may_grow(&mut tx).await? {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::Full(
                        "inbox captures may fill at most 80 % of --max-database-mb".to_owned(),
                    ));
                }
                let headers =
                    serde_json::to_string(&request.headers).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query(
                    "INSERT INTO inbox_requests (token, received_at, method, headers, body)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&request.token)
                .bind(request.received_at)
                .bind(&request.method)
                .bind(headers)
                .bind(&request.body)
                .execute(&mut *tx)
                .await?;
                sqlx::query($crate::store::statements::TRIM_INBOX)
                    .bind(&request.token)
                    .bind(keep.requests)
                    .bind(keep.bytes)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(account_id)
            }

            async fn inbox_requests(
                &self,
                account: &$crate::store::Account,
                token: &str,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::InboxRequest>> {
                use sqlx::Row as _;
                sqlx::query("SELECT 1 FROM inboxes WHERE token = $1 AND account_id = $2")
                    .bind(token)
                    .bind(&account.id)
                    .fetch_optional(&self.$reads)
                    .await?
                    .ok_or($crate::store::StoreError::NotFound)?;
                let rows = sqlx::query(
                    "SELECT token, received_at, method, headers, body FROM inbox_requests
                     WHERE token = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(token)
                .bind(i64::from(limit))
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows
                    .iter()
                    .map(|row| $crate::store::InboxRequest {
                        token: row.get("token"),
                        received_at: row.get("received_at"),
                        method: row.get("method"),
                        headers: serde_json::from_str(&row.get::<String, _>("headers"))
                            .unwrap_or_default(),
                        body: row.get("body"),
                    })
                    .collect())
            }
        }
    };
}
pub(super) use impl_inboxes;
