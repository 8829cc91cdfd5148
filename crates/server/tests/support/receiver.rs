//! A real HTTP receiver on loopback whose behaviour can be switched mid-test.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use warp::http::{HeaderMap, StatusCode};
use warp::Filter;

/// What the receiver does with the next request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer with this status.
    Status(u16),
    /// Answer with a status and extra headers.
    StatusWithHeaders(u16, Vec<(&'static str, String)>),
    /// Wait this long, then answer 200.
    Delay(Duration),
    /// Wait this long, then answer with this status.
    SlowStatus(Duration, u16),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// The path it was sent to.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The status it was answered with.
    pub status: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Requests being handled now, and the most at once so far.
#[derive(Debug, Default)]
pub struct Concurrency {
    pub now: usize,
    pub peak: usize,
    /// Event ids whose request is being handled now.
    pub ids: std::collections::HashSet<String>,
    /// Requests for an event whose earlier request was still being handled.
    pub overlaps: usize,
}

/// One request being handled, counted in [`Concurrency`] until dropped.
struct Handling(Arc<Mutex<Concurrency>>, String);

impl Handling {
    fn begin(concurrency: Arc<Mutex<Concurrency>>, id: String) -> Handling {
        {
            let mut c = concurrency.lock().unwrap();
            c.now += 1;
            c.peak = c.peak.max(c.now);
            if !c.ids.insert(id.clone()) {
                c.overlaps += 1;
            }
        }
        Handling(concurrency, id)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        let mut c = self.0.lock().unwrap();
        c.now -= 1;
        c.ids.remove(&self.1);
    }
}

/// A receiver: its URL, what it got, and a switch for its behaviour.
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub behaviour: Arc<Mutex<Behaviour>>,
    pub concurrency: Arc<Mutex<Concurrency>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::Status(200)));
        let concurrency = Arc::new(Mutex::new(Concurrency::default()));
        let (r, b, c) = (received.clone(), behaviour.clone(), concurrency.clone());
        let route = warp::post()
            .and(warp::path::full())
            .and(warp::header::headers_cloned())
            .and(warp::body::bytes())
            .then(
                move |path: warp::path::FullPath, headers: HeaderMap, body: Bytes| {
                    let (r, b, c) = (r.clone(), b.clone(), c.clone());
                    async move {
                        let id = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["id"].as_str().map(str::to_owned))
                            .unwrap_or_default();
                        // Held while the request is handled, dropped also when the sender goes away
                        // mid-request (a killed server).
                        let _handling = Handling::begin(c.clone(), id);
                        // What to answer is read before the request is counted: a test that
                        // switches the behaviour once it sees N requests never changes the
                        // answer to the Nth.
                        let behaviour = b.lock().unwrap().clone();
                        let (delay, status, extra) = match behaviour {
                            Behaviour::Status(s) => (None, s, vec![]),
                            Behaviour::StatusWithHeaders(s, h) => (None, s, h),
                            Behaviour::Delay(d) => (Some(d), 200, vec![]),
                            Behaviour::SlowStatus(d, s) => (Some(d), s, vec![]),
                        };
                        r.lock().unwrap().push(Received {
                            at: Instant::now(),
                            path: path.as_str().to_owned(),
                            headers,
                            body,
                            status,
                        });
                        if let Some(delay) = delay {
                            tokio::time::sleep(delay).await;
                        }
                        let mut response = warp::http::Response::builder()
                            .status(StatusCode::from_u16(status).unwrap());
                        for (name, value) in extra {
                            response = response.header(name, value);
                        }
                        response
                            .body(warp::hyper::body::Bytes::from_static(b"received"))
                            .unwrap()
                    }
                },
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(warp::serve(route).incoming(listener).run());
        Receiver {
            addr,
            received,
            behaviour,
            concurrency,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Requests for an event that arrived while an earlier one for it was being handled.
    pub fn overlaps(&self) -> usize {
        self.concurrency.lock().unwrap().overlaps
    }

    /// The most requests it handled at once.
    pub fn peak_concurrency(&self) -> usize {
        self.concurrency.lock().unwrap().peak
    }

    /// The requests it is handling now.
    pub fn handling(&self) -> usize {
        self.concurrency.lock().unwrap().now
    }

    /// Starts counting the peak again from what it handles now.
    pub fn reset_peak(&self) {
        let mut concurrency = self.concurrency.lock().unwrap();
        concurrency.peak = concurrency.now;
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
