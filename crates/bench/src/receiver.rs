//! The benchmark's receiver: checks both signatures of every delivery (with `cdhooks-core`,
//! as a customer would), records when each event arrived, and answers 200 — at once, or
//! after [`SLOW`] under `/slow/` (the noisy neighbour's endpoint).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use cdhooks_core::legacy::LegacyVerifier;
use cdhooks_core::standard::StandardVerifier;
use warp::http::HeaderMap;
use warp::Filter;

/// The secret of every webhook the benchmark registers.
pub const SECRET: &str = "your_webhook_secret";
/// How long the slow endpoint takes to answer.
pub const SLOW: Duration = Duration::from_secs(2);

/// What the receiver saw.
#[derive(Default)]
pub struct Receipts {
    /// Deliveries received.
    pub count: u64,
    /// (event id, webhook path) pairs seen, to count duplicates.
    pub seen: HashSet<(String, String)>,
    /// Deliveries of a pair already seen.
    pub duplicates: u64,
    /// Deliveries whose `X-Webhook-Signature` or `webhook-signature` did not verify.
    pub bad_signatures: u64,
    /// First and last receipt.
    pub first: Option<Instant>,
    /// Last receipt.
    pub last: Option<Instant>,
    /// Send→receipt latencies in microseconds, from `data.sent_us` (not of the slow endpoint).
    pub latencies_us: Vec<u64>,
    /// Requests being handled at the slow endpoint now, and the most at once.
    pub slow_now: u64,
    /// The most requests the slow endpoint handled at once.
    pub slow_peak: u64,
}

impl Receipts {
    /// Distinct deliveries whose webhook path starts with `prefix`.
    pub fn unique_under(&self, prefix: &str) -> u64 {
        self.seen
            .iter()
            .filter(|(_, p)| p.starts_with(prefix))
            .count() as u64
    }
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub receipts: Arc<Mutex<Receipts>>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Whether both signatures of a delivery verify.
pub(crate) fn signed(
    legacy: &LegacyVerifier,
    standard: &StandardVerifier,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    legacy
        .verify(body, header(headers, "x-webhook-signature").as_bytes())
        .is_ok()
        && standard
            .verify(
                header(headers, "webhook-id"),
                header(headers, "webhook-timestamp"),
                header(headers, "webhook-signature"),
                body,
                now,
                300,
            )
            .is_ok()
}

impl Receiver {
    /// Starts on a free loopback port; `epoch` is the clock `sent_us` counts from.
    pub async fn start(epoch: Instant) -> Receiver {
        let receipts = Arc::new(Mutex::new(Receipts::default()));
        let legacy = Arc::new(LegacyVerifier::new(SECRET.as_bytes()));
        let standard = Arc::new(StandardVerifier::new(SECRET).expect("a valid secret"));
        let r = receipts.clone();
        let route = warp::post()
            .and(warp::path::full())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |path: warp::path::FullPath, headers: HeaderMap, body: Bytes| {
                    let (r, legacy, standard) = (r.clone(), legacy.clone(), standard.clone());
                    async move {
                        let now = Instant::now();
                        let good = path.as_str() == "/ceiling"
                            || signed(&legacy, &standard, &headers, &body);
                        let event: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or_default();
                        let id = event["id"].as_str().unwrap_or_default().to_owned();
                        let slow = path.as_str().starts_with("/slow/");
                        {
                            let mut r = r.lock().unwrap();
                            r.count += 1;
                            r.bad_signatures += u64::from(!good);
                            if !r.seen.insert((id, path.as_str().to_owned())) {
                                r.duplicates += 1;
                            }
                            r.first.get_or_insert(now);
                            r.last = Some(now);
                            // The slow endpoint's latency is its backlog's, not the server's.
                            if let (false, Some(sent)) = (slow, event["data"]["sent_us"].as_u64()) {
                                let received = now.duration_since(epoch).as_micros() as u64;
                                r.latencies_us.push(received.saturating_sub(sent));
                            }
                            if slow {
                                r.slow_now += 1;
                                r.slow_peak = r.slow_peak.max(r.slow_now);
                            }
                        }
                        if slow {
                            tokio::time::sleep(SLOW).await;
                            r.lock().unwrap().slow_now -= 1;
                        }
                        "ok"
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver { addr, receipts }
    }

    /// Forgets what was received (the slow endpoint's requests in flight stay counted).
    pub fn reset(&self) {
        let mut r = self.receipts.lock().unwrap();
        let slow_now = r.slow_now;
        *r = Receipts {
            slow_now,
            ..Receipts::default()
        };
    }
}
