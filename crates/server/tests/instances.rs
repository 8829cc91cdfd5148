//! Several server processes on one PostgreSQL database: the real binary three times, events
//! posted round-robin across them, one killed with SIGKILL mid-run. Every accepted event
//! arrives, no delivery is sent again while an attempt of it runs, the per-webhook limit holds
//! over all instances together, the survivors count the killed one out (and take over its
//! share of the webhooks), and a webhook that fails on every instance sends one email.

mod support;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::eventually;
use support::receiver::{Behaviour, Receiver};

const BIN: &str = env!("CARGO_BIN_EXE_cdhooks-server");
const PER_WEBHOOK: usize = 4;

/// One `cdhooks-server serve` process on the shared database.
struct Instance {
    child: Child,
    base: String,
    /// Its `/metrics` URL.
    metrics: String,
    data: tempfile::TempDir,
    /// The PostgreSQL database it shares.
    database_url: String,
}

impl Instance {
    /// Starts an instance serving the API on `port` and its metrics on `metrics_port`.
    fn spawn(database_url: &str, (port, metrics_port): (u16, u16)) -> Instance {
        let data = tempfile::tempdir().unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--metrics-bind", &format!("127.0.0.1:{metrics_port}")])
            .args(["--allow-target", "127.0.0.0/8", "--allow-http"])
            .args(["--retry-base-ms", "50", "--attempt-timeout-ms", "2000"])
            .args(["--per-webhook-concurrency", &PER_WEBHOOK.to_string()])
            .args(["--database-url", database_url, "--database-pool", "8"])
            .arg("--data-dir")
            .arg(data.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Instance {
            child,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
            data,
            database_url: database_url.to_owned(),
        }
    }

    /// The server processes it counts as sharing the database (`cdhooks_server_processes`).
    async fn processes_seen(&self, http: &reqwest::Client) -> Option<u32> {
        self.gauge(http, "cdhooks_server_processes").await
    }

    /// A gauge without labels from its `/metrics`.
    async fn gauge(&self, http: &reqwest::Client, name: &str) -> Option<u32> {
        let text = http
            .get(&self.metrics)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|n| n.trim().parse().ok())
    }

    fn emails(&self) -> usize {
        std::fs::read_dir(self.data.path().join("outbox"))
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                })
                .count()
            })
            .unwrap_or(0)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three instances on a fresh database, healthy, and an API key; `None` without PostgreSQL.
async fn three_instances() -> Option<(Vec<Instance>, String, reqwest::Client)> {
    let url = support::pg::fresh_database().await?;
    let dir = tempfile::tempdir().unwrap();
    let (_, key) = cdhooks_server::create_account_in(dir.path(), Some(&url), "ops@example.com")
        .await
        .unwrap();
    // Started together: the migrations run once, under the advisory lock.
    // Six free ports, held together while they are picked so that none is handed out twice.
    let held: Vec<std::net::TcpListener> = (0..6)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    drop(held);
    let instances: Vec<Instance> = ports
        .chunks(2)
        .map(|pair| Instance::spawn(&url, (pair[0], pair[1])))
        .collect();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for instance in &instances {
        support::wait_healthy(&http, &instance.base).await;
    }
    Some((instances, key, http))
}

async fn call(
    http: &reqwest::Client,
    key: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut request = http.request(method, url).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_the_work_and_lose_nothing_when_one_is_killed() {
    let Some((mut instances, key, http)) = three_instances().await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Delay(Duration::from_millis(30)));
    // Registered on one instance, visible on all.
    let (status, hook) = call(
        &http,
        &key,
        reqwest::Method::POST,
        format!("{}/v1/webhooks", instances[0].base),
        Some(
            json!({"url": receiver.url("/hook"), "events": ["*"], "secret": "your_webhook_secret"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{hook}");
    for instance in &instances {
        let url = format!(
            "{}/v1/webhooks/{}",
            instance.base,
            hook["id"].as_str().unwrap()
        );
        let (status, _) = call(&http, &key, reqwest::Method::GET, url, None)
            .await
            .unwrap();
        assert_eq!(status, 200);
    }

    // Each instance counts all three (and so works a third of the webhooks).
    support::eventually_async("three processes seen", Duration::from_secs(10), || async {
        let (a, b) = (&instances[0], &instances[2]);
        a.processes_seen(&http).await == Some(3) && b.processes_seen(&http).await == Some(3)
    })
    .await;

    // 240 events round-robin from 3 concurrent senders; the third instance is killed with
    // SIGKILL after a third of them, with deliveries in flight.
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let mut accepted = HashSet::new();
    let mut killed = false;
    for n in (0..240).step_by(3) {
        if n >= 80 && !killed {
            let child = &mut instances[2].child;
            child.kill().unwrap();
            child.wait().unwrap();
            killed = true;
        }
        let batch = (n..n + 3).map(|i| {
            let url = format!("{}/v1/events", bases[i % 3]);
            call(
                &http,
                &key,
                reqwest::Method::POST,
                url,
                Some(json!({"type": "server.started", "data": support::valid_data("server.started", json!({"n": i}))})),
            )
        });
        for (i, answer) in (n..n + 3).zip(futures_util::future::join_all(batch).await) {
            match answer {
                Ok((202, body)) => {
                    accepted.insert(body["event"]["id"].as_str().unwrap().to_owned());
                }
                // The killed instance is gone; those events were never accepted.
                Err(_) if killed && i % 3 == 2 => {}
                other => panic!("event {i}: {other:?}"),
            }
        }
    }
    // 81 events before the kill, then two of every three.
    assert_eq!(accepted.len(), 81 + 2 * 53);
    // The survivors drop the killed instance once its heartbeat runs out, and take its share.
    support::eventually_async(
        "the killed process dropped",
        Duration::from_secs(15),
        || async { instances[0].processes_seen(&http).await == Some(2) },
    )
    .await;

    // Every accepted event arrives (the killed instance's claims expire and are taken over).
    eventually(
        "every accepted event delivered",
        Duration::from_secs(45),
        || {
            let got: HashSet<String> = receiver
                .all()
                .iter()
                .map(|d| d.json()["id"].as_str().unwrap().to_owned())
                .collect();
            accepted.is_subset(&got)
        },
    )
    .await;
    // Every delivery's history ends in success, whichever instance recorded it — those the
    // killed instance had in flight once its leases expire and another instance sends them
    // again (at-least-once: the receiver had them, the record did not).
    let id = hook["id"].as_str().unwrap();
    let url = format!("{}/v1/webhooks/{id}/deliveries?limit=200", bases[1]);
    support::eventually_async(
        "every delivery recorded as succeeded",
        Duration::from_secs(45),
        || async {
            let mut done = 0;
            let mut cursor: Option<String> = None;
            loop {
                let page_url = match &cursor {
                    Some(after) => format!("{url}&after={after}"),
                    None => url.clone(),
                };
                let (_, page) = call(&http, &key, reqwest::Method::GET, page_url, None)
                    .await
                    .unwrap();
                done += page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|d| {
                        accepted.contains(d["event_id"].as_str().unwrap())
                            && d["status"] == "succeeded"
                    })
                    .count();
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            done == accepted.len()
        },
    )
    .await;
    assert_eq!(
        receiver.overlaps(),
        0,
        "a delivery was sent while an attempt of it ran"
    );
    assert!(
        receiver.peak_concurrency() <= PER_WEBHOOK,
        "{} at once, limit {PER_WEBHOOK} over all instances",
        receiver.peak_concurrency()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_failing_on_every_instance_is_disabled_with_exactly_one_email() {
    let Some((instances, key, http)) = three_instances().await else {
        return;
    };
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Status(500));
    let (status, hook) = call(
        &http,
        &key,
        reqwest::Method::POST,
        format!("{}/v1/webhooks", instances[0].base),
        Some(
            json!({"url": receiver.url("/down"), "events": ["*"], "secret": "your_webhook_secret"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    // Six events, two through each instance: their deliveries fail on all three at once.
    for i in 0..6 {
        let url = format!("{}/v1/events", instances[i % 3].base);
        let (status, _) = call(
            &http,
            &key,
            reqwest::Method::POST,
            url,
            Some(json!({"type": "server.error", "data": support::valid_data("server.error", json!({"n": i}))})),
        )
        .await
        .unwrap();
        assert_eq!(status, 202);
    }
    let url = format!(
        "{}/v1/webhooks/{}",
        instances[2].base,
        hook["id"].as_str().unwrap()
    );
    support::eventually_async("the webhook disabled", Duration::from_secs(20), || async {
        let (_, webhook) = call(&http, &key, reqwest::Method::GET, url.clone(), None)
            .await
            .unwrap();
        webhook["enabled"] == false
    })
    .await;
    let total = || instances.iter().map(Instance::emails).sum::<usize>();
    eventually("the email", Duration::from_secs(5), || total() >= 1).await;
    // Every instance polls the outbox; once the shared outbox has nothing unsent (its gauge),
    // no instance has an email left to send: still exactly one.
    support::eventually_async("the outbox drained", Duration::from_secs(10), || async {
        instances[0].gauge(&http, "cdhooks_outbox_backlog").await == Some(0)
    })
    .await;
    assert_eq!(total(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_on_one_instance_sees_attempts_made_by_the_others() {
    let Some((instances, key, http)) = three_instances().await else {
        return;
    };
    let receiver = Receiver::start().await;
    let (status, _) = call(
        &http,
        &key,
        reqwest::Method::POST,
        format!("{}/v1/webhooks", instances[0].base),
        Some(
            json!({"url": receiver.url("/hook"), "events": ["*"], "secret": "your_webhook_secret"}),
        ),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    // The instances say on a channel of the database that they watch; listening there shows
    // when the first instance has said so.
    let mut listener = sqlx::postgres::PgListener::connect(&instances[0].database_url)
        .await
        .unwrap();
    listener
        .listen(cdhooks_server::store::postgres::LIVE_CHANNEL)
        .await
        .unwrap();
    // A dashboard's live stream on the first instance …
    let mut stream = http
        .get(format!("{}/v1/stream", instances[0].base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // … (its instance tells the others that it watches, on a timer of its own: once it has
    // said so twice, the others have taken in the first) …
    let mut said = 0;
    while said < 2 {
        let notice = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("the instance never said that it watches")
            .unwrap();
        let message: Value = serde_json::from_str(notice.payload()).unwrap();
        if message["kind"] == "watching" {
            said += 1;
        }
    }
    // … shows the attempts of events accepted, and sent, by the other two.
    let mut ids = HashSet::new();
    for i in 0..6 {
        let url = format!("{}/v1/events", instances[1 + i % 2].base);
        let body = json!({"type": "server.started", "data": support::valid_data("server.started", json!({"n": i}))});
        let (status, event) = call(&http, &key, reqwest::Method::POST, url, Some(body))
            .await
            .unwrap();
        assert_eq!(status, 202);
        ids.insert(event["event"]["id"].as_str().unwrap().to_owned());
    }
    let mut text = String::new();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if ids.iter().all(|id| text.contains(id.as_str())) {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(seen, Ok(true)), "the stream showed: {text}");
    assert!(text.contains("event:delivery.attempted"), "{text}");
}
