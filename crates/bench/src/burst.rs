//! The burst scenario: every event to one webhook as fast as the client can send them, then
//! until the last is delivered — run on the servers under test and, for a share of it, on a
//! deployment of fewer instances in turn with them (the same machine's load for both).

use std::time::{Duration, Instant};

use crate::receiver::Receiver;
use crate::servers::Servers;
use crate::{incomplete, post_many, wait_for};

/// The figures of one burst.
pub struct Burst {
    /// Events accepted per second (all answered `202`).
    pub accepted: f64,
    /// Events delivered per second, first to last receipt.
    pub delivered: f64,
    /// Events accepted and delivered per second, first request to last receipt.
    pub end_to_end: f64,
    /// CPU per delivered event (ms): servers and database together, servers, database.
    pub cpu_per_event: (f64, f64, f64),
    /// Deliveries of an event already received.
    pub duplicates: u64,
    /// Deliveries whose signatures did not verify.
    pub bad_signatures: u64,
}

/// What a burst sends.
pub struct Load<'a> {
    /// The client.
    pub http: &'a reqwest::Client,
    /// Events in the burst.
    pub events: usize,
    /// Concurrent client connections.
    pub connections: usize,
    /// The time `data.sent_us` counts from.
    pub epoch: Instant,
}

/// Registers the webhook every burst on `servers` delivers to (`/burst` of `receiver`).
pub async fn prepare(servers: &Servers, load: &Load<'_>, receiver: &Receiver) {
    servers
        .webhook(
            load.http,
            format!("http://{}/burst", receiver.addr),
            "server.started",
        )
        .await;
}

/// Runs one burst on `servers` (prepared) and prints its figures as `label`.
pub async fn run(servers: &Servers, load: &Load<'_>, receiver: &Receiver, label: &str) -> Burst {
    receiver.reset();
    let cpu0 = servers.cpu_seconds();
    let start = Instant::now();
    let accept_time = post_many(
        load.http,
        servers.events_urls(),
        Some(servers.key.clone()),
        load.events,
        load.connections,
        "server.started",
        load.epoch,
    )
    .await;
    // Delivered by the time the last event was accepted: how delivery fares under the load.
    let delivered_while_accepting = receiver.receipts.lock().unwrap().seen.len() as f64;
    let expected = load.events as u64;
    if !wait_for(receiver, "/burst", expected, Duration::from_secs(120)).await {
        incomplete("burst", receiver, "/burst", expected);
    }
    let cpu = servers.cpu_seconds();
    let r = receiver.receipts.lock().unwrap();
    let unique = r.seen.len() as u64;
    // Milliseconds per delivered event: the servers', the database's.
    let per_event = |seconds: f64| seconds * 1000.0 / unique.max(1) as f64;
    let (servers_ms, database_ms) = (per_event(cpu.0 - cpu0.0), per_event(cpu.1 - cpu0.1));
    let (first, last) = (r.first.unwrap_or(start), r.last.unwrap_or(start));
    let burst = Burst {
        accepted: load.events as f64 / accept_time.as_secs_f64(),
        delivered: unique as f64 / last.duration_since(first).as_secs_f64().max(1e-9),
        end_to_end: unique as f64 / last.duration_since(start).as_secs_f64().max(1e-9),
        cpu_per_event: (servers_ms + database_ms, servers_ms, database_ms),
        duplicates: r.duplicates,
        bad_signatures: r.bad_signatures,
    };
    let after = last.duration_since(start).saturating_sub(accept_time);
    eprintln!(
        "{label}: accepted {:.0}/s, delivered {:.0}/s (while accepting {:.0}/s, after {:.0}/s), end to end {:.0}/s, CPU per event {:.3} ms (servers {servers_ms:.3}, database {database_ms:.3})",
        burst.accepted,
        burst.delivered,
        delivered_while_accepting / accept_time.as_secs_f64(),
        (unique as f64 - delivered_while_accepting) / after.as_secs_f64().max(1e-9),
        burst.end_to_end,
        burst.cpu_per_event.0,
    );
    burst
}
