//! The internet-like scenarios, on servers of their own with the defaults (only the bench CA
//! added with `--target-ca-file`): webhooks of as many accounts, one each, delivering over TLS
//! to endpoints [`far::LATENCY`] ± [`far::JITTER`] away — and the same with some endpoints dead.
//! The provider's platform key creates the accounts and emits for them in batches of 100, one
//! event per account per round, as a provider's systems would.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::far::Far;
use crate::receiver::SECRET;
use crate::servers::{self, Servers};

/// The event type every far webhook receives.
const EVENT_TYPE: &str = "server.started";
/// Events per batch request.
const BATCH: usize = 100;
/// Connections the emitting client uses.
const CONNECTIONS: usize = 16;
/// The servers' attempt timeout (their default).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one scenario sends.
pub struct Shape {
    /// Webhooks, one per account, each to its own endpoint.
    pub endpoints: usize,
    /// Events per account.
    pub events: usize,
    /// Endpoints that play dead.
    pub dead: usize,
    /// Events emitted per second, in evenly spaced batches; `None`: all at once.
    pub events_per_second: Option<f64>,
}

/// The figures of one scenario.
pub struct FarRun {
    /// Deliveries to live endpoints per second, from the first emission to the last receipt.
    pub per_second: f64,
    /// The most requests at the endpoints at once (attempts in flight).
    pub peak_in_flight: u64,
    /// CPU per live delivery (ms): servers and database together, servers, database.
    pub cpu_per_delivery: (f64, f64, f64),
    /// The servers' peak resident memory (MiB), and what it grew by per attempt in flight
    /// at the peak (KiB).
    pub peak_rss_mib: f64,
    /// See [`FarRun::peak_rss_mib`].
    pub rss_per_attempt_kib: f64,
    /// TLS handshakes per live delivery, and the share of them that resumed a session.
    pub handshakes_per_delivery: f64,
    /// See [`FarRun::handshakes_per_delivery`].
    pub resumed_share: f64,
    /// Send→receipt latencies at live endpoints (µs, sorted).
    pub latencies_us: Vec<u64>,
    /// Deliveries received twice, and with a bad signature.
    pub duplicates: u64,
    /// See [`FarRun::duplicates`].
    pub bad_signatures: u64,
    /// With dead endpoints: the most attempts held at once by any one of them after their
    /// circuits opened.
    pub dead_peak_after_open: Option<u64>,
}

/// Runs one scenario on a fresh server (on a fresh database of the cluster, on PostgreSQL).
pub async fn run(
    bin: &Path,
    http: &reqwest::Client,
    database_url: Option<&str>,
    shape: &Shape,
    epoch: Instant,
) -> FarRun {
    let label = if shape.dead > 0 {
        "dead endpoints"
    } else {
        "internet-like"
    };
    // Dead endpoints spread evenly over the accounts.
    let every = shape.endpoints / shape.dead.max(1);
    let far = Far::start(
        shape.endpoints,
        |i| shape.dead > 0 && i % every == 0 && i / every < shape.dead,
        epoch,
    )
    .await;
    const DATABASE: &str = "cdhooks_bench_far";
    let database = database_url.map(|url| servers::fresh_database(url, DATABASE));
    let ca = far.ca_file.path().to_string_lossy().into_owned();
    let server = Servers::start_with(
        bin,
        http,
        database.as_deref(),
        1,
        &["--target-ca-file".to_owned(), ca],
    )
    .await;
    let (platform_key, accounts) = open_accounts(&server, http, &far).await;
    eprintln!("{label}: {} accounts with a webhook each", accounts.len());

    let live = far.dead.iter().filter(|d| !**d).count() as u64;
    let expected = live * shape.events as u64;
    let rss_before = server.rss_mib();
    let (cpu_servers, cpu_database) = server.cpu_seconds();
    let start = Instant::now();
    emit(
        &server,
        http,
        &platform_key,
        &accounts,
        shape.events,
        shape.events_per_second,
        epoch,
    )
    .await;
    let deadline = start + Duration::from_secs(300);
    while far.received() < expected {
        if Instant::now() > deadline {
            eprintln!(
                "{label} did not complete: {} of {expected} deliveries arrived; no figures written",
                far.received()
            );
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (cpu_servers_after, cpu_database_after) = server.cpu_seconds();
    let (servers_cpu, database_cpu) = (
        cpu_servers_after - cpu_servers,
        cpu_database_after - cpu_database,
    );
    let per_delivery = |seconds: f64| seconds * 1000.0 / expected as f64;
    let last = far.stats.seen.lock().unwrap().last.unwrap_or(start);
    let per_second = expected as f64 / last.duration_since(start).as_secs_f64().max(1e-9);
    let peak_in_flight = far.stats.in_flight_peak.load(Ordering::Acquire);
    let handshakes = far.stats.handshakes.load(Ordering::Acquire);
    let resumed = far.stats.resumed.load(Ordering::Acquire);

    // Dead endpoints: once every attempt started before their circuits opened has timed out
    // (all started before the last live delivery), how many does each hold at once over the
    // next attempt timeout?
    let dead_peak_after_open = if shape.dead > 0 {
        tokio::time::sleep_until((last + ATTEMPT_TIMEOUT + Duration::from_secs(2)).into()).await;
        far.reset_dead_peaks();
        tokio::time::sleep(ATTEMPT_TIMEOUT + Duration::from_secs(1)).await;
        eprintln!(
            "{label}: {} attempts held at dead endpoints now",
            far.dead_in_flight()
        );
        Some(far.dead_peak())
    } else {
        None
    };
    let peak_rss_mib = server.peak_rss_mib();
    let (latencies_us, duplicates, bad_signatures) = {
        let seen = far.stats.seen.lock().unwrap();
        let mut latencies = seen.latencies_us.clone();
        latencies.sort_unstable();
        (latencies, seen.duplicates, seen.bad_signatures)
    };
    let run = FarRun {
        per_second,
        peak_in_flight,
        cpu_per_delivery: (
            per_delivery(servers_cpu + database_cpu),
            per_delivery(servers_cpu),
            per_delivery(database_cpu),
        ),
        peak_rss_mib,
        rss_per_attempt_kib: (peak_rss_mib - rss_before).max(0.0) * 1024.0
            / peak_in_flight.max(1) as f64,
        handshakes_per_delivery: handshakes as f64 / expected as f64,
        resumed_share: resumed as f64 / handshakes.max(1) as f64,
        latencies_us,
        duplicates,
        bad_signatures,
        dead_peak_after_open,
    };
    eprintln!(
        "{label}: {expected} deliveries, {:.0}/s, at most {peak_in_flight} in flight, {:.3} ms CPU each, peak RSS {peak_rss_mib:.1} MiB",
        run.per_second, run.cpu_per_delivery.0
    );
    drop(server);
    if let Some(url) = database_url {
        servers::drop_database(url, DATABASE);
    }
    run
}

/// POSTs `body` as JSON with `key`; returns the status and the answer's JSON.
async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = http
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("a request to the server");
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

/// Makes a platform key, then with it an account per endpoint, and the account's webhook to
/// the endpoint with the account's own key; returns the platform key and the accounts' ids,
/// endpoint by endpoint.
async fn open_accounts(
    server: &Servers,
    http: &reqwest::Client,
    far: &Far,
) -> (String, Vec<String>) {
    let platform_key = server.platform_key();
    let base = server.base().to_owned();
    let next = Arc::new(AtomicUsize::new(0));
    let urls = Arc::new(far.urls.clone());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (http, base, key, next, urls) = (
            http.clone(),
            base.clone(),
            platform_key.clone(),
            next.clone(),
            urls.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut opened = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= urls.len() {
                    return opened;
                }
                let (status, account) = post(
                    &http,
                    &format!("{base}/v1/accounts"),
                    &key,
                    json!({"email": format!("far{i}@example.com")}),
                )
                .await;
                assert_eq!(status, 201, "{account}");
                let id = account["account"]["id"].as_str().unwrap().to_owned();
                let account_key = account["api_key"]["key"].as_str().unwrap();
                let (status, webhook) = post(
                    &http,
                    &format!("{base}/v1/webhooks"),
                    account_key,
                    json!({"url": urls[i], "events": [EVENT_TYPE], "secret": SECRET}),
                )
                .await;
                assert_eq!(status, 201, "{webhook}");
                opened.push((i, id));
            }
        }));
    }
    let mut accounts = vec![String::new(); far.urls.len()];
    for task in tasks {
        for (i, id) in task.await.unwrap() {
            accounts[i] = id;
        }
    }
    (platform_key, accounts)
}

/// Emits `rounds` events for every account with the platform `key`, a round at a time, in
/// batches of [`BATCH`] from [`CONNECTIONS`] connections: as fast as they go, or `per_second`
/// events a second, the batches evenly spaced.
async fn emit(
    server: &Servers,
    http: &reqwest::Client,
    key: &str,
    accounts: &[String],
    rounds: usize,
    per_second: Option<f64>,
    epoch: Instant,
) {
    let start = Instant::now();
    let spacing = per_second.map(|rate| Duration::from_secs_f64(BATCH as f64 / rate));
    let key = key.to_owned();
    let accounts = Arc::new(accounts.to_vec());
    let events = accounts.len() * rounds;
    let batches = events.div_ceil(BATCH);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{}/v1/events/batch", server.base());
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (http, url, key, next, accounts) = (
            http.clone(),
            url.clone(),
            key.clone(),
            next.clone(),
            accounts.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= batches {
                    return;
                }
                if let Some(spacing) = spacing {
                    tokio::time::sleep_until((start + spacing * batch as u32).into()).await;
                }
                let sent_us = epoch.elapsed().as_micros() as u64;
                let items: Vec<serde_json::Value> = (batch * BATCH
                    ..((batch + 1) * BATCH).min(events))
                    .map(|n| {
                        json!({
                            "account": accounts[n % accounts.len()],
                            "type": EVENT_TYPE,
                            "data": crate::payload(EVENT_TYPE, n, sent_us),
                        })
                    })
                    .collect();
                let (status, answer) = post(&http, &url, &key, json!({ "events": items })).await;
                assert_eq!(status, 202, "{answer}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The two scenarios' rows of the results table: (measure, value, target).
pub fn rows(
    shape: &Shape,
    internet: &FarRun,
    dead: &FarRun,
    postgres: bool,
) -> Vec<(String, String, &'static str)> {
    let ms = |us: &[u64], p: f64| crate::percentile(us, p);
    let cpu = |run: &FarRun| {
        let (total, servers, database) = run.cpu_per_delivery;
        if postgres {
            format!("{total:.3} ({servers:.3} + {database:.3})")
        } else {
            format!("{total:.3}")
        }
    };
    let far = format!(
        "{} webhooks (one per account) over TLS, endpoints {} ± {} ms away, {} deliveries",
        shape.endpoints,
        crate::far::LATENCY.as_millis(),
        crate::far::JITTER.as_millis(),
        shape.endpoints * shape.events
    );
    vec![
        (
            format!("internet-like: {far}: deliveries/s, end to end"),
            format!("{:.0}", internet.per_second),
            "≥ 4,000",
        ),
        (
            "internet-like: most attempts in flight at once".into(),
            internet.peak_in_flight.to_string(),
            "",
        ),
        (
            if postgres {
                "internet-like: CPU per delivery, server + PostgreSQL (ms)".into()
            } else {
                "internet-like: server CPU per delivery (ms)".into()
            },
            cpu(internet),
            "≤ 0.3",
        ),
        (
            "internet-like: server peak RSS (MiB) / growth per attempt in flight (KiB)".into(),
            format!(
                "{:.1} / {:.1}",
                internet.peak_rss_mib, internet.rss_per_attempt_kib
            ),
            "",
        ),
        (
            "internet-like: TLS handshakes per delivery (share resumed)".into(),
            format!(
                "{:.3} ({:.0} %)",
                internet.handshakes_per_delivery,
                internet.resumed_share * 100.0
            ),
            "",
        ),
        (
            "internet-like: send→receipt p50 / p99 / max (ms)".into(),
            format!(
                "{:.1} / {:.1} / {:.1}",
                ms(&internet.latencies_us, 0.5),
                ms(&internet.latencies_us, 0.99),
                ms(&internet.latencies_us, 1.0)
            ),
            "",
        ),
        (
            format!(
                "dead endpoints: the same with {} of the {} endpoints dead (accept, never answer), emitted at {:.0} events/s: live endpoints' send→receipt p50 / p99 / max (ms)",
                shape.dead,
                shape.endpoints,
                shape.events_per_second.unwrap_or(f64::INFINITY)
            ),
            format!(
                "{:.1} / {:.1} / {:.1}",
                ms(&dead.latencies_us, 0.5),
                ms(&dead.latencies_us, 0.99),
                ms(&dead.latencies_us, 1.0)
            ),
            "p99 ≤ 500",
        ),
        (
            "dead endpoints: most attempts held at once by one dead endpoint after its circuit opened".into(),
            dead.dead_peak_after_open.unwrap_or(0).to_string(),
            "1",
        ),
        (
            "dead endpoints: live deliveries/s end to end / most in flight / CPU per live delivery (ms)".into(),
            format!(
                "{:.0} / {} / {}",
                dead.per_second,
                dead.peak_in_flight,
                cpu(dead)
            ),
            "",
        ),
    ]
}
