//! The delivery engine: claims due deliveries, sends them, records the outcomes.
//!
//! - Only what can start at once is claimed: a claim reserves the engine's room
//!   ([`room::Room`]: `--workers`, grown by [`sizing`] up to `--max-in-flight` while
//!   endpoints keep attempts waiting) first, and the store caps each webhook at
//!   `--per-webhook-concurrency` attempts in flight over every process, serving webhooks
//!   round-robin (`domain::claim`). A slow endpoint's backlog therefore waits in the store,
//!   costs other webhooks nothing beyond its own share, and no lease runs out while its
//!   delivery waits in memory — so nothing is sent twice while an attempt of it runs.
//! - New events are claimed in the transaction that stores them ([`DeliveryEngine::accept`],
//!   the fast path: no query between acceptance and sending) when their webhook has a free
//!   slot and nothing older waiting; [`claim`] picks up everything else — backlogs, retries,
//!   resumed deliveries, leftovers of a killed process.
//! - [`send`] makes one signed HTTP attempt; [`schedule`] asks `domain::delivery` what
//!   follows it; the store applies that, conditional on the claim, and in the same
//!   transaction claims the next due delivery for the room the attempt frees (so a busy
//!   engine runs no separate claim per finished attempt).

mod claim;
pub mod resolver;
pub mod room;
pub mod schedule;
pub mod send;
mod sizing;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::config::ServeConfig;
use crate::domain::delivery::{AfterAttempt, RetryRules};
use crate::domain::event::NewEvent;
use crate::domain::target::TargetPolicy;
use crate::domain::webhook::SigningKeys;
use crate::live::{LiveEvent, LiveHub};
use crate::shutdown::Shutdown;
use crate::store::{Account, ClaimedDelivery, Lease, Store, StoreResult};
use room::Room;

/// How far past the attempt timeout a lease lasts, for recording the result.
const LEASE_GRACE: Duration = Duration::from_secs(15);
/// The most new deliveries one accepted event may claim on the fast path; the rest of a
/// large fan-out goes through the claim loop (so concurrent requests share the room).
const FAST_PATH_ROOM: usize = 4;

/// The engine as the use cases see it (an `Arc`, since what it starts outlives the call).
#[async_trait::async_trait]
impl crate::app::Deliverer for Arc<DeliveryEngine> {
    async fn accept(&self, account: &Account, event: NewEvent, now_ms: i64) -> StoreResult<u32> {
        DeliveryEngine::accept(self, account, event, now_ms).await
    }
    async fn accept_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> StoreResult<Vec<u32>> {
        let deliveries = self.store.insert_events_together(events, now_ms).await?;
        self.wake();
        Ok(deliveries)
    }
    fn wake(&self) {
        DeliveryEngine::wake(self);
    }
    fn signing_keys_changed(&self, webhook_id: &str) {
        self.forget_signing_keys(webhook_id);
    }
}

/// What the engine can reach and hold, decided at start beside the configuration.
pub struct Reach {
    /// How many attempts it holds in flight (`capacity::plan`).
    pub capacity: crate::capacity::Capacity,
    /// The roots endpoints' certificates must chain to ([`tls::endpoint_roots`]).
    pub roots: rustls::RootCertStore,
}

/// Who hears of what the engine did.
pub struct Listeners {
    /// Dashboards, of attempt results.
    pub live: LiveHub,
    /// The mailer, of an email queued with a final failure.
    pub mailbox: Arc<crate::mail::Mailbox>,
}

/// Sends deliveries; shared by the application layer (fast path) and the claim loop.
pub struct DeliveryEngine {
    /// Where deliveries are claimed from and outcomes written to.
    store: Arc<dyn Store>,
    /// The HTTP client: pooled connections per host, no proxy, no redirects.
    client: reqwest::Client,
    /// Which targets may be dialled.
    policy: Arc<TargetPolicy>,
    /// Retry schedule.
    rules: RetryRules,
    /// Time one attempt may take.
    attempt_timeout: Duration,
    /// The most attempts in flight to one webhook, over every process.
    per_webhook: u32,
    /// Attempts in flight in this process, bounded by the room's size now.
    room: Room,
    /// What time it is.
    clock: SharedClock,
    /// Wakes the claim loop (an attempt finished, work was left unclaimed or resumed).
    wake: Notify,
    /// Where attempt results are announced to dashboards.
    live: LiveHub,
    /// Rung when a recorded result queued an email.
    mailbox: Arc<crate::mail::Mailbox>,
    /// Counters and histograms of attempts.
    metrics: Arc<crate::metrics::Metrics>,
    /// Opens the secrets of claimed deliveries (sealed at rest with `--secret-key-file`).
    sealer: crate::domain::sealing::Sealer,
    /// The server's stop, once [`DeliveryEngine::run`] started: after it nothing new starts.
    shutdown: std::sync::OnceLock<Shutdown>,
    /// The claims of attempts in flight (delivery seq → claim token), so that a stop can
    /// give back at once what it cuts off.
    claims: std::sync::Mutex<std::collections::HashMap<i64, u64>>,
    /// The most attempts in flight to webhooks whose circuit is open
    /// (`domain::health::failing_share` of `--workers`), and how many there are now.
    failing_share: u32,
    failing_in_flight: std::sync::atomic::AtomicU32,
    /// Webhooks' Ed25519 keys (none for HMAC-only webhooks), by webhook id, with when they
    /// were read.
    signing_keys: std::sync::Mutex<KnownSigningKeys>,
}

/// Webhook id → its Ed25519 keys and when they were read from the store (Unix ms).
type KnownSigningKeys = std::collections::HashMap<String, (Arc<SigningKeys>, i64)>;

/// How long the engine uses a webhook's keys before reading them again: a rotation on another
/// instance reaches this one's deliveries within this bound (on this one, at once).
pub const SIGNING_KEYS_FRESH_MS: i64 = 5_000;

/// The most webhooks whose keys the engine keeps (it forgets them all past it).
const SIGNING_KEYS_KEPT: usize = 100_000;

impl DeliveryEngine {
    /// Builds the engine and its HTTP client.
    pub fn new(
        store: Arc<dyn Store>,
        config: &ServeConfig,
        reach: Reach,
        clock: SharedClock,
        listeners: Listeners,
        metrics: Arc<crate::metrics::Metrics>,
        sealer: crate::domain::sealing::Sealer,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let policy = Arc::new(config.target_policy());
        let Reach { capacity, roots } = reach;
        let Listeners { live, mailbox } = listeners;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls::client_config(roots, capacity.max_in_flight))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(resolver::PolicyResolver::new(policy.clone())))
            .connect_timeout(config.attempt_timeout())
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(send::USER_AGENT_VALUE)
            .build()?;
        metrics.room.set(capacity.workers as i64);
        Ok(Arc::new(DeliveryEngine {
            store,
            client,
            policy,
            rules: RetryRules {
                base: config.retry_base(),
                max_attempts: config.max_attempts,
            },
            attempt_timeout: config.attempt_timeout(),
            per_webhook: config.per_webhook_concurrency.clamp(1, u32::MAX as usize) as u32,
            room: Room::new(capacity.workers, capacity.max_in_flight),
            failing_share: crate::domain::health::failing_share(
                capacity.workers.min(u32::MAX as usize) as u32,
            ),
            failing_in_flight: Default::default(),
            clock,
            wake: Notify::new(),
            live,
            mailbox,
            metrics,
            sealer,
            shutdown: std::sync::OnceLock::new(),
            claims: Default::default(),
            signing_keys: Default::default(),
        }))
    }

    /// Whether the server is stopping: attempts in flight finish, nothing new starts.
    fn stopping(&self) -> bool {
        self.shutdown.get().is_some_and(Shutdown::is_shutdown)
    }

    /// A lease for `max` deliveries (`max_failing` of them at most to webhooks whose circuit
    /// is open: see [`Self::reserve_failing`]) that covers one attempt starting now.
    fn lease(&self, now_ms: i64, max: usize, max_failing: u32) -> Lease {
        Lease {
            token: rand::random(),
            until_ms: now_ms + (self.attempt_timeout + LEASE_GRACE).as_millis() as i64,
            max: max as u32,
            per_webhook: self.per_webhook,
            max_failing,
        }
    }

    /// Reserves what is left of the failing webhooks' share of the room, for one claim: two
    /// claims at once (the loop's, a finished attempt's) never both get it. The claim's
    /// caller gives back what it did not use ([`Self::release_failing`]).
    fn reserve_failing(&self) -> u32 {
        let share = self.failing_share;
        let previous = self
            .failing_in_flight
            .fetch_update(
                std::sync::atomic::Ordering::AcqRel,
                std::sync::atomic::Ordering::Acquire,
                |in_flight| Some(in_flight.max(share)),
            )
            .unwrap_or(share);
        share.saturating_sub(previous)
    }

    /// Gives back the part of a `reserved` failing share that `claimed` did not use — or
    /// counts the extra ones (a slot handed straight back to a failing webhook's next delivery
    /// replaces that webhook's own finished attempt, without a reservation).
    fn release_failing(&self, reserved: u32, claimed: &[ClaimedDelivery]) {
        let used = claimed.iter().filter(|d| d.circuit_open()).count() as u32;
        let _ = self.failing_in_flight.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |in_flight| Some((in_flight + used).saturating_sub(reserved)),
        );
    }

    /// One attempt to a failing webhook is over.
    fn failing_attempt_over(&self) {
        let _ = self.failing_in_flight.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |in_flight| Some(in_flight.saturating_sub(1)),
        );
    }

    /// Stores an event with its deliveries and starts those that can start now. Returns
    /// how many deliveries the event fanned out to.
    pub async fn accept(
        self: &Arc<Self>,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
    ) -> StoreResult<u32> {
        // While stopping, an event still being accepted is stored, and sent by the next start.
        let reserved = if self.stopping() {
            0
        } else {
            self.room.reserve(FAST_PATH_ROOM)
        };
        // New deliveries of failing webhooks are never claimed here (`health::may_start_at_once`).
        let lease = (reserved > 0).then(|| self.lease(now_ms, reserved, 0));
        let event_type = event.event_type.clone();
        let inserted = self.store.insert_event(account, event, now_ms, lease).await;
        if inserted.is_ok() {
            self.metrics
                .events_accepted
                .get_or_create(&crate::metrics::EventTypeLabel { event_type })
                .inc();
        }
        let claimed = inserted.as_ref().map_or(0, |i| i.claimed.len());
        self.room.release(reserved - claimed);
        let inserted = inserted?;
        if inserted.left_claimable {
            self.wake();
        }
        self.dispatch(inserted.claimed);
        Ok(inserted.deliveries)
    }

    /// The delivery with its secrets opened. One that cannot be opened (no key, another key)
    /// becomes empty, so the attempt fails as `invalid_secret` without sending anything,
    /// rather than going out signed with a sealed value.
    /// The webhook's Ed25519 keys (current and rotated-out): asked of the store once per
    /// webhook and kept for [`SIGNING_KEYS_FRESH_MS`].
    async fn signing_keys(&self, webhook_id: &str) -> Result<Arc<SigningKeys>, String> {
        let now = self.clock.now_ms();
        if let Some((known, read_at)) = self
            .signing_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(webhook_id)
        {
            if now - read_at < SIGNING_KEYS_FRESH_MS {
                return Ok(known.clone());
            }
        }
        let (current, previous) = self
            .store
            .webhook_signing_keys(webhook_id)
            .await
            .map_err(|e| e.to_string())?;
        let keys = Arc::new(SigningKeys::open(
            &self.sealer,
            current.as_ref(),
            &previous,
        )?);
        let mut known = self.signing_keys.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= SIGNING_KEYS_KEPT {
            known.clear();
        }
        known.insert(webhook_id.to_owned(), (keys.clone(), now));
        Ok(keys)
    }

    /// Forgets what the engine knows of a webhook's keys (after a rotation on this instance).
    pub fn forget_signing_keys(&self, webhook_id: &str) {
        self.signing_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(webhook_id);
    }

    fn opened(&self, mut delivery: ClaimedDelivery) -> ClaimedDelivery {
        match self.sealer.open(&delivery.secret) {
            Ok(secret) => delivery.secret = secret,
            Err(error) => {
                tracing::error!(webhook = %delivery.webhook_id, %error, "cannot sign a delivery");
                delivery.secret = crate::domain::webhook::WebhookSecret::from_stored(String::new());
            }
        }
        delivery
            .previous_secrets
            .retain_mut(|previous| match self.sealer.open(&previous.secret) {
                Ok(secret) => {
                    previous.secret = secret;
                    true
                }
                Err(_) => false,
            });
        delivery
    }

    /// Counts an attempt and what it decided.
    fn count(&self, delivery: &ClaimedDelivery, outcome: &crate::store::AttemptOutcome) {
        let m = &self.metrics;
        m.in_flight.dec();
        let attempt = &outcome.attempt;
        m.attempt(
            attempt.status_code,
            attempt.error_kind.as_deref(),
            Duration::from_millis(attempt.duration_ms.max(0) as u64),
        );
        match outcome.next {
            AfterAttempt::Succeeded => {
                m.deliveries_succeeded.inc();
                let waited = self.clock.now_ms() - delivery.accepted_at_ms;
                m.end_to_end.observe(waited.max(0) as f64 / 1000.0);
            }
            AfterAttempt::GiveUp { .. } => {
                m.deliveries_failed.inc();
                if outcome.disabling.is_some() {
                    m.webhooks_disabled.inc();
                }
            }
            AfterAttempt::RetryAt(_) => {}
        }
    }

    /// Attempts in flight in this process.
    pub fn in_flight(&self) -> usize {
        self.room.in_use()
    }

    /// Sends each claimed delivery in its own task; their room is already reserved.
    fn dispatch(self: &Arc<Self>, deliveries: Vec<ClaimedDelivery>) {
        if deliveries.is_empty() {
            return;
        }
        {
            let mut claims = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            for delivery in &deliveries {
                claims.insert(delivery.seq, delivery.claim_token);
            }
        }

        for delivery in deliveries {
            let engine = self.clone();
            tokio::spawn(async move { engine.deliver(delivery).await });
        }
    }

    async fn deliver(self: Arc<Self>, delivery: ClaimedDelivery) {
        let started = std::time::Instant::now();
        self.metrics.in_flight.inc();
        let mut delivery = self.opened(delivery);
        match self.signing_keys(&delivery.webhook_id).await {
            Ok(keys) => delivery.signing_keys = keys,
            Err(error) => {
                // Never send an Ed25519 webhook's delivery without its v1a signature: the
                // attempt fails (as a secret that cannot sign does) and is retried.
                tracing::error!(webhook = %delivery.webhook_id, %error, "cannot load the signing key");
                delivery.secret = crate::domain::webhook::WebhookSecret::from_stored(String::new());
            }
        }
        let result = send::attempt(
            &self.client,
            &self.policy,
            &delivery,
            self.attempt_timeout,
            self.clock.now_ms(),
        )
        .await;
        let finished_ms = self.clock.now_ms();
        self.room.attempt_over(started.elapsed());
        let outcome = schedule::outcome(&delivery, result, finished_ms, self.rules, rand::random());
        self.count(&delivery, &outcome);
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
                status = outcome.attempt.status_code.unwrap_or(0),
                "attempt failed"
            ),
        }
        if let AfterAttempt::GiveUp { attempts_in_round } = outcome.next {
            tracing::info!(
                webhook = %delivery.webhook_id,
                delivery = %delivery.id,
                attempts = attempts_in_round,
                reason = outcome.disabling.as_ref().map_or("", |d| d.reason.as_str()),
                "webhook disabled after its final failed attempt; emailing its owner"
            );
        }
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
                "outcome": match outcome.next {
                    AfterAttempt::Succeeded => "succeeded",
                    AfterAttempt::RetryAt(_) => "retrying",
                    AfterAttempt::GiveUp { .. } => "failed",
                },
            }),
        });
        // The room this attempt held goes to the next due delivery, claimed in the same
        // transaction that records the result — unless the server is stopping.
        let now = self.clock.now_ms();
        let stopping = self.stopping();
        if delivery.circuit_open() {
            self.failing_attempt_over();
        }
        let failing = if stopping { 0 } else { self.reserve_failing() };
        let follow_up = (!stopping).then(|| (now, self.lease(now, 1, failing)));
        let seq = delivery.seq;
        let emails = outcome.disabling.is_some();
        let retry_scheduled = matches!(outcome.next, AfterAttempt::RetryAt(_));
        let (next, recorded) = match self
            .store
            .record_outcome_and_claim(outcome, follow_up)
            .await
        {
            Ok(next) => {
                if let Some(announcement) = announcement {
                    self.live.publish(announcement);
                }
                if emails {
                    self.mailbox.email_queued();
                }
                (next, true)
            }
            // The lease expires and the delivery is claimed again: at-least-once.
            Err(error) => {
                tracing::error!(delivery = %delivery.id, %error, "could not record the attempt");
                (Vec::new(), false)
            }
        };
        self.release_failing(failing, &next);
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&seq);
        if next.is_empty() {
            self.room.release(1);
            // The follow-up was a claim of everything this process may claim, and found
            // nothing: the claim loop would find nothing either — unless the result set a
            // retry (the loop may sleep past it) or nothing was recorded. A store shared with
            // other processes, whose claims skip what those hold at the moment, raises its
            // work signal itself when that may have left work behind. (Waking the loop for
            // every attempt made a claim per attempt beside dead or slow endpoints, where due
            // work waits only for its own webhook's slot.)
            if !stopping && (retry_scheduled || !recorded) {
                self.wake();
            }
        } else {
            self.dispatch(next);
        }
    }

    /// Runs the claim loop until shutdown, then waits (at most `drain`) for in-flight attempts;
    /// from the shutdown on, no attempt starts (neither claimed nor handed a freed slot).
    pub async fn run(self: Arc<Self>, shutdown: Shutdown, drain: Duration) {
        let _ = self.shutdown.set(shutdown.clone());
        tokio::join!(
            claim::run(&self, shutdown.clone()),
            sizing::run(&self, shutdown)
        );
        let deadline = tokio::time::Instant::now() + drain;
        while self.in_flight() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // What is still in flight is cut off: its outcome is unknown, so it is given back to
        // the queue now (sent again by the next claimer) rather than when its lease runs out.
        let cut_off: Vec<(i64, u64)> = self
            .claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        if !cut_off.is_empty() {
            match self.store.release_claims(&cut_off).await {
                Ok(released) => tracing::warn!(
                    cut_off = cut_off.len(),
                    released,
                    "stopping: attempts still in flight after {drain:?} were cut off and given back to the queue"
                ),
                Err(error) => tracing::error!(
                    %error,
                    cut_off = cut_off.len(),
                    "stopping: attempts cut off after {drain:?} could not be given back; they are sent again when their lease ends"
                ),
            }
        }
    }

    /// Wakes the claim loop, e.g. after deliveries were resumed.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}
