//! Prometheus / OpenMetrics metrics, served at `GET /metrics` on their own listener
//! (`--metrics-bind`, off by default, so they never share the public port).
//!
//! Counters and histograms are updated where things happen (the API, the delivery engine,
//! the mailer); the queue gauges (pending, due, age of the oldest due delivery, outbox
//! backlog, server processes) are read from the store when scraped, so over several instances
//! every instance reports the same totals. No label holds an unbounded value: event types come from the
//! catalog, routes are templates, results and outcomes are fixed sets.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::store::{QueueStats, Store};

/// `event_type`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventTypeLabel {
    /// A catalogued type (the provider's catalog bounds the label set).
    pub event_type: String,
}

/// `result` of a delivery attempt: the status class or why it failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `2xx`, `3xx`, `4xx`, `5xx`, or an error kind (`timeout`, `connect`, …).
    pub result: &'static str,
}

/// `outcome` of an email.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EmailLabel {
    /// `sent` (to the SMTP server or the outbox directory), `failed` (to be retried) or
    /// `dead` (the last try failed; dead-lettered).
    pub outcome: &'static str,
}

/// `route` (a template such as `/v1/webhooks/{id}`) and `status` class of an API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// The route template, `static` for the browser tool's files, `unknown` for no route.
    pub route: String,
    /// `2xx` … `5xx`.
    pub status: &'static str,
}

/// `route` alone, for the latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    /// As in [`RequestLabel`].
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric of one server process.
pub struct Metrics {
    registry: Registry,
    /// Events accepted, by type.
    pub events_accepted: Family<EventTypeLabel, Counter>,
    /// Delivery attempts, by result.
    pub attempts: Family<ResultLabel, Counter>,
    /// Deliveries that succeeded.
    pub deliveries_succeeded: Counter,
    /// Deliveries that failed for good (their last attempt).
    pub deliveries_failed: Counter,
    /// Webhooks disabled after a delivery's final failure.
    pub webhooks_disabled: Counter,
    /// Emails, by outcome.
    pub emails: Family<EmailLabel, Counter>,
    /// Seconds one attempt took.
    pub attempt_duration: Histogram,
    /// Seconds from accepting an event to a delivery of it succeeding.
    pub end_to_end: Histogram,
    /// Attempts running in this process now.
    pub in_flight: Gauge,
    /// Attempts in flight this process allows now (the delivery room's size).
    pub room: Gauge,
    /// API requests, by route and status class.
    pub requests: Family<RequestLabel, Counter>,
    /// API request seconds, by route.
    pub request_duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pending: Gauge,
    due: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
    outbox_backlog: Gauge,
    processes: Gauge,
    open_circuits: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered under `cdhooks_`.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cdhooks");
        let metrics = Metrics {
            events_accepted: Family::default(),
            attempts: Family::default(),
            deliveries_succeeded: Counter::default(),
            deliveries_failed: Counter::default(),
            webhooks_disabled: Counter::default(),
            emails: Family::default(),
            attempt_duration: latency_histogram(),
            end_to_end: latency_histogram(),
            in_flight: Gauge::default(),
            room: Gauge::default(),
            requests: Family::default(),
            request_duration: Family::new_with_constructor(latency_histogram),
            pending: Gauge::default(),
            due: Gauge::default(),
            oldest_due_age: Gauge::default(),
            outbox_backlog: Gauge::default(),
            processes: Gauge::default(),
            open_circuits: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_accepted",
            "Events accepted, by type",
            metrics.events_accepted.clone(),
        );
        registry.register(
            "delivery_attempts",
            "Delivery attempts, by result (status class or error kind)",
            metrics.attempts.clone(),
        );
        registry.register(
            "deliveries_succeeded",
            "Deliveries that succeeded",
            metrics.deliveries_succeeded.clone(),
        );
        registry.register(
            "deliveries_failed",
            "Deliveries whose last attempt failed",
            metrics.deliveries_failed.clone(),
        );
        registry.register(
            "webhooks_disabled",
            "Webhooks disabled after a delivery's final failure",
            metrics.webhooks_disabled.clone(),
        );
        registry.register(
            "emails",
            "Emails to webhook owners, by outcome",
            metrics.emails.clone(),
        );
        registry.register_with_unit(
            "delivery_attempt_duration",
            "Time one delivery attempt took",
            prometheus_client::registry::Unit::Seconds,
            metrics.attempt_duration.clone(),
        );
        registry.register_with_unit(
            "delivery_latency",
            "Time from accepting an event to a successful delivery of it",
            prometheus_client::registry::Unit::Seconds,
            metrics.end_to_end.clone(),
        );
        registry.register(
            "deliveries_in_flight",
            "Delivery attempts running in this process",
            metrics.in_flight.clone(),
        );
        registry.register(
            "delivery_room",
            "Attempts in flight this process allows now: from --workers, growing up to --max-in-flight while endpoints keep attempts waiting",
            metrics.room.clone(),
        );
        registry.register(
            "deliveries_pending",
            "Deliveries not finished (all instances)",
            metrics.pending.clone(),
        );
        registry.register(
            "deliveries_due",
            "Pending deliveries due and not being attempted (all instances)",
            metrics.due.clone(),
        );
        registry.register_with_unit(
            "oldest_due_delivery_age",
            "How long the oldest due delivery has waited: the queue lag to alert on",
            prometheus_client::registry::Unit::Seconds,
            metrics.oldest_due_age.clone(),
        );
        registry.register(
            "outbox_backlog",
            "Emails waiting to be sent (all instances)",
            metrics.outbox_backlog.clone(),
        );
        registry.register(
            "open_circuits",
            "Enabled webhooks whose recent attempts all failed, sent one attempt at a time until one succeeds (all instances)",
            metrics.open_circuits.clone(),
        );
        registry.register(
            "server_processes",
            "Server processes sharing the store (1 on the embedded store; on PostgreSQL those with a live heartbeat, each working its share of the webhooks)",
            metrics.processes.clone(),
        );
        registry.register(
            "http_requests",
            "API requests, by route template and status class",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "API request time, by route template",
            prometheus_client::registry::Unit::Seconds,
            metrics.request_duration.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Counts one attempt: `status` if the receiver answered, else the error kind.
    pub fn attempt(&self, status: Option<u16>, error_kind: Option<&str>, took: Duration) {
        let result = match (status, error_kind) {
            (Some(200..=299), _) => "2xx",
            (Some(300..=399), _) => "3xx",
            (Some(400..=499), _) => "4xx",
            (Some(500..=599), _) => "5xx",
            (_, Some(kind)) => known_error_kind(kind),
            _ => "other",
        };
        self.attempts.get_or_create(&ResultLabel { result }).inc();
        self.attempt_duration.observe(took.as_secs_f64());
    }

    /// Counts one API request.
    pub fn request(&self, route: String, status: u16, took: Duration) {
        let status = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.request_duration
            .get_or_create(&RouteLabel {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabel { route, status })
            .inc();
    }

    /// The OpenMetrics text, with the queue gauges read from `store` at `now_ms`.
    pub async fn render(&self, store: &dyn Store, now_ms: i64) -> String {
        match store.queue_stats(now_ms).await {
            Ok(QueueStats {
                pending,
                due,
                oldest_due_at,
                outbox,
                open_circuits,
                processes,
            }) => {
                self.open_circuits.set(open_circuits);
                self.processes.set(processes);
                self.pending.set(pending);
                self.due.set(due);
                let age = oldest_due_at.map_or(0.0, |at| (now_ms - at).max(0) as f64 / 1000.0);
                self.oldest_due_age.set(age);
                self.outbox_backlog.set(outbox);
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: reading the queue from the store failed")
            }
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(%error, "metrics: encoding failed");
        }
        text
    }
}

/// The error kinds a label may hold (anything else is `other`), so a label never takes an
/// unbounded value.
fn known_error_kind(kind: &str) -> &'static str {
    const KINDS: [&str; 9] = [
        "timeout",
        "connect",
        "tls",
        "dns",
        "forbidden_target",
        "redirect",
        "http_status",
        "invalid_secret",
        "body",
    ];
    KINDS
        .iter()
        .find(|k| **k == kind)
        .copied()
        .unwrap_or("other")
}
