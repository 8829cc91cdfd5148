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
