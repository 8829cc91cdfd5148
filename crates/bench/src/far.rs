//! The far endpoints of the internet-like scenarios: https endpoints on loopback, each on an
//! address of its own in 127.0.0.0/8 (so each is a host of its own to the server's connection
//! pool and TLS session cache) with a certificate for it from a CA made for the run
//! (`rcgen`; the server trusts it through `--target-ca-file`). A live endpoint checks both
//! signatures of every delivery and answers 200 after a latency with jitter; a dead one
//! accepts the connection and the request and never answers. Counts TLS handshakes (and how
//! many resumed a session), attempts in flight (all, and at each dead endpoint), duplicates,
//! and records send→receipt latencies.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cdhooks_core::legacy::LegacyVerifier;
use cdhooks_core::standard::StandardVerifier;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::AsyncReadExt;
use tokio_rustls::rustls;

use crate::receiver::{signed, SECRET};

/// How long a live endpoint takes to answer, around which it varies by up to [`JITTER`].
pub const LATENCY: Duration = Duration::from_millis(250);
/// See [`LATENCY`].
pub const JITTER: Duration = Duration::from_millis(50);

/// What the endpoints saw (deliveries to live endpoints).
#[derive(Default)]
pub struct Seen {
    /// (event id, endpoint) pairs received.
    pub pairs: HashSet<(String, usize)>,
    /// Deliveries of a pair already received.
    pub duplicates: u64,
    /// Deliveries whose signatures did not verify.
    pub bad_signatures: u64,
    /// The last receipt.
    pub last: Option<Instant>,
    /// Send→receipt latencies in microseconds, from `data.sent_us`.
    pub latencies_us: Vec<u64>,
}

/// Counters of the endpoints.
pub struct Stats {
    /// Deliveries to live endpoints.
    pub seen: Mutex<Seen>,
    /// TLS handshakes completed, at every endpoint.
    pub handshakes: AtomicU64,
    /// Of those, the ones that resumed an earlier session.
    pub resumed: AtomicU64,
    /// Requests being handled now (at dead endpoints: held), and the most at once.
    pub in_flight: AtomicU64,
    /// See [`Stats::in_flight`].
    pub in_flight_peak: AtomicU64,
    /// Requests held now at each dead endpoint (0 for live ones), and the most at once since
    /// [`Far::reset_dead_peaks`].
    pub dead_in_flight: Vec<AtomicU64>,
    /// See [`Stats::dead_in_flight`].
    pub dead_peak: Vec<AtomicU64>,
}

/// The running endpoints.
pub struct Far {
    /// Endpoint `i`'s URL.
    pub urls: Vec<String>,
    /// Whether endpoint `i` is dead.
    pub dead: Vec<bool>,
    /// The CA's certificate (PEM), for `--target-ca-file`.
    pub ca_file: tempfile::NamedTempFile,
    /// What they saw.
    pub stats: Arc<Stats>,
}

/// Counts one request in flight (now, and the most at once) while it lives.
struct Held<'a> {
    now: &'a AtomicU64,
}

impl<'a> Held<'a> {
    fn new(now: &'a AtomicU64, peak: &'a AtomicU64) -> Self {
        let n = now.fetch_add(1, Ordering::AcqRel) + 1;
        peak.fetch_max(n, Ordering::AcqRel);
        Held { now }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A CA made for the run: its certificate (PEM, for `--target-ca-file`) and what signs the
/// endpoints' certificates.
fn bench_ca() -> (String, Issuer<'static, KeyPair>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "cdhooks bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    (ca_pem, Issuer::new(ca, ca_key))
}

/// The loopback address of endpoint `i`: a host of its own, as customers' endpoints are to
/// the server (its connection pool and its TLS session cache go by host).
fn endpoint_ip(i: usize) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 1, (i / 200) as u8, (1 + i % 200) as u8)
}

/// The TLS configuration of an endpoint at `ip`: a certificate for it from `ca`, and a session
/// cache of its own, as a server of its own would have.
fn endpoint_tls(ca: &Issuer<'static, KeyPair>, ip: std::net::Ipv4Addr) -> rustls::ServerConfig {
    let leaf = CertificateParams::new(vec![ip.to_string()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&leaf_key, ca).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(256);
    config
}

impl Far {
    /// Starts `count` endpoints; those with `is_dead(i)` play dead.
    pub async fn start(count: usize, is_dead: impl Fn(usize) -> bool, epoch: Instant) -> Far {
        assert!(
            count <= 200 * 256,
            "one loopback address each: at most 51,200 endpoints"
        );
        let (ca_pem, ca) = bench_ca();
        let dead: Vec<bool> = (0..count).map(is_dead).collect();
        let stats = Arc::new(Stats {
            seen: Mutex::default(),
            handshakes: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            in_flight_peak: AtomicU64::new(0),
            dead_in_flight: (0..count).map(|_| AtomicU64::new(0)).collect(),
            dead_peak: (0..count).map(|_| AtomicU64::new(0)).collect(),
        });
        let verifiers = Arc::new((
            LegacyVerifier::new(SECRET.as_bytes()),
            StandardVerifier::new(SECRET).expect("a valid secret"),
        ));
        let requests = Arc::new(AtomicU64::new(0));
        let mut urls = Vec::with_capacity(count);
        for (endpoint, &dead) in dead.iter().enumerate() {
            let ip = endpoint_ip(endpoint);
            let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(endpoint_tls(&ca, ip)));
            let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
            urls.push(format!(
                "https://{ip}:{}/hook",
                listener.local_addr().unwrap().port()
            ));
            let (acceptor, stats, verifiers, requests) = (
                acceptor.clone(),
                stats.clone(),
                verifiers.clone(),
                requests.clone(),
            );
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let _ = tcp.set_nodelay(true);
                    let (acceptor, stats, verifiers, requests) = (
                        acceptor.clone(),
                        stats.clone(),
                        verifiers.clone(),
                        requests.clone(),
                    );
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        stats.handshakes.fetch_add(1, Ordering::Relaxed);
                        if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
                        {
                            stats.resumed.fetch_add(1, Ordering::Relaxed);
                        }
                        if dead {
                            play_dead(tls, &stats, endpoint).await;
                        } else {
                            answer(tls, stats, verifiers, requests, endpoint, epoch).await;
                        }
                    });
                }
            });
        }
        let mut ca_file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut ca_file, ca_pem.as_bytes()).unwrap();
        Far {
            urls,
            dead,
            ca_file,
            stats,
        }
    }

    /// Distinct deliveries received by live endpoints.
    pub fn received(&self) -> u64 {
        self.stats.seen.lock().unwrap().pairs.len() as u64
    }

    /// Starts counting the most requests held at once at each dead endpoint afresh.
    pub fn reset_dead_peaks(&self) {
        for (now, peak) in self.stats.dead_in_flight.iter().zip(&self.stats.dead_peak) {
            peak.store(now.load(Ordering::Acquire), Ordering::Release);
        }
    }

    /// The most requests held at once at any one dead endpoint since the last reset.
    pub fn dead_peak(&self) -> u64 {
        self.stats
            .dead_peak
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .max()
            .unwrap_or(0)
    }

    /// Requests held at dead endpoints now, all together.
    pub fn dead_in_flight(&self) -> u64 {
        self.stats
            .dead_in_flight
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .sum()
    }
}

/// A live endpoint's connection: each request is checked, recorded and answered 200 after
/// [`LATENCY`] ± [`JITTER`].
async fn answer(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    stats: Arc<Stats>,
    verifiers: Arc<(LegacyVerifier, StandardVerifier)>,
    requests: Arc<AtomicU64>,
    endpoint: usize,
    epoch: Instant,
) {
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let (stats, verifiers, requests) = (stats.clone(), verifiers.clone(), requests.clone());
            async move {
                let received = Instant::now();
                let _held = Held::new(&stats.in_flight, &stats.in_flight_peak);
                let (parts, body) = request.into_parts();
                let body: Bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let good = signed(&verifiers.0, &verifiers.1, &parts.headers, &body);
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                {
                    let mut seen = stats.seen.lock().unwrap();
                    seen.bad_signatures += u64::from(!good);
                    let id = event["id"].as_str().unwrap_or_default().to_owned();
                    if !seen.pairs.insert((id, endpoint)) {
                        seen.duplicates += 1;
                    }
                    seen.last = Some(received);
                    if let Some(sent) = event["data"]["sent_us"].as_u64() {
                        let at = received.duration_since(epoch).as_micros() as u64;
                        seen.latencies_us.push(at.saturating_sub(sent));
                    }
                }
                // Spread evenly over LATENCY ± JITTER, the same for every run.
                let n = requests.fetch_add(1, Ordering::Relaxed);
                let spread = JITTER.as_millis() as u64 * 2 + 1;
                let offset = (n.wrapping_mul(2_654_435_761) >> 7) % spread;
                let wait = LATENCY - JITTER + Duration::from_millis(offset);
                tokio::time::sleep(wait).await;
                Ok::<_, std::convert::Infallible>(hyper::Response::new(String::from("ok")))
            }
        });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// A dead endpoint's connection: reads the request and never answers, until the client gives
/// up and closes it. Each connection carries one request at a time (HTTP/1.1), so the
/// connections that sent one are the attempts held.
async fn play_dead(
    mut tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    stats: &Stats,
    endpoint: usize,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut held = None;
    while let Ok(n) = tls.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        held.get_or_insert_with(|| {
            (
                Held::new(&stats.in_flight, &stats.in_flight_peak),
                Held::new(&stats.dead_in_flight[endpoint], &stats.dead_peak[endpoint]),
            )
        });
    }
}
