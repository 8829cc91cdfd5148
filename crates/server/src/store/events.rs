//! Events as they are emitted and read back, and their deliveries as a customer sees and
//! steers them (listing, a manual retry, recovering a window of failures).

use async_trait::async_trait;

use super::*;

/// Events, their fan-out, and deliveries as customers see them.
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

    /// One event of the account.
    async fn get_event(&self, account: &Account, id: &str) -> StoreResult<EventRecord>;

    /// A webhook's deliveries after the cursor (a delivery id), newest first.
    async fn list_deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;

    /// One delivery with its attempts.
    async fn get_delivery(&self, account: &Account, id: &str) -> StoreResult<DeliveryRecord>;

    /// Queues a failed delivery again, for a new round of attempts.
    async fn retry_delivery(
        &self,
        account: &Account,
        id: &str,
        now_ms: i64,
    ) -> StoreResult<DeliveryRecord>;

    /// Re-queues the webhook's failed deliveries created in `[from_ms, to_ms)` for a fresh
    /// round (paused while the webhook is disabled); returns how many.
    async fn recover_deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        from_ms: i64,
        to_ms: i64,
        now_ms: i64,
    ) -> StoreResult<u64>;
}
