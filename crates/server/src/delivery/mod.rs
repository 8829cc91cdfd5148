//! The delivery engine: sends claimed deliveries, records outcomes, schedules retries.
//!
//! - [`DeliveryEngine::dispatch`] runs each claimed delivery as a task, limited by a global
//!   worker pool and a per-webhook limit (taken first, so a slow endpoint's backlog waits
//!   without holding global workers).
//! - New events are claimed in the transaction that stores them (the fast path: no query
//!   between acceptance and sending); `claim` picks up everything else that falls due —
//!   retries, resumed deliveries, leftovers of a killed process.
//! - [`send`] makes one signed HTTP attempt; [`schedule`] decides what follows it.
//! - In-flight work is bounded by the engine's room (see [`DeliveryEngine::lease`]): past
//!   it, deliveries stay in the store unclaimed until workers free up.

mod claim;
pub mod resolver;
pub mod schedule;
pub mod send;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Notify, Semaphore};

use crate::config::ServeConfig;
use crate::domain::target::TargetPolicy;
use crate::live::{LiveEvent, LiveHub};
use crate::shutdown::Shutdown;
use crate::store::{ClaimedDelivery, Lease, Store};
use schedule::RetryRules;

/// How far past the attempt timeout a lease lasts, for recording the result.
const LEASE_GRACE: Duration = Duration::from_secs(15);
/// Claimed deliveries held in memory per worker, at most.
const QUEUED_PER_WORKER: usize = 8;

/// Sends deliveries; shared by the HTTP layer (fast path) and the claim loop.
pub struct DeliveryEngine {
    /// The store outcomes are written to.
    store: Arc<dyn Store>,
    /// The HTTP client: pooled connections per host, no proxy, no redirects.
    client: reqwest::Client,
    /// Which targets may be dialled.
    policy: Arc<TargetPolicy>,
    /// Retry schedule.
    rules: RetryRules,
    /// Time one attempt may take.
    attempt_timeout: Duration,
    /// Global limit of attempts in flight.
    workers: Arc<Semaphore>,
    /// Per-webhook limit of attempts in flight, by webhook key; only webhooks with work.
    per_webhook: Mutex<HashMap<i64, Arc<Semaphore>>>,
    /// Size of each per-webhook limit.
    per_webhook_limit: usize,
    /// Claimed deliveries not yet finished.
    in_flight: AtomicUsize,
    /// The most claimed deliveries held at once.
    max_in_flight: usize,
    /// Wakes the claim loop (a retry was scheduled, or room freed up).
    wake: Notify,
    /// Where attempt results are announced to dashboards.
    live: LiveHub,
}

impl DeliveryEngine {
    /// Builds the engine and its HTTP client.
    pub fn new(
        store: Arc<dyn Store>,
        config: &ServeConfig,
        live: LiveHub,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let policy = Arc::new(config.target_policy());
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver::PolicyResolver::new(policy.clone())))
            .connect_timeout(config.attempt_timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(send::USER_AGENT_VALUE)
            .build()?;
        let workers = config.workers.max(1);
        Ok(Arc::new(DeliveryEngine {
            store,
            client,
            policy,
            rules: RetryRules {
                base: config.retry_base(),
                max_attempts: config.max_attempts,
            },
            attempt_timeout: config.attempt_timeout(),
            workers: Arc::new(Semaphore::new(workers)),
            per_webhook: Mutex::new(HashMap::new()),
            per_webhook_limit: config.per_webhook_concurrency.max(1),
            in_flight: AtomicUsize::new(0),
            max_in_flight: workers * QUEUED_PER_WORKER,
            wake: Notify::new(),
            live,
        }))
    }

    /// A lease for up to the free room, or `None` when the engine is full.
    pub fn lease(&self, now_ms: i64) -> Option<Lease> {
        let room = self.room();
        (room > 0).then(|| Lease {
            token: rand::rng().random(),
            until_ms: now_ms + (self.attempt_timeout + LEASE_GRACE).as_millis() as i64,
            max: room as u32,
        })
    }

    fn room(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.in_flight.load(Ordering::Relaxed))
    }

    /// Claimed deliveries not yet finished.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Sends each delivery in its own task.
    pub fn dispatch(self: &Arc<Self>, deliveries: Vec<ClaimedDelivery>) {
        self.in_flight
            .fetch_add(deliveries.len(), Ordering::Relaxed);
        for delivery in deliveries {
            let engine = self.clone();
            tokio::spawn(async move { engine.deliver(delivery).await });
        }
    }

    fn per_webhook_map(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Semaphore>>> {
        self.per_webhook
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The webhook's limit, shared by its deliveries in flight.
    fn webhook_limit(&self, webhook_seq: i64) -> Arc<Semaphore> {
        self.per_webhook_map()
            .entry(webhook_seq)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_webhook_limit)))
            .clone()
    }

    /// Forgets the webhook's limit when no delivery of it is in flight any more, so the map
    /// holds only webhooks with work, not every webhook ever delivered to.
    fn release_webhook_limit(&self, webhook_seq: i64, limit: Arc<Semaphore>) {
        let mut map = self.per_webhook_map();
        // Clones are only made under this lock: the map's and ours mean nobody else has one.
        if Arc::strong_count(&limit) == 2 {
            map.remove(&webhook_seq);
        }
    }

    /// Webhooks with deliveries in flight (or just finished).
    pub fn webhooks_in_flight(&self) -> usize {
        self.per_webhook_map().len()
    }

    async fn deliver(self: Arc<Self>, delivery: ClaimedDelivery) {
        let limit = self.webhook_limit(delivery.webhook_seq);
        let result = {
            let _webhook_permit = limit.acquire().await;
            let _worker_permit = self.workers.acquire().await;
            send::attempt(&self.client, &self.policy, &delivery, self.attempt_timeout).await
        };
        self.release_webhook_limit(delivery.webhook_seq, limit);
        let unit: f64 = rand::rng().random();
        let outcome = schedule::outcome(&delivery, result, self.rules, unit);
        // Fields on the events themselves rather than a span per delivery: a span would be
        // built (and its fields formatted) for every delivery even when nothing is logged.
        match &outcome.attempt.error_kind {
            None => {
                tracing::debug!(delivery = %delivery.id, attempt = outcome.attempt.number, "delivered")
            }
            Some(kind) => tracing::info!(
                delivery = %delivery.id,
                webhook = %delivery.webhook_id,
                attempt = outcome.attempt.number,
                kind,
                status = ?outcome.attempt.status_code,
                "attempt failed"
            ),
        }
        let retry = matches!(outcome.next, crate::store::NextStep::RetryAt(_));
        // Built only when a dashboard listens.
        let announcement = self.live.has_subscribers().then(|| LiveEvent {
            account_id: delivery.account_id.clone(),
            kind: "delivery.attempted",
            data: serde_json::json!({
                "delivery_id": delivery.id,
                "webhook_id": delivery.webhook_id,
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "attempt": outcome.attempt.number,
                "status_code": outcome.attempt.status_code,
                "error_kind": outcome.attempt.error_kind,
                "outcome": match &outcome.next {
                    crate::store::NextStep::Succeeded => "succeeded",
                    crate::store::NextStep::RetryAt(_) => "retrying",
                    crate::store::NextStep::GiveUp { .. } => "failed",
                },
            }),
        });
        match self.store.record_outcome(outcome).await {
            Ok(()) => {
                if let Some(announcement) = announcement {
                    self.live.publish(announcement);
                }
            }
            // The lease expires and the delivery is claimed again: at-least-once.
            Err(error) => {
                tracing::error!(delivery = %delivery.id, %error, "could not record the attempt")
            }
        }
        let before = self.in_flight.fetch_sub(1, Ordering::Relaxed);
        if retry || before >= self.max_in_flight {
            self.wake.notify_one();
        }
    }

    /// Runs the claim loop until shutdown, then waits (at most `drain`) for in-flight attempts.
    pub async fn run(self: Arc<Self>, shutdown: Shutdown, drain: Duration) {
        claim::run(&self, shutdown).await;
        let deadline = tokio::time::Instant::now() + drain;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wakes the claim loop, e.g. after deliveries were resumed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
