//! `GET /metrics` on its own listener: the text parses as Prometheus exposition, and the
//! counters, histograms and gauges move as events are accepted, attempts succeed and fail, a
//! webhook is disabled and its owner emailed. No label carries an id or a URL.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::TestServer;

/// Samples by `(name, sorted labels)`.
type Samples = HashMap<(String, Vec<(String, String)>), f64>;

/// Scrapes and parses; `(name, labels)` → value.
async fn scrape(s: &TestServer) -> (String, Samples) {
    let addr = s
        .server
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("metrics are on");
    let response = s
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    let mut values = HashMap::new();
    for sample in scrape.samples {
        let mut labels: Vec<(String, String)> = sample
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        labels.sort();
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        values.insert((sample.metric, labels), value);
    }
    (text, values)
}

fn value(values: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels.sort();
    values
        .get(&(name.to_owned(), labels))
        .copied()
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_parse_and_move_as_deliveries_happen() {
    let s = TestServer::start_with(|c| {
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        c.max_attempts = 1;
    })
    .await;
    let (_, before) = scrape(&s).await;
    assert_eq!(
        value(&before, "cdhooks_deliveries_succeeded_total", &[]),
        0.0
    );

    let good = Receiver::start().await;
    let down = Receiver::start().await;
    down.set(Behaviour::Status(503));
    let ok_hook = s
        .webhook(&good.url("/ok"), &["server.started"], "your_webhook_secret")
        .await;
    let bad_hook = s
        .webhook(&down.url("/down"), &["server.error"], "your_webhook_secret")
        .await;
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    s.emit("server.error", json!({"server_id": "srv_1"})).await;
    let bad = bad_hook["id"].as_str().unwrap();
    s.wait_for(
        &format!("/v1/webhooks/{bad}"),
        Duration::from_secs(10),
        |w| w["enabled"] == false,
    )
    .await;
    support::eventually("the email", Duration::from_secs(15), || {
        std::fs::read_dir(s.dir.path().join("outbox"))
            .map(|d| d.count())
            .unwrap_or(0)
            > 0
    })
    .await;
    s.settled(Duration::from_secs(10)).await;
    assert_eq!(good.count(), 1);
    // The counters move just after the store records what happened: poll until the last
    // of them did.
    let (text, after) = support::poll::until(Duration::from_secs(5), || async {
        let (text, after) = scrape(&s).await;
        if value(&after, "cdhooks_deliveries_in_flight", &[]) == 0.0
            && value(&after, "cdhooks_deliveries_succeeded_total", &[]) >= 1.0
            && value(&after, "cdhooks_emails_total", &[("outcome", "sent")]) >= 1.0
        {
            Ok((text, after))
        } else {
            Err(format!("counters: {text}"))
        }
    })
    .await;
    assert_eq!(
        value(
            &after,
            "cdhooks_events_accepted_total",
            &[("event_type", "server.started")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "cdhooks_events_accepted_total",
            &[("event_type", "server.error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "cdhooks_delivery_attempts_total",
            &[("result", "2xx")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "cdhooks_delivery_attempts_total",
            &[("result", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        value(&after, "cdhooks_deliveries_succeeded_total", &[]),
        1.0
    );
    assert_eq!(value(&after, "cdhooks_deliveries_failed_total", &[]), 1.0);
    assert_eq!(value(&after, "cdhooks_webhooks_disabled_total", &[]), 1.0);
    assert_eq!(
        value(&after, "cdhooks_emails_total", &[("outcome", "sent")]),
        1.0
    );
    assert!(text.contains("cdhooks_delivery_attempt_duration_seconds_bucket"));
    assert!(
        text.contains("cdhooks_delivery_latency_seconds_count 1"),
        "{text}"
    );
    assert!(
        value(
            &after,
            "cdhooks_http_requests_total",
            &[("route", "/v1/events"), ("status", "2xx")]
        ) >= 2.0
    );
    // (A template's braces are checked in the text: the test's parser mistakes them.)
    assert!(
        text.contains("cdhooks_http_requests_total{route=\"/v1/webhooks/{id}\",status=\"2xx\"}"),
        "{text}"
    );
    for gauge in [
        "cdhooks_deliveries_pending",
        "cdhooks_deliveries_due",
        "cdhooks_oldest_due_delivery_age_seconds",
        "cdhooks_outbox_backlog",
        "cdhooks_open_circuits",
        "cdhooks_deliveries_in_flight",
        "cdhooks_server_processes",
    ] {
        assert!(text.contains(&format!("\n{gauge} ")), "{gauge} missing");
    }
    assert_eq!(value(&after, "cdhooks_deliveries_in_flight", &[]), 0.0);
    assert_eq!(value(&after, "cdhooks_server_processes", &[]), 1.0);
    // No label holds an id or a URL.
    for id in [ok_hook["id"].as_str().unwrap(), bad, "127.0.0.1", "evt_"] {
        assert!(!text.contains(id), "a label holds {id}");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_queue_gauges_count_due_work_and_its_age() {
    let s = TestServer::start_with(|c| {
        c.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
        c.workers = 1;
        c.max_in_flight = Some(1);
        c.per_webhook_concurrency = 1;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(Duration::from_secs(2)));
    s.webhook(&slow.url("/slow"), &["*"], "your_webhook_secret")
        .await;
    for _ in 0..4 {
        s.emit("server.started", json!({})).await;
    }
    // The gauges as soon as the oldest due delivery has waited half a second (the first
    // attempt takes 2 s, so nothing has finished by then).
    let values = support::poll::until(Duration::from_millis(1_500), || async {
        let (text, values) = scrape(&s).await;
        if value(&values, "cdhooks_oldest_due_delivery_age_seconds", &[]) >= 0.5 {
            Ok(values)
        } else {
            Err(format!("no due delivery aged 0.5 s: {text}"))
        }
    })
    .await;
    assert_eq!(value(&values, "cdhooks_deliveries_pending", &[]), 4.0);
    assert_eq!(
        value(&values, "cdhooks_deliveries_due", &[]),
        3.0,
        "one is in flight"
    );
    assert_eq!(value(&values, "cdhooks_deliveries_in_flight", &[]), 1.0);
    assert!(value(&values, "cdhooks_oldest_due_delivery_age_seconds", &[]) >= 0.5);
    s.stop().await;
}
