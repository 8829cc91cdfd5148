//! Live updates for the dashboard: what happened to deliveries and inboxes, as it happens.
//!
//! The delivery engine and the inbox publish [`LiveEvent`]s on a broadcast channel; each
//! `GET /v1/stream` subscriber receives those of its own account as Server-Sent Events.
//! A slow subscriber misses events rather than slowing delivery down (the dashboard then
//! reloads its lists).

use serde_json::Value;
use tokio::sync::broadcast;

/// How many events a slow subscriber may lag behind before it misses some.
const CAPACITY: usize = 1024;

/// One update for one account.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// The account it concerns.
    pub account_id: String,
    /// The SSE event name: `delivery.attempted` or `inbox.request`.
    pub kind: &'static str,
    /// The event's JSON payload.
    pub data: Value,
}

/// The broadcast channel of live events.
#[derive(Debug, Clone)]
pub struct LiveHub(broadcast::Sender<LiveEvent>);

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub(broadcast::channel(CAPACITY).0)
    }
}

impl LiveHub {
    /// Publishes an event; without subscribers it is dropped.
    pub fn publish(&self, event: LiveEvent) {
        let _ = self.0.send(event);
    }

    /// Whether anyone listens (so publishers can skip building events).
    pub fn has_subscribers(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }
}
