//! Events as they are emitted: stored and fanned out to their webhooks in one transaction. How
//! each store writes them is its own (SQLite's group commit, PostgreSQL's batch statements).

use async_trait::async_trait;

use super::*;

/// Emission: events stored and fanned out.
#[async_trait]
pub trait Events: Send + Sync {
    /// Stores an event and fans it out to every subscribed webhook, in one transaction.
    /// With a `lease`, up to `lease.max` of the new deliveries are claimed for this process
    /// and returned, so they can be sent without another query — only for webhooks with a
    /// free slot and no older due delivery waiting (their order is kept).
    async fn insert_event(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
    ) -> StoreResult<InsertedEvent>;

    /// Stores several events (of any accounts) and fans each out, in one transaction: all
    /// are stored or none (`Conflict` when an id was used before by its account, or twice in
    /// the batch). Returns how many deliveries each fans out to; none is claimed.
    async fn insert_events_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> StoreResult<Vec<u32>>;
}
