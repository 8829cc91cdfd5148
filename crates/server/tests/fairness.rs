//! One slow endpoint holds up nobody else, and no delivery is sent again while an attempt of
//! it runs. Scaled down from the noisy-neighbour benchmark: 300 ms receivers, 4 workers, at
//! most 2 attempts in flight per webhook. Endpoints that hang until the attempt timeout open
//! their circuits (one attempt at a time) and leave the pool to the healthy ones.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::{eventually, TestServer};

const SLOW: Duration = Duration::from_millis(300);

async fn small_server() -> TestServer {
    TestServer::start_with(|c| {
        c.workers = 4;
        c.max_in_flight = Some(4);
        c.per_webhook_concurrency = 2;
        c.attempt_timeout_ms = 5_000;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_deliveries_arrive_while_a_slow_backlog_drains() {
    let s = small_server().await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(SLOW));
    let fast = Receiver::start().await;
    s.webhook(&slow.url("/slow"), &["server.*"], "your_webhook_secret")
        .await;
    // The noisy tenant: a backlog of 40 at 300 ms each, 2 at a time — about 6 s of work.
    for n in 0..40 {
        s.emit("server.started", json!({ "n": n })).await;
    }
    // Another account, another webhook, events spread over the next second.
    let other_key = s.other_account().await;
    let other = |method, path: &str| s.http.request(method, s.url(path)).bearer_auth(&other_key);
    let (status, _) = support::send(other(reqwest::Method::POST, "/v1/webhooks").json(&json!({
        "url": fast.url("/fast"), "events": ["billing.*"], "secret": "your_webhook_secret"
    })))
    .await;
    assert_eq!(status, 201);
    let mut accepted_at = Vec::new();
    for n in 0..10 {
        let (status, _) = support::send(other(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "billing.payment.succeeded", "data": support::valid_data("billing.payment.succeeded", json!({ "n": n }))
        })))
        .await;
        assert_eq!(status, 202);
        accepted_at.push(std::time::Instant::now());
        // The load's shape, not a wait: one event every 100 ms beside the slow backlog.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eventually(
        "the other tenant's 10 deliveries",
        Duration::from_secs(3),
        || fast.count() == 10,
    )
    .await;
    // They all arrived while the slow backlog was still draining …
    assert!(
        slow.count() < 40,
        "the backlog had drained: {}",
        slow.count()
    );
    // … each within moments of being sent, not after the backlog.
    let sent_to_received: Vec<Duration> = fast
        .all()
        .windows(2)
        .map(|w| w[1].at.duration_since(w[0].at))
        .collect();
    assert!(
        sent_to_received
            .iter()
            .all(|gap| *gap < Duration::from_millis(600)),
        "{sent_to_received:?}"
    );
    // The slow endpoint never had more than its limit at once.
    assert!(slow.peak_concurrency() <= 2, "{}", slow.peak_concurrency());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_gets_each_event_once_and_never_more_than_its_limit_at_once() {
    let s = small_server().await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(SLOW));
    let hook = s
        .webhook(&slow.url("/slow"), &["server.*"], "your_webhook_secret")
        .await;
    let mut ids = Vec::new();
    for n in 0..24 {
        let answer = s.emit("server.started", json!({ "n": n })).await;
        ids.push(answer["event"]["id"].as_str().unwrap().to_owned());
    }
    // Once nothing is pending, nothing more goes out: a second copy of anything would be
    // here (a delivery queued in memory past its lease was the old way to a duplicate).
    s.settled(Duration::from_secs(10)).await;
    let mut times: HashMap<String, usize> = HashMap::new();
    for delivery in slow.all() {
        *times
            .entry(delivery.json()["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(times.len(), 24);
    assert!(times.values().all(|&n| n == 1), "{times:?}");
    assert!(slow.peak_concurrency() <= 2, "{}", slow.peak_concurrency());
    // Each delivery's history shows exactly the one attempt that arrived.
    let id = hook["id"].as_str().unwrap();
    let (_, page) = s
        .get(&format!("/v1/webhooks/{id}/deliveries?limit=50"))
        .await;
    let deliveries = page["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 24);
    for d in deliveries {
        assert_eq!(d["status"], "succeeded", "{d}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "{d}");
    }
    // And in due order: the backlog went out oldest first.
    let order: Vec<String> = slow
        .all()
        .iter()
        .map(|d| d.json()["id"].as_str().unwrap().to_owned())
        .collect();
    let position = |id: &String| order.iter().position(|o| o == id).unwrap();
    for pair in ids.windows(3) {
        // Two at a time may finish in either order, never further apart.
        assert!(position(&pair[0]) < position(&pair[2]), "{order:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_endpoints_open_their_circuits_and_leave_room_for_a_healthy_one() {
    use cdhooks_server::domain::health::{failing_share, OPENS_AFTER};
    const TIMEOUT: Duration = Duration::from_millis(1_000);
    // 4 workers, 4 per webhook: three hanging webhooks could hold the whole pool.
    let s = TestServer::start_with(|c| {
        c.workers = 4;
        c.max_in_flight = Some(4);
        c.per_webhook_concurrency = 4;
        c.attempt_timeout_ms = TIMEOUT.as_millis() as u64;
        c.retry_base_ms = 50;
    })
    .await;
    // One receiver behind the three endpoints, so that it counts their attempts together.
    let hanging = Receiver::start().await;
    hanging.set(Behaviour::Delay(Duration::from_secs(60)));
    let mut hooks = Vec::new();
    for path in ["/a", "/b", "/c"] {
        let hook = s
            .webhook(&hanging.url(path), &["server.*"], "your_webhook_secret")
            .await;
        hooks.push(hook["id"].as_str().unwrap().to_owned());
    }
    for n in 0..8 {
        s.emit("server.started", json!({ "n": n })).await;
    }
    // Each one's attempts time out until OPENS_AFTER failed in a row: its circuit opens.
    for id in &hooks {
        let hook = s
            .wait_for(
                &format!("/v1/webhooks/{id}"),
                Duration::from_secs(20),
                |w| w["health"]["circuit"] == "open" || w["health"]["circuit"] == "probing",
            )
            .await;
        assert!(hook["health"]["consecutive_failures"].as_u64().unwrap() >= u64::from(OPENS_AFTER));
    }
    // While one of them has its probe out (the failing share is one attempt, so they take
    // turns), its view says so.
    support::eventually_async("a webhook probing", Duration::from_secs(10), || async {
        let mut probing = 0;
        for id in &hooks {
            let (_, hook) = s.get(&format!("/v1/webhooks/{id}")).await;
            probing += usize::from(hook["health"]["circuit"] == "probing");
        }
        probing == 1 && hanging.handling() >= 1
    })
    .await;
    let store = &s.server.as_ref().unwrap().store;
    let stats = store
        .queue_stats(cdhooks_server::clock::now_ms())
        .await
        .unwrap();
    assert_eq!(stats.open_circuits, 3, "counted for /metrics");
    // Once the attempts started before the circuits opened are over, the three together hold
    // no more than the failing webhooks' share of the 4 workers (one).
    let share = failing_share(4) as usize;
    eventually("the earlier attempts over", TIMEOUT * 3, || {
        hanging.handling() <= share
    })
    .await;
    // An attempt claimed just before its webhook's circuit opened may not have reached the
    // receiver yet; it is over within one attempt timeout (a real timeout is what passes here).
    tokio::time::sleep(TIMEOUT).await;
    eventually("the earlier attempts over", TIMEOUT * 3, || {
        hanging.handling() <= share
    })
    .await;
    hanging.reset_peak();

    // Another customer's deliveries each arrive within an attempt timeout of being sent:
    // they never wait for a hanging attempt to end.
    let fast = Receiver::start().await;
    let other_key = s.other_account().await;
    let other = |method, path: &str| s.http.request(method, s.url(path)).bearer_auth(&other_key);
    let (status, _) = support::send(other(reqwest::Method::POST, "/v1/webhooks").json(&json!({
        "url": fast.url("/fast"), "events": ["billing.*"], "secret": "your_webhook_secret"
    })))
    .await;
    assert_eq!(status, 201);
    for n in 0..5 {
        let sent = std::time::Instant::now();
        let (status, _) = support::send(other(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "billing.payment.succeeded", "data": support::valid_data("billing.payment.succeeded", json!({ "n": n }))
        })))
        .await;
        assert_eq!(status, 202);
        eventually("the healthy delivery", TIMEOUT, || fast.count() == n + 1).await;
        assert!(
            sent.elapsed() < TIMEOUT,
            "delivery {n} took {:?}",
            sent.elapsed()
        );
    }
    assert!(
        hanging.peak_concurrency() <= share,
        "{} attempts at once to failing webhooks, beyond their share of {share}",
        hanging.peak_concurrency()
    );
    s.stop().await;
}
