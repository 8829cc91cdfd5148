//! Filters on what a customer receives, through the API: checked at registration against the
//! subscribed types' schemas, applied at fan-out (only matching events create deliveries),
//! changed and removed, and explained against a stored event.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::receiver::Receiver;
use support::{eventually, valid_data, TestServer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn register(s: &TestServer, body: Value) -> (u16, Value) {
    s.post("/v1/webhooks", body).await
}

/// The `data.server_id` of every event the receiver got at `path`.
fn servers_received(receiver: &Receiver, path: &str) -> Vec<String> {
    let mut ids: Vec<String> = receiver
        .all()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.json()["data"]["server_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn only_matching_events_create_deliveries() {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (status, filtered) = register(
        &s,
        json!({
            "url": receiver.url("/production"), "events": ["server.*"], "secret": SECRET,
            "filter": {"data.server_id": ["srv_1", "srv_2"], "data.status": "running"}
        }),
    )
    .await;
    assert_eq!(status, 201, "{filtered}");
    assert_eq!(
        filtered["filter"],
        json!({"data.server_id": ["srv_1", "srv_2"], "data.status": "running"})
    );
    s.webhook(&receiver.url("/everything"), &["server.*"], SECRET)
        .await;

    let mut expected_deliveries = Vec::new();
    for (server, status, reaches_filtered) in [
        ("srv_1", "running", true),
        ("srv_2", "running", true),
        ("srv_3", "running", false),
        ("srv_1", "stopped", false),
    ] {
        let answer = s
            .emit(
                "server.started",
                json!({"server_id": server, "status": status}),
            )
            .await;
        let deliveries = if reaches_filtered { 2 } else { 1 };
        assert_eq!(answer["deliveries"], deliveries, "{server} {status}");
        expected_deliveries.push(deliveries);
    }
    let total: u64 = expected_deliveries.iter().sum();
    eventually("every delivery", Duration::from_secs(10), || {
        receiver.count() as u64 == total
    })
    .await;
    s.settled(Duration::from_secs(10)).await;
    assert_eq!(
        servers_received(&receiver, "/production"),
        ["srv_1", "srv_2"]
    );
    assert_eq!(servers_received(&receiver, "/everything").len(), 4);
    // A test event reaches its webhook whatever the filter.
    let id = filtered["id"].as_str().unwrap();
    let (status, _) = s
        .post(
            &format!("/v1/webhooks/{id}/test"),
            json!({"type": "server.started", "data": valid_data("server.started", json!({"server_id": "srv_9"}))}),
        )
        .await;
    assert_eq!(status, 202);
    eventually("the test event", Duration::from_secs(10), || {
        servers_received(&receiver, "/production").contains(&"srv_9".to_owned())
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn filters_are_checked_against_the_subscribed_types_and_can_change() {
    let s = TestServer::start().await;
    for (body, status, code) in [
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["server.*"], "filter": {"data.amount": 1999}}),
            422,
            "unknown_filter_field",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["server.*"], "filter": {"server_id": "srv_1"}}),
            400,
            "invalid_filter",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["server.*"], "filter": {"data.server_id": [true]}}),
            400,
            "invalid_filter",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["server.*"], "filter": ["data.server_id"]}),
            400,
            "invalid_filter",
        ),
    ] {
        let (got, answer) = register(&s, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert_eq!(answer["error"]["field"], "filter");
    }
    // A field of any subscribed type will do.
    let (status, hook) = register(
        &s,
        json!({"url": "http://127.0.0.1:9/", "events": ["server.*", "billing.payment.failed"], "filter": {"data.amount": [1999, 2999]}}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let path = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    // Subscriptions that would leave the filter naming nothing are refused.
    let (status, answer) = s
        .call(Method::PATCH, &path, Some(json!({"events": ["server.*"]})))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("unknown_filter_field"))
    );
    let (status, changed) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"events": ["server.*"], "filter": {"data.labels.env": "production", "data.server_id": "srv_1"}})),
        )
        .await;
    assert_eq!(status, 422, "data.labels is in no schema: {changed}");
    let (status, changed) = s
        .call(
            Method::PATCH,
            &path,
            Some(json!({"events": ["server.*"], "filter": {"data.server_id": "srv_1"}})),
        )
        .await;
    assert_eq!(
        (status, &changed["filter"]),
        (200, &json!({"data.server_id": "srv_1"}))
    );
    let (status, cleared) = s
        .call(Method::PATCH, &path, Some(json!({"filter": null})))
        .await;
    assert_eq!((status, &cleared["filter"]), (200, &Value::Null));
    let (_, shown) = s.get(&path).await;
    assert_eq!(shown["filter"], Value::Null);
    s.stop().await;
}

#[tokio::test]
async fn a_webhook_says_whether_it_would_have_received_a_stored_event() {
    let s = TestServer::start().await;
    let (_, hook) = register(
        &s,
        json!({"url": "http://127.0.0.1:9/", "events": ["server.*"], "filter": {"data.server_id": ["srv_1", "srv_2"]}}),
    )
    .await;
    let check = format!("/v1/webhooks/{}/match", hook["id"].as_str().unwrap());
    let event = s.emit("server.error", json!({"server_id": "srv_3"})).await;
    let event_id = event["event"]["id"].as_str().unwrap();
    let (status, found) = s.post(&check, json!({"event_id": event_id})).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        (found["subscribed"].clone(), found["receives"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(
        found["conditions"],
        json!([{"field": "data.server_id", "accepted": ["srv_1", "srv_2"], "found": "srv_3", "holds": false}])
    );
    // A filter being written is tried without saving it.
    let (_, draft) = s
        .post(
            &check,
            json!({"event_id": event_id, "filter": {"data.server_id": "srv_3"}}),
        )
        .await;
    assert_eq!(draft["receives"], json!(true));
    let (_, stored) = s
        .get(&format!("/v1/webhooks/{}", hook["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        stored["filter"],
        json!({"data.server_id": ["srv_1", "srv_2"]})
    );
    // Another type: not subscribed at all.
    let billing = s.emit("billing.payment.failed", json!({})).await;
    let (_, other) = s
        .post(&check, json!({"event_id": billing["event"]["id"]}))
        .await;
    assert_eq!(
        (other["subscribed"].clone(), other["receives"].clone()),
        (json!(false), json!(false))
    );
    let (status, none) = s.post(&check, json!({"event_id": "evt_nothing"})).await;
    assert_eq!(
        (status, none["error"]["code"].as_str()),
        (404, Some("unknown_event"))
    );
    s.stop().await;
}
