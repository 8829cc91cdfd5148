//! `make bench`: the delivery benchmark of the cdhooks reference server.
//!
//! Starts the release server on a fresh data dir, a receiver that checks both signatures of
//! every delivery and answers 200 (at once, or after 2 s on the noisy neighbour's endpoint),
//! and a keep-alive load client (all on loopback), then measures: a burst, paced latency,
//! fan-out, a noisy neighbour (one tenant's slow endpoint with a large backlog beside another
//! tenant's paced traffic), the server's CPU and memory, and the ceiling of this client and
//! receiver without the server in between. Lost, duplicate and badly signed deliveries are
//! counted in every scenario; a scenario that does not complete fails the run instead of
//! printing figures. Prints a Markdown table and writes it with the machine's description.

mod burst;
mod far;
mod internet;
mod receiver;
mod servers;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use receiver::Receiver;
use serde_json::json;
use servers::Servers;

/// Benchmark options.
#[derive(Parser)]
struct Args {
    /// The server binary (release build).
    #[arg(long, default_value = "target/release/cdhooks-server")]
    server: PathBuf,
    /// Runs of the burst and fan-out scenarios (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Events in a burst.
    #[arg(long, default_value_t = 20_000)]
    burst: usize,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Events of the paced scenario.
    #[arg(long, default_value_t = 4_000)]
    paced: usize,
    /// Rate of the paced scenario, events per second.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Webhooks of the fan-out scenario.
    #[arg(long, default_value_t = 50)]
    fanout_webhooks: usize,
    /// Events of the fan-out scenario.
    #[arg(long, default_value_t = 2_000)]
    fanout_events: usize,
    /// Runs of the fan-out scenario (it has no target; one run keeps `make bench` short).
    #[arg(long, default_value_t = 1)]
    fanout_runs: usize,
    /// The noisy neighbour's backlog: events to its slow (2 s) endpoint.
    #[arg(long, default_value_t = 5_000)]
    noisy_backlog: usize,
    /// Events of the other tenant, paced at `noisy_rate` beside the backlog.
    #[arg(long, default_value_t = 2_000)]
    noisy_paced: usize,
    /// Rate of the other tenant's events, per second.
    #[arg(long, default_value_t = 100)]
    noisy_rate: u64,
    /// Run the servers on this PostgreSQL database instead of the embedded store.
    #[arg(long)]
    database_url: Option<String>,
    /// Server processes (more than one needs `--database-url`).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Webhooks (one per account, each to its own https endpoint) of the internet-like
    /// scenarios.
    #[arg(long, default_value_t = 1_000)]
    far_endpoints: usize,
    /// Events per account of the internet-like scenarios.
    #[arg(long, default_value_t = 20)]
    far_events: usize,
    /// Endpoints that play dead in the dead-endpoints scenario.
    #[arg(long, default_value_t = 50)]
    far_dead: usize,
    /// Events emitted per second in the dead-endpoint scenario (in batches of 100, evenly
    /// spaced).
    #[arg(long, default_value_t = 1_000.0)]
    far_dead_rate: f64,
    /// Run only the internet-like and dead-endpoint scenarios.
    #[arg(long)]
    only_far: bool,
    /// Where the results go (Markdown).
    #[arg(long, default_value = "bench/RESULTS.md")]
    out: PathBuf,
    /// Also run each burst on this many instances (on a fresh database of the same cluster),
    /// in turn with the servers under test, and report the burst as a share of theirs: the
    /// target for several instances is measured against one under the same load of the
    /// machine, not against a run minutes earlier.
    #[arg(long, requires = "database_url")]
    compare_instances: Option<usize>,
}

/// The row of the end-to-end burst, in every results file.
const END_TO_END: &str = "burst: events accepted and delivered/s, end to end";

/// Posts `count` requests from `connections` tasks; returns the wall time until all answered.
pub(crate) async fn post_many(
    http: &reqwest::Client,
    urls: Vec<String>,
    key: Option<String>,
    count: usize,
    connections: usize,
    event_type: &'static str,
    epoch: Instant,
) -> Duration {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (http, urls, key, next) = (http.clone(), urls.clone(), key.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let url = &urls[i % urls.len()];
                let sent_us = epoch.elapsed().as_micros() as u64;
                let body = json!({"type": event_type, "data": payload(event_type, i, sent_us)});
                let mut request = http
                    .post(url)
                    .header("content-type", "application/json")
                    .body(body.to_string());
                if let Some(key) = &key {
                    request = request.bearer_auth(key);
                }
                let response = request.send().await.expect("request");
                assert!(response.status().is_success(), "{}", response.status());
                let _ = response.bytes().await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

/// Waits until `count` distinct deliveries arrived under the path `prefix`.
pub(crate) async fn wait_for(
    receiver: &Receiver,
    prefix: &str,
    count: u64,
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while receiver.receipts.lock().unwrap().unique_under(prefix) < count {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

/// Ends the run: a scenario that did not complete prints no figures.
pub(crate) fn incomplete(scenario: &str, receiver: &Receiver, prefix: &str, expected: u64) -> ! {
    let got = receiver.receipts.lock().unwrap().unique_under(prefix);
    eprintln!(
        "{scenario} did not complete: {got} of {expected} deliveries arrived; no figures written"
    );
    std::process::exit(1);
}

/// Posts `count` events of `event_type` at `rate` per second, each from its own task.
#[allow(clippy::too_many_arguments)]
async fn paced(
    http: &reqwest::Client,
    urls: &[String],
    key: &str,
    count: usize,
    rate: u64,
    event_type: &'static str,
    epoch: Instant,
) {
    let interval = Duration::from_micros(1_000_000 / rate.max(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        ticker.tick().await;
        let (http, url, key) = (http.clone(), urls[i % urls.len()].clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let sent_us = epoch.elapsed().as_micros() as u64;
            let body = json!({"type": event_type, "data": payload(event_type, i, sent_us)});
            let response = http
                .post(&url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("request");
            assert!(response.status().is_success(), "{}", response.status());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The sorted send→receipt latencies seen so far.
fn latencies(receiver: &Receiver) -> Vec<u64> {
    let mut latencies = receiver.receipts.lock().unwrap().latencies_us.clone();
    latencies.sort_unstable();
    latencies
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn shell(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// The deployment the bursts are compared with (`--compare-instances`): that many servers on
/// a database of their own in the same cluster, started with the ones under test and given
/// the same bursts in turn with them, so that each side has the same history when a burst
/// runs (a deployment started just before its burst was measured 5–25 % slower: plans made
/// on empty tables, cold connections).
struct Comparison {
    /// Its servers.
    servers: Servers,
    /// The cluster's URL (the database under test).
    url: String,
}

impl Comparison {
    /// Its own database's name.
    const DATABASE: &'static str = "cdhooks_bench_compare";

    /// Starts it, if asked for, with its webhook for the bursts.
    async fn start(args: &Args, load: &burst::Load<'_>, receiver: &Receiver) -> Option<Self> {
        let (Some(url), Some(instances)) = (args.database_url.as_deref(), args.compare_instances)
        else {
            return None;
        };
        let compare_url = servers::fresh_database(url, Self::DATABASE);
        let servers = Servers::start(&args.server, load.http, Some(&compare_url), instances).await;
        burst::prepare(&servers, load, receiver).await;
        Some(Comparison {
            servers,
            url: url.to_owned(),
        })
    }

    /// One burst on it.
    async fn burst(&self, load: &burst::Load<'_>, receiver: &Receiver, run: usize) -> burst::Burst {
        let label = format!("burst run {}, {} in turn", run + 1, self.servers.describe());
        burst::run(&self.servers, load, receiver, &label).await
    }

    /// Stops its servers and removes its database.
    fn remove(self) {
        drop(self.servers);
        servers::drop_database(&self.url, Self::DATABASE);
    }
}

/// Runs the internet-like and dead-endpoint scenarios; returns their rows and their
/// duplicates and bad signatures.
async fn far_scenarios(
    args: &Args,
    http: &reqwest::Client,
    epoch: Instant,
) -> (Vec<(String, String, &'static str)>, u64, u64) {
    let shape = |dead, events_per_second| internet::Shape {
        endpoints: args.far_endpoints,
        events: args.far_events,
        dead,
        events_per_second,
    };
    // The dead endpoints' scenario emits at a steady rate within what the server delivers, so
    // that a live endpoint's wait is what the dead ones cost it, not a backlog.
    let dead_shape = shape(args.far_dead, Some(args.far_dead_rate));
    let url = args.database_url.as_deref();
    let internet = internet::run(&args.server, http, url, &shape(0, None), epoch).await;
    let dead = internet::run(&args.server, http, url, &dead_shape, epoch).await;
    let rows = internet::rows(&dead_shape, &internet, &dead, url.is_some());
    (
        rows,
        internet.duplicates + dead.duplicates,
        internet.bad_signatures + dead.bad_signatures,
    )
}

/// Raises this process's open-file limit to its hard limit: the far endpoints hold a listener
/// each and thousands of connections.
fn raise_open_file_limit() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.far_dead > args.far_endpoints {
        use clap::CommandFactory;
        Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "--far-dead {} is more than --far-endpoints {}: the dead endpoints are among them",
                    args.far_dead, args.far_endpoints
                ),
            )
            .exit();
    }
    let epoch = Instant::now();
    raise_open_file_limit();
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(args.connections)
        .build()
        .unwrap();
    if args.only_far {
        let (rows, duplicates, bad_signatures) = far_scenarios(&args, &http, epoch).await;
        let mut table = String::from("| measure | value | target |\n|---|---|---|\n");
        for (name, value, target) in &rows {
            table.push_str(&format!("| {name} | {value} | {target} |\n"));
        }
        table.push_str(&format!(
            "| lost / duplicates / bad signatures | 0 / {duplicates} / {bad_signatures} | 0 / 0 / 0 |\n"
        ));
        println!("\n{table}");
        return;
    }
    let receiver = Receiver::start(epoch).await;
    let server = Servers::start(
        &args.server,
        &http,
        args.database_url.as_deref(),
        args.instances,
    )
    .await;
    let events_url = server.events_urls();
    let key = Some(server.key.clone());
    let mut rows: Vec<(String, String, &str)> = Vec::new();

    // Ceiling: the same client straight to the same receiver.
    let ceiling_time = post_many(
        &http,
        vec![format!("http://{}/ceiling", receiver.addr)],
        None,
        args.burst,
        args.connections,
        "server.started",
        epoch,
    )
    .await;
    let ceiling = args.burst as f64 / ceiling_time.as_secs_f64();
    receiver.reset();
    eprintln!("ceiling: {ceiling:.0} requests/s");

    // Burst, and the comparison's bursts in turn with it (first in every other run, so that
    // neither always follows the other).
    let load = burst::Load {
        http: &http,
        events: args.burst,
        connections: args.connections,
        epoch,
    };
    burst::prepare(&server, &load, &receiver).await;
    let comparison = Comparison::start(&args, &load, &receiver).await;
    let (mut bursts, mut compared) = (Vec::new(), Vec::new());
    for run in 0..args.runs {
        let compare_first = run % 2 == 0;
        if let Some(comparison) = comparison.as_ref().filter(|_| compare_first) {
            compared.push(comparison.burst(&load, &receiver, run).await);
        }
        let label = format!("burst run {}", run + 1);
        bursts.push(burst::run(&server, &load, &receiver, &label).await);
        if let Some(comparison) = comparison.as_ref().filter(|_| !compare_first) {
            compared.push(comparison.burst(&load, &receiver, run).await);
        }
    }
    // Read with the comparison gone: its processes are PostgreSQL's too.
    if let Some(comparison) = comparison {
        comparison.remove();
    }
    server.read_postgres_memory();
    let accepted: Vec<f64> = bursts.iter().map(|b| b.accepted).collect();
    let delivered: Vec<f64> = bursts.iter().map(|b| b.delivered).collect();
    let end_to_end: Vec<f64> = bursts.iter().map(|b| b.end_to_end).collect();
    let mut cpu_per_event: Vec<(f64, f64, f64)> = bursts.iter().map(|b| b.cpu_per_event).collect();
    let mut duplicates: u64 = bursts.iter().chain(&compared).map(|b| b.duplicates).sum();
    let mut bad_signatures: u64 = bursts
        .iter()
        .chain(&compared)
        .map(|b| b.bad_signatures)
        .sum();
    let one =
        (!compared.is_empty()).then(|| median(compared.iter().map(|b| b.end_to_end).collect()));

    // Paced latency.
    receiver.reset();
    server
        .webhook(
            &http,
            format!("http://{}/paced", receiver.addr),
            "server.stopped",
        )
        .await;
    paced(
        &http,
        &events_url,
        &server.key,
        args.paced,
        args.rate,
        "server.stopped",
        epoch,
    )
    .await;
    if !wait_for(
        &receiver,
        "/paced",
        args.paced as u64,
        Duration::from_secs(30),
    )
    .await
    {
        incomplete("paced", &receiver, "/paced", args.paced as u64);
    }
    let latencies_paced = latencies(&receiver);
    {
        let r = receiver.receipts.lock().unwrap();
        duplicates += r.duplicates;
        bad_signatures += r.bad_signatures;
    }
    eprintln!(
        "paced: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies_paced, 0.5),
        percentile(&latencies_paced, 0.99)
    );

    server.read_postgres_memory();

    // Fan-out.
    for i in 0..args.fanout_webhooks {
        server
            .webhook(
                &http,
                format!("http://{}/fan/{i}", receiver.addr),
                "billing.payment.succeeded",
            )
            .await;
    }
    let mut fanout = vec![];
    let expected = (args.fanout_events * args.fanout_webhooks) as u64;
    for run in 0..args.fanout_runs.max(1) {
        receiver.reset();
        let start = Instant::now();
        post_many(
            &http,
            events_url.clone(),
            key.clone(),
            args.fanout_events,
            args.connections,
            "billing.payment.succeeded",
            epoch,
        )
        .await;
        if !wait_for(&receiver, "/fan/", expected, Duration::from_secs(180)).await {
            incomplete("fan-out", &receiver, "/fan/", expected);
        }
        let r = receiver.receipts.lock().unwrap();
        duplicates += r.duplicates;
        bad_signatures += r.bad_signatures;
        let last = r.last.unwrap_or(start);
        fanout.push(r.seen.len() as f64 / last.duration_since(start).as_secs_f64().max(1e-9));
        eprintln!("fan-out run {}: {:.0} deliveries/s", run + 1, fanout[run]);
        server.read_postgres_memory();
    }

    // Noisy neighbour: one tenant's endpoint answers in 2 s and has a large backlog; another
    // tenant's events, paced, must not wait for it.
    receiver.reset();
    server
        .webhook(
            &http,
            format!("http://{}/slow/backlog", receiver.addr),
            "server.created",
        )
        .await;
    let neighbour_key = server.create_account("neighbour@example.com");
    server
        .webhook_of(
            &http,
            &neighbour_key,
            format!("http://{}/neighbour", receiver.addr),
            "server.rebooted",
        )
        .await;
    post_many(
        &http,
        events_url.clone(),
        key.clone(),
        args.noisy_backlog,
        args.connections,
        "server.created",
        epoch,
    )
    .await;
    receiver.receipts.lock().unwrap().latencies_us.clear();
    paced(
        &http,
        &events_url,
        &neighbour_key,
        args.noisy_paced,
        args.noisy_rate,
        "server.rebooted",
        epoch,
    )
    .await;
    let expected = args.noisy_paced as u64;
    if !wait_for(&receiver, "/neighbour", expected, Duration::from_secs(30)).await {
        incomplete("noisy neighbour", &receiver, "/neighbour", expected);
    }
    server.read_postgres_memory();
    let latencies_neighbour = latencies(&receiver);
    let (slow_received, slow_duplicates, slow_peak) = {
        let r = receiver.receipts.lock().unwrap();
        duplicates += r.duplicates;
        bad_signatures += r.bad_signatures;
        (r.unique_under("/slow/"), r.duplicates, r.slow_peak)
    };
    eprintln!(
        "noisy neighbour: p50 {:.2} ms, p99 {:.2} ms; slow endpoint: {slow_received} received, {slow_duplicates} duplicates, at most {slow_peak} at once",
        percentile(&latencies_neighbour, 0.5),
        percentile(&latencies_neighbour, 0.99)
    );

    let postgres = args.database_url.is_some();
    let burst_accepted = median(accepted);
    let burst_e2e = median(end_to_end);
    rows.push((
        "burst: events accepted/s (64 connections)".into(),
        format!(
            "{burst_accepted:.0} ({:.0}% of ceiling)",
            100.0 * burst_accepted / ceiling
        ),
        "",
    ));
    rows.push((
        "burst: events delivered/s, first to last receipt".into(),
        format!("{:.0}", median(delivered)),
        "",
    ));
    rows.push((
        END_TO_END.into(),
        match (one, args.compare_instances) {
            (Some(one), Some(n)) => format!(
                "{burst_e2e:.0} ({:.0} % of {n} instance{s} run in turn: {one:.0}; {:.0}% of ceiling)",
                100.0 * burst_e2e / one,
                100.0 * burst_e2e / ceiling,
                s = if n == 1 { "" } else { "s" },
            ),
            _ => format!(
                "{burst_e2e:.0} ({:.0}% of ceiling)",
                100.0 * burst_e2e / ceiling
            ),
        },
        match one {
            Some(_) => "≥ 80 % of one instance",
            None if postgres => "≥ 3,000",
            None => "≥ 5,000",
        },
    ));
    rows.push((
        "lost / duplicates / bad signatures (all scenarios)".into(),
        format!("0 / {duplicates} / {bad_signatures}"),
        "0 / 0 / 0",
    ));
    rows.push((
        "paced 200/s: send→receipt p50 / p90 / p99 / max (ms)".into(),
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2}",
            percentile(&latencies_paced, 0.5),
            percentile(&latencies_paced, 0.9),
            percentile(&latencies_paced, 0.99),
            percentile(&latencies_paced, 1.0)
        ),
        if postgres {
            "p99 ≤ 10"
        } else {
            "p50 ≤ 1.5, p99 ≤ 5"
        },
    ));
    rows.push((
        format!(
            "fan-out: {} webhooks × {} events, deliveries/s",
            args.fanout_webhooks, args.fanout_events
        ),
        format!("{:.0}", median(fanout)),
        "",
    ));
    rows.push((
        format!(
            "noisy neighbour: other tenant at {}/s beside a 2 s endpoint's {}-event backlog, send→receipt p50 / p99 / max (ms)",
            args.noisy_rate, args.noisy_backlog
        ),
        format!(
            "{:.2} / {:.2} / {:.2}",
            percentile(&latencies_neighbour, 0.5),
            percentile(&latencies_neighbour, 0.99),
            percentile(&latencies_neighbour, 1.0)
        ),
        "p99 ≤ 50",
    ));
    rows.push((
        "noisy neighbour: slow endpoint's deliveries / duplicates / most at once".into(),
        format!("{slow_received} / {slow_duplicates} / {slow_peak}"),
        "0 duplicates, ≤ 16 at once",
    ));
    rows.push((
        if args.database_url.is_some() {
            "CPU per delivered event, servers + PostgreSQL (burst, ms; in brackets: servers + PostgreSQL)".into()
        } else {
            "server CPU per delivered event (burst, ms)".into()
        },
        {
            // The run with the median total, and its parts.
            cpu_per_event.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (total, servers, database) = cpu_per_event[cpu_per_event.len() / 2];
            if postgres {
                format!("{total:.3} ({servers:.3} + {database:.3})")
            } else {
                format!("{total:.3}")
            }
        },
        if postgres { "" } else { "≤ 0.3" },
    ));
    if let Some(pss) = server.postgres_peak_mib() {
        rows.push((
            "PostgreSQL memory, highest after each scenario (PSS of its processes, MiB)".into(),
            format!("{pss:.1}"),
            "",
        ));
    }
    rows.push((
        if args.instances > 1 {
            "servers' peak RSS, added up (MiB)".into()
        } else {
            "server peak RSS (MiB)".into()
        },
        format!("{:.1}", server.peak_rss_mib()),
        // No target: the old ≤ 40 MiB was set for a fixed room of 64 attempts; the room grows
        // now, and the internet-like row reports memory per attempt in flight instead.
        "",
    ));
    rows.push((
        "database size after the run (MiB)".into(),
        format!("{:.1}", server.db_mib()),
        "",
    ));
    rows.push((
        "ceiling: client → receiver directly, requests/s".into(),
        format!("{ceiling:.0}"),
        "",
    ));

    // The far scenarios run on servers of their own, with this one gone.
    let servers_run = server.describe();
    drop(server);
    let (far_rows, far_duplicates, far_bad) = far_scenarios(&args, &http, epoch).await;
    if let Some(row) = rows
        .iter_mut()
        .find(|r| r.0.starts_with("lost / duplicates"))
    {
        row.1 = format!(
            "0 / {} / {}",
            duplicates + far_duplicates,
            bad_signatures + far_bad
        );
    }
    rows.extend(far_rows);

    let mut table = String::from("| measure | value | target |\n|---|---|---|\n");
    for (name, value, target) in &rows {
        table.push_str(&format!("| {name} | {value} | {target} |\n"));
    }
    let machine = format!(
        "{} cores, {}",
        shell("nproc"),
        shell("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")
    );
    let report = format!(
        "# Delivery benchmark\n\n\
         `make bench` on {date}, commit `{commit}`, {machine}; {servers}. Median of {runs} runs for the burst, {fanout_runs} for fan-out; \
         server(s), {store}, receiver and load client all on this machine, over loopback.\n\n\
         {table}\n\
         Burst: {burst} `POST /v1/events` from {conns} keep-alive connections, one webhook. Paced: {paced} events at {rate}/s. \
         Noisy neighbour: {noisy_backlog} events to a webhook whose endpoint answers in 2 s (16 at a time at most), then {noisy_paced} events of another \
         account at {noisy_rate}/s; the run ends when the latter have arrived (the backlog is still draining). Every delivery's two signatures are checked \
         by the receiver with `cdhooks-core`; a scenario that does not deliver everything fails the run. \
         CPU and RSS are from `/proc`: the server processes' own{cpu_note}.\n\n\
         Internet-like and dead endpoints: servers of their own with the defaults (the run's CA added with `--target-ca-file`); {far} https \
         endpoints on loopback, each on its own port, answering 200 after 250 ± 50 ms (dead ones accept the request and never answer); an \
         account and a webhook per endpoint, made with a platform key, which emits {far_events} events per account in batches of 100 — at once, \
         and at {dead_rate} events/s with {dead} endpoints dead. \"Growth per attempt in flight\" is the server's peak RSS less its RSS before \
         the emission, over the most requests the endpoints held at once.\n",
        far = args.far_endpoints,
        far_events = args.far_events,
        dead = args.far_dead,
        dead_rate = args.far_dead_rate,
        servers = servers_run,
        store = if postgres {
            "PostgreSQL (its defaults: `synchronous_commit` on, so every 202 is durable; requests go round-robin over the instances)"
        } else {
            "SQLite (WAL, every event committed before its 202)"
        },
        cpu_note = if postgres {
            ", plus PostgreSQL's processes for CPU"
        } else {
            "; the embedded store runs inside the server"
        },
        date = shell("date -u +%Y-%m-%dT%H:%MZ"),
        commit = shell("git rev-parse --short HEAD"),
        runs = args.runs,
        fanout_runs = args.fanout_runs.max(1),
        burst = args.burst,
        conns = args.connections,
        paced = args.paced,
        rate = args.rate,
        noisy_backlog = args.noisy_backlog,
        noisy_paced = args.noisy_paced,
        noisy_rate = args.noisy_rate,
    );
    println!("\n{table}");
    if let Some(dir) = args.out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&args.out, report).unwrap();
    eprintln!("wrote {}", args.out.display());
}

/// `data` the server's seeded schema of `event_type` accepts: the type's example (every field
/// it requires), with the event's number and when it was sent (µs since the run began).
fn payload(event_type: &str, n: usize, sent_us: u64) -> serde_json::Value {
    let example = cdhooks_core::catalog::lookup(event_type).map_or("{}", |info| info.example_data);
    let mut data: serde_json::Value = serde_json::from_str(example).unwrap_or_else(|_| json!({}));
    if let Some(fields) = data.as_object_mut() {
        fields.insert("n".to_owned(), json!(n));
        fields.insert("sent_us".to_owned(), json!(sent_us));
    }
    data
}
