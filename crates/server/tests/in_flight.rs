//! Attempts in flight sized for latency, not for cores: a server started with room for two
//! attempts holds many more at once when its endpoints keep them waiting (the room grows
//! while due work waits and the process idles), and `--max-in-flight` is a ceiling it keeps.

mod support;

use std::time::Duration;

use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::{eventually, TestServer};

/// How long each endpoint takes to answer.
const LATENCY: Duration = Duration::from_millis(500);

/// Registers `webhooks` webhooks on `receiver` and emits `events` events each receives.
async fn slow_load(s: &TestServer, receiver: &Receiver, webhooks: usize, events: usize) {
    for i in 0..webhooks {
        s.webhook(
            &receiver.url(&format!("/w{i}")),
            &["server.*"],
            "your_webhook_secret",
        )
        .await;
    }
    for n in 0..events {
        s.emit("server.started", json!({ "n": n })).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoints_get_more_attempts_in_flight_than_workers() {
    let s = TestServer::start_with(|c| {
        c.workers = 2;
        c.per_webhook_concurrency = 4;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(LATENCY));
    // 8 webhooks × 16 events: 128 attempts of 500 ms — 32 s two at a time.
    slow_load(&s, &slow, 8, 16).await;
    eventually("all 128 deliveries", Duration::from_secs(20), || {
        slow.count() == 128
    })
    .await;
    let peak = slow.peak_concurrency();
    assert!(
        peak >= 16,
        "at most {peak} attempts were in flight at once with room for 2 to begin with"
    );
    // Each webhook still gets at most its 4 at once.
    assert!(peak <= 8 * 4, "{peak}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_is_a_ceiling_the_room_keeps() {
    let s = TestServer::start_with(|c| {
        c.workers = 2;
        c.max_in_flight = Some(2);
        c.per_webhook_concurrency = 4;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(LATENCY));
    slow_load(&s, &slow, 4, 2).await;
    eventually("all 8 deliveries", Duration::from_secs(20), || {
        slow.count() == 8
    })
    .await;
    assert_eq!(slow.peak_concurrency(), 2, "two at a time, never more");
    s.stop().await;
}
