//! Live updates for the dashboard: what happened to deliveries and inboxes, as it happens.
//!
//! The delivery engine and the inbox publish [`LiveEvent`]s on a broadcast channel; each
//! `GET /v1/stream` subscriber receives those of its own account as Server-Sent Events.
//! A slow subscriber misses events rather than slowing delivery down (the dashboard then
//! reloads its lists).
//!
//! With several instances on one database, the store relays events between them (a
//! [`LiveRelay`]), so a dashboard connected to any instance sees attempts made by all. An
//! instance with dashboards connected says so every [`WATCH_EVERY`]; the others relay their
//! events only while someone watches, so a busy fleet pays nothing for dashboards nobody has
//! open.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::store::LiveRelay;

/// How many events a slow subscriber may lag behind before it misses some.
const CAPACITY: usize = 1024;
/// How often an instance with dashboards connected tells the others.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);
/// How long after the last such word the others keep relaying.
const WATCHED_FOR_MS: i64 = 5_000;

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

/// The kinds of live events, so a relayed one maps back to its static name.
const KINDS: [&str; 2] = ["delivery.attempted", "inbox.request"];

/// The broadcast channel of live events, relayed between instances when the store is shared.
#[derive(Debug, Clone)]
pub struct LiveHub {
    /// This instance's subscribers.
    local: broadcast::Sender<LiveEvent>,
    /// The relay to other instances, if any.
    relay: Option<Arc<Relayed>>,
}

/// This instance's side of the relay.
#[derive(Debug)]
struct Relayed {
    /// Messages out.
    outgoing: mpsc::Sender<String>,
    /// This instance's random id, to skip its own messages.
    origin: u64,
    /// Until when (monotonic ms) another instance has dashboards connected.
    watched_until: AtomicI64,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub {
            local: broadcast::channel(CAPACITY).0,
            relay: None,
        }
    }
}

/// Milliseconds on a monotonic clock (only compared with itself).
fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as i64
}

impl LiveHub {
    /// A hub relaying through `relay` (when the store is shared by several instances).
    pub fn new(relay: Option<LiveRelay>) -> Self {
        let Some(relay) = relay else {
            return LiveHub::default();
        };
        let hub = LiveHub {
            local: broadcast::channel(CAPACITY).0,
            relay: Some(Arc::new(Relayed {
                outgoing: relay.outgoing,
                origin: rand::random(),
                watched_until: AtomicI64::new(0),
            })),
        };
        tokio::spawn(hub.clone().receive(relay.incoming));
        tokio::spawn(hub.clone().say_watching());
        hub
    }

    /// Publishes an event to this instance's subscribers, and to the other instances while
    /// any of them has dashboards connected.
    pub fn publish(&self, event: LiveEvent) {
        if let Some(relay) = self.relay.as_ref().filter(|r| r.watched()) {
            let message = json!({
                "origin": relay.origin, "account_id": event.account_id,
                "kind": event.kind, "data": event.data,
            });
            let _ = relay.outgoing.try_send(message.to_string());
        }
        let _ = self.local.send(event);
    }

    /// Whether anyone listens, here or on another instance (so publishers can skip building
    /// events).
    pub fn has_subscribers(&self) -> bool {
        self.local.receiver_count() > 0 || self.relay.as_ref().is_some_and(|r| r.watched())
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.local.subscribe()
    }

    /// Delivers other instances' events to this one's subscribers, and notes who watches.
    async fn receive(self, mut incoming: broadcast::Receiver<String>) {
        let Some(relay) = self.relay.clone() else {
            return;
        };
        loop {
            let message = match incoming.recv().await {
                Ok(message) => message,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let Ok(message) = serde_json::from_str::<Value>(&message) else {
                continue;
            };
            if message["origin"].as_u64() == Some(relay.origin) {
                continue;
            }
            if message["kind"] == "watching" {
                relay
                    .watched_until
                    .store(monotonic_ms() + WATCHED_FOR_MS, Ordering::Relaxed);
                continue;
            }
            let kind = KINDS.into_iter().find(|k| message["kind"] == *k);
            if let (Some(kind), Some(account_id)) = (kind, message["account_id"].as_str()) {
                let _ = self.local.send(LiveEvent {
                    account_id: account_id.to_owned(),
                    kind,
                    data: message["data"].clone(),
                });
            }
        }
    }

    /// Tells the other instances, while this one has dashboards connected.
    async fn say_watching(self) {
        let Some(relay) = self.relay.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(WATCH_EVERY);
        loop {
            tick.tick().await;
            if relay.outgoing.is_closed() {
                return;
            }
            if self.local.receiver_count() > 0 {
                let message = json!({"origin": relay.origin, "kind": "watching"});
                let _ = relay.outgoing.try_send(message.to_string());
            }
        }
    }
}

impl Relayed {
    fn watched(&self) -> bool {
        self.watched_until.load(Ordering::Relaxed) > monotonic_ms()
    }
}
