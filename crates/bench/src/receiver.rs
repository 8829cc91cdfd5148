//! The benchmark's receiver: answers 200 at once and records when each event arrived.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use warp::Filter;

/// What the receiver saw.
#[derive(Default)]
pub struct Receipts {
    /// Deliveries received.
    pub count: u64,
    /// (event id, webhook path) pairs seen, to count duplicates.
    pub seen: HashSet<(String, String)>,
    /// Deliveries of a pair already seen.
    pub duplicates: u64,
    /// First and last receipt.
    pub first: Option<Instant>,
    /// Last receipt.
    pub last: Option<Instant>,
    /// Send→receipt latencies in microseconds, from `data.sent_us`.
    pub latencies_us: Vec<u64>,
}

/// A running receiver.
#[derive(Clone)]
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub receipts: Arc<Mutex<Receipts>>,
}

impl Receiver {
    /// Starts on a free loopback port; `epoch` is the clock `sent_us` counts from.
    pub async fn start(epoch: Instant) -> Receiver {
        let receipts = Arc::new(Mutex::new(Receipts::default()));
        let r = receipts.clone();
        let route = warp::post()
            .and(warp::path::full())
            .and(warp::body::bytes())
            .map(move |path: warp::path::FullPath, body: Bytes| {
                let now = Instant::now();
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                let mut r = r.lock().unwrap();
                r.count += 1;
                if !r.seen.insert((id, path.as_str().to_owned())) {
                    r.duplicates += 1;
                }
                r.first.get_or_insert(now);
                r.last = Some(now);
                if let Some(sent) = event["data"]["sent_us"].as_u64() {
                    let received = now.duration_since(epoch).as_micros() as u64;
                    r.latencies_us.push(received.saturating_sub(sent));
                }
                "ok"
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver { addr, receipts }
    }

    /// Forgets what was received.
    pub fn reset(&self) {
        *self.receipts.lock().unwrap() = Receipts::default();
    }

    /// Deliveries received so far.
    pub fn count(&self) -> u64 {
        self.receipts.lock().unwrap().count
    }
}
