//! The email outbox under a clock the test moves: an email that cannot be sent is retried
//! with backoff (not before its time), dead-lettered after its last try, and never holds up
//! the emails of others.

mod support;

use std::time::Duration;

use cdhooks_server::clock::ManualClock;
use cdhooks_server::domain::api_key;
use cdhooks_server::domain::email::MAX_EMAIL_TRIES;
use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::send;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_email_is_retried_with_backoff_then_dead_lettered_without_blocking_others()
{
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let mut config = support::backend_config(dir.path()).await;
    config.max_attempts = 1;
    let server = cdhooks_server::start_with_clock(config, clock.clone())
        .await
        .unwrap();
    let store = server.store.clone();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let receiver = Receiver::start().await;
    // A slow failing endpoint: each attempt takes 20 ms while the test's clock stands still;
    // what follows an attempt (here the disabling email, due at once) is timed by that clock.
    receiver.set(Behaviour::SlowStatus(Duration::from_millis(20), 500));
    // Two owners: one whose address no mail system accepts, one fine.
    let mut keys = Vec::new();
    for email in ["not an address", "ops@example.com"] {
        let key = api_key::generate();
        store
            .create_account(
                email,
                &api_key::digest(&key),
                cdhooks_server::clock::Clock::now_ms(&*clock),
            )
            .await
            .unwrap();
        let call = |path: &str, body: serde_json::Value| {
            send(
                http.post(format!("{base}{path}"))
                    .bearer_auth(&key)
                    .json(&body),
            )
        };
        let (status, _) = call(
            "/v1/webhooks",
            json!({"url": receiver.url("/down"), "events": ["*"], "secret": "your_webhook_secret"}),
        )
        .await;
        assert_eq!(status, 201);
        let (status, _) = call(
            "/v1/events",
            json!({"type": "server.error", "data": support::valid_data("server.error", json!({}))}),
        )
        .await;
        assert_eq!(status, 202);
        keys.push(key);
    }
    // Both webhooks fail their one attempt and are disabled; the good owner's email goes out
    // at once (the engine rings the mailer when it queues one), though the other one's fails
    // first or alongside — and stays in the outbox.
    let outbox = dir.path().join("outbox");
    let files = || std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0);
    let at = cdhooks_server::clock::Clock::now_ms(&*clock);
    support::eventually_async(
        "the good owner's email sent, the other's queued",
        Duration::from_secs(15),
        || async { files() == 1 && store.queue_stats(at).await.unwrap().outbox == 1 },
    )
    .await;
    let sent = std::fs::read_dir(&outbox).unwrap().next().unwrap().unwrap();
    let sent = std::fs::read_to_string(sent.path()).unwrap();
    assert!(sent.contains("To: ops@example.com"), "{sent}");

    // A round of the mailer that begins once the clock has moved `moved` ms, and has ended.
    let round_after = |moved: i64| {
        clock.advance(moved);
        server
            .mailbox
            .looked_since(cdhooks_server::clock::Clock::now_ms(&*clock))
    };
    // Its first try is due at once, the next only after a backoff (a minute and more): a
    // round a quarter second later tries it once at most.
    round_after(250).await;
    // Each move of the clock past the (at most 32 min) backoff allows exactly one more try;
    // after the last it is dead-lettered — so exactly MAX_EMAIL_TRIES - 1 moves make it dead.
    for moves in 1..MAX_EMAIL_TRIES {
        assert!(
            store.dead_emails(10).await.unwrap().is_empty(),
            "dead-lettered before move {moves} of the clock"
        );
        round_after(3_600_000).await;
    }
    let dead = store.dead_emails(10).await.unwrap();
    assert_eq!(dead.len(), 1, "dead after {MAX_EMAIL_TRIES} tries");
    assert_eq!(dead[0].tries, MAX_EMAIL_TRIES);
    assert_eq!(dead[0].email.recipient, "not an address");
    // Dead means done: more time brings no more tries, and no more files.
    round_after(86_400_000).await;
    assert_eq!(
        store.dead_emails(10).await.unwrap()[0].tries,
        MAX_EMAIL_TRIES
    );
    assert_eq!(files(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_started_31_days_later_removes_finished_data_older_than_30_days() {
    if support::on_postgres() {
        return; // restarts on the same data dir; the store contract covers PostgreSQL
    }
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let key = api_key::generate();
    let receiver = Receiver::start().await;
    let mut config = support::backend_config(dir.path()).await;
    config.retention_days = 30;
    let server = cdhooks_server::start_with_clock(config.clone(), clock.clone())
        .await
        .unwrap();
    server
        .store
        .create_account(
            "ops@example.com",
            &api_key::digest(&key),
            cdhooks_server::clock::Clock::now_ms(&*clock),
        )
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let post = |path: &str, body: serde_json::Value| {
        send(
            http.post(format!("{base}{path}"))
                .bearer_auth(&key)
                .json(&body),
        )
    };
    let (_, hook) = post("/v1/webhooks", json!({"url": receiver.url("/ok"), "events": ["server.*"], "secret": "your_webhook_secret"})).await;
    let (_, old) = post(
        "/v1/events",
        json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))}),
    )
    .await;
    // Stopped once the delivery's success is recorded (it is the data retention removes).
    support::settled(&server.store, Duration::from_secs(10)).await;
    assert_eq!(receiver.count(), 1);
    server.stop().await;

    // 31 days later: a new start prunes what is older than 30 days, and only that.
    clock.advance(31 * 86_400_000);
    let server = cdhooks_server::start_with_clock(config, clock.clone())
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    let (_, fresh) = send(
        http.post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "billing.payment.succeeded", "data": support::valid_data("billing.payment.succeeded", json!({}))})),
    )
    .await;
    let old_id = old["event"]["id"].as_str().unwrap();
    let gone = || {
        send(
            http.get(format!("{base}/v1/events/{old_id}"))
                .bearer_auth(&key),
        )
    };
    support::eventually_async("the old event removed", Duration::from_secs(10), || async {
        gone().await.0 == 404
    })
    .await;
    let fresh_id = fresh["event"]["id"].as_str().unwrap();
    let (status, _) = send(
        http.get(format!("{base}/v1/events/{fresh_id}"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(status, 200, "a new event was removed");
    let (_, deliveries) = send(
        http.get(format!(
            "{base}/v1/webhooks/{}/deliveries",
            hook["id"].as_str().unwrap()
        ))
        .bearer_auth(&key),
    )
    .await;
    assert_eq!(
        deliveries["data"].as_array().unwrap().len(),
        0,
        "its delivery went with it"
    );
    server.stop().await;
}
