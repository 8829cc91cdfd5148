//! The delivery queue as the engine works it: claims under leases (`domain::claim`), results
//! recorded only under their claim (`domain::delivery`), claims given back at a stop, and the
//! signal that another process queued work.

use std::sync::Arc;

use async_trait::async_trait;

use super::*;

/// Webhooks with room at once from which a claim reads only a bounded part of each queue.
const MANY_WEBHOOKS: usize = 64;

/// How many due deliveries a claim for `lease` reads of each of `webhooks` webhooks with room:
/// as many as one could get (its limit, `lease.max`) — or, with many webhooks at once, twice
/// its part of `lease.max`: round-robin gives none much more unless others have less, and
/// with a thousand webhooks the claim read 16 rows of each to take two. When what it read
/// cannot fill the claim (a webhook with a long queue beside many with one delivery each), the
/// claim reads the queues it cut again in full, so it still takes all it could. Returns the
/// rows read at first and the most one webhook could get.
pub(crate) fn rows_per_webhook(lease: Lease, webhooks: usize) -> (u32, u32) {
    let all = lease.per_webhook.min(lease.max);
    if webhooks < MANY_WEBHOOKS {
        return (all, all);
    }
    let part = (2 * u64::from(lease.max)).div_ceil(webhooks as u64).max(1);
    (all.min(part.min(u64::from(u32::MAX)) as u32), all)
}

/// Which webhooks' queues a claim for `lease` reads again in full, after it read at most
/// `part` rows of each ([`rows_per_webhook`]): none while what it read can fill the claim,
/// else those cut at `part` that could give more. `read` holds each webhook read, with the rows
/// read of its queue and the most it may take; the answer, each webhook to read again with
/// that most.
pub(crate) fn queues_to_read_again(
    lease: Lease,
    part: u32,
    read: &[(i64, usize, u32)],
) -> Vec<(i64, u32)> {
    let all = lease.per_webhook.min(lease.max);
    let loaded: usize = read.iter().map(|&(_, rows, _)| rows).sum();
    if part >= all || loaded >= lease.max as usize {
        return Vec::new();
    }
    read.iter()
        .filter(|&&(_, rows, most)| rows == part as usize && most > part)
        .map(|&(seq, _, most)| (seq, most))
        .collect()
}

/// Raised by a store shared by several processes when another one announced new due work
/// (or the share of the webhooks changed): the claim loop looks again at once.
#[derive(Debug, Clone, Default)]
pub struct WorkSignal(Arc<tokio::sync::Notify>);

impl WorkSignal {
    /// Raises it; a raise while no one waits is kept for the next wait.
    pub fn raise(&self) {
        self.0.notify_one();
    }

    /// Ends once it is raised.
    pub async fn raised(&self) {
        self.0.notified().await;
    }
}

/// The delivery queue, as the engine works it.
#[async_trait]
pub trait DeliveryQueue: Send + Sync {
    /// Raised when another process announces new due work, or when a claim after a recorded
    /// result took nothing while it may have skipped webhooks another process held (see
    /// [`DeliveryQueue::record_outcome_and_claim`]), for a store shared by several processes;
    /// `None` for a store only this process writes to.
    fn work_signal(&self) -> Option<WorkSignal> {
        None
    }

    /// Claims up to `lease.max` due deliveries of enabled webhooks for `lease` (of this
    /// process's share of the webhooks, when several share the store), at most
    /// `lease.per_webhook` in flight per webhook (over every holder of a lease), webhooks
    /// served round-robin, each webhook's oldest due first.
    async fn claim_due(&self, now_ms: i64, lease: Lease) -> StoreResult<Vec<ClaimedDelivery>>;

    /// When the next pending, unclaimed delivery falls due, if any — of the webhooks this
    /// process claims for, when several share the store. Never later than that, and `None`
    /// only when there is none; it may be earlier (a hint a claim that finds nothing due for
    /// a webhook makes exact), which costs the claim loop a look, never a delivery.
    async fn next_due_at(&self) -> StoreResult<Option<i64>>;

    /// Records an attempt's result, applied only if its claim token still holds, and — with a
    /// `follow_up` (the time now and a lease) — claims up to `lease.max` due deliveries in the
    /// same transaction, as [`DeliveryQueue::claim_due`] would: the room the finished attempt
    /// frees goes straight to the next due delivery (as `domain::claim::handed_back` says).
    /// An empty answer means nothing this process may claim waits — except, on a shared
    /// store, what another process held at that moment: then the store raises its
    /// [`work_signal`](DeliveryQueue::work_signal).
    async fn record_outcome_and_claim(
        &self,
        outcome: AttemptOutcome,
        follow_up: Option<(i64, Lease)>,
    ) -> StoreResult<Vec<ClaimedDelivery>>;

    /// Gives back the claims of attempts a stopping process cut off (`(delivery_seq,
    /// claim_token)` pairs): each delivery, if its claim still holds, is due again at once
    /// for any claimer instead of waiting for its lease to run out. Returns how many.
    async fn release_claims(&self, claims: &[(i64, u64)]) -> StoreResult<u64>;
}
