//! Delivery end to end: the docs' flow with both signatures, retries with growing gaps,
//! disabling with exactly one email (file outbox and SMTP), pausing and resuming, manual
//! retries, redirects, and receivers that are slow, dead or reset while others keep flowing.

mod support;

use std::time::Duration;

use cdhooks_core::catalog::CATALOG;
use cdhooks_core::legacy;
use cdhooks_core::standard::StandardVerifier;
use reqwest::Method;
use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::smtp::SmtpSink;
use support::{eventually, TestServer};

const DOCS_EVENTS: [&str; 3] = ["server.started", "server.stopped", "server.error"];

#[tokio::test]
async fn the_docs_flow_delivers_only_subscribed_types_with_both_signatures() {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    let hook = s
        .webhook(
            &receiver.url("/webhooks/cdhosting"),
            &DOCS_EVENTS,
            "your_webhook_secret",
        )
        .await;
    let mut emitted = Vec::new();
    for info in CATALOG {
        let data: serde_json::Value = serde_json::from_str(info.example_data).unwrap();
        let answer = s.emit(info.name, data).await;
        let expected = if DOCS_EVENTS.contains(&info.name) {
            1
        } else {
            0
        };
        assert_eq!(answer["deliveries"], expected, "{}", info.name);
        emitted.push(answer["event"].clone());
    }
    s.settled(Duration::from_secs(5)).await;
    let got = receiver.all();
    assert_eq!(got.len(), 3);
    let verifier = StandardVerifier::new("your_webhook_secret").unwrap();
    for delivery in &got {
        let event = delivery.json();
        let event_type = event["type"].as_str().unwrap();
        assert!(DOCS_EVENTS.contains(&event_type));
        assert_eq!(delivery.header("content-type"), "application/json");
        assert!(delivery.header("user-agent").starts_with("cdhooks/"));
        assert_eq!(delivery.header("x-webhook-event"), event_type);
        assert_eq!(delivery.header("webhook-id"), event["id"].as_str().unwrap());
        // The docs' check: the header is exactly the lowercase hex HMAC of the raw body.
        let expected = legacy::sign_hex(b"your_webhook_secret", &delivery.body);
        assert_eq!(delivery.header("x-webhook-signature"), expected.as_str());
        let now = cdhooks_server::clock::now_seconds() as u64;
        verifier
            .verify(
                delivery.header("webhook-id"),
                delivery.header("webhook-timestamp"),
                delivery.header("webhook-signature"),
                &delivery.body,
                now,
                300,
            )
            .unwrap();
        // The body is the stored envelope, byte for byte.
        let stored = s
            .req(
                Method::GET,
                &format!("/v1/events/{}", event["id"].as_str().unwrap()),
            )
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(stored, delivery.body);
    }
    let id = hook["id"].as_str().unwrap();
    let (_, deliveries) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    for d in deliveries["data"].as_array().unwrap() {
        assert_eq!(d["status"], "succeeded");
        assert_eq!(d["attempts"][0]["status_code"], 200);
        assert_eq!(d["attempts"][0]["response_body"], "received");
    }
    s.stop().await;
}

/// Gaps between consecutive receipts.
fn gaps(receiver: &Receiver) -> Vec<Duration> {
    let got = receiver.all();
    got.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// A server whose one webhook's endpoint answers `status` to everything, after a
/// `server.error` event: the server, the receiver, the webhook's id and the webhook once
/// disabled.
async fn disabled_by_answering(status: u16) -> (TestServer, Receiver, String, serde_json::Value) {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Status(status));
    let hook = s
        .webhook(&receiver.url("/hook"), &["server.*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    s.emit("server.error", json!({"server_id": "srv_1"})).await;
    let disabled = s
        .wait_for(
            &format!("/v1/webhooks/{id}"),
            Duration::from_secs(10),
            |w| w["enabled"] == false,
        )
        .await;
    (s, receiver, id, disabled)
}

#[tokio::test]
async fn fifth_failure_disables_the_webhook_and_sends_one_email_then_resume_and_retry_work() {
    let (s, receiver, id, disabled) = disabled_by_answering(500).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500"),
        "{disabled}"
    );
    assert!(disabled["disabled_at"].is_string());
    // Nothing more is sent: exactly five attempts, and the gaps before the retries follow the
    // exponential backoff — the test server's base is 20 ms, four times longer each time, less
    // at most 20 % of jitter — so no retry comes before its time. A slow machine only makes
    // gaps longer; whether a later gap beat an earlier one by more than that lateness is not
    // the rule.
    s.settled(Duration::from_secs(5)).await;
    assert_eq!(receiver.count(), 5);
    let gaps = gaps(&receiver);
    let floors: Vec<Duration> = (0..4)
        .map(|i| Duration::from_millis(16 << (2 * i)))
        .collect();
    assert!(
        gaps.iter().zip(&floors).all(|(gap, floor)| gap >= floor),
        "a retry came before its backoff: gaps {gaps:?}, floors {floors:?}"
    );
    let (_, list) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    let failed = &list["data"][0];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempt_count"], 5);
    let attempts = failed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 5);
    assert!(attempts
        .iter()
        .all(|a| a["status_code"] == 500 && a["error_kind"] == "http_status"));

    // Exactly one email, naming the webhook, its URL, the event type and the last error.
    let outbox = s.dir.path().join("outbox");
    s.settled(Duration::from_secs(5)).await;
    let emails: Vec<_> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(emails.len(), 1, "{emails:?}");
    let email = std::fs::read_to_string(&emails[0])
        .unwrap()
        .replace("\r\n ", " ");
    let retry_line = format!(
        "POST /v1/deliveries/{}/retry",
        failed["id"].as_str().unwrap()
    );
    for needle in [
        id.as_str(),
        receiver.url("/hook").as_str(),
        "server.error",
        "HTTP 500",
        "To: owner@example.com",
        retry_line.as_str(),
    ] {
        assert!(email.contains(needle), "email lacks {needle}: {email}");
    }

    // While disabled, new events wait, paused: nothing is pending, nothing is sent.
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    s.settled(Duration::from_secs(5)).await;
    assert_eq!(receiver.count(), 5);
    let (_, list) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(list["data"][0]["status"], "paused");

    // Re-enabling resumes the paused delivery.
    receiver.set(Behaviour::Status(204));
    let (status, enabled) = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(enabled["enabled"], true);
    assert!(enabled.get("disabled_reason").is_none());
    eventually(
        "the paused delivery arrives",
        Duration::from_secs(5),
        || receiver.count() == 6,
    )
    .await;
    assert_eq!(receiver.all()[5].json()["type"], "server.started");

    // The failed delivery can be retried by hand.
    let failed_id = failed["id"].as_str().unwrap();
    let (status, queued) = s
        .post(&format!("/v1/deliveries/{failed_id}/retry"), json!({}))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["status"], "pending");
    let done = s
        .wait_for(
            &format!("/v1/deliveries/{failed_id}"),
            Duration::from_secs(5),
            |d| d["status"] == "succeeded",
        )
        .await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 6);
    assert_eq!(done["attempts"][5]["status_code"], 204);
    let (status, again) = s
        .post(&format!("/v1/deliveries/{failed_id}/retry"), json!({}))
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str().unwrap()),
        (409, "invalid_state")
    );
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1);
    s.stop().await;
}

#[tokio::test]
async fn the_disabling_email_goes_through_a_real_smtp_server_once() {
    let sink = SmtpSink::start().await;
    let s = TestServer::start_with(|c| {
        c.smtp_url = Some(format!("smtp://{}", sink.addr));
        c.max_attempts = 3;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Status(503));
    let hook = s
        .webhook(
            &receiver.url("/hook"),
            &["billing.*"],
            "your_webhook_secret",
        )
        .await;
    // Two deliveries fail together: still exactly one email.
    s.emit("billing.payment.failed", json!({"payment_id": "pay_1"}))
        .await;
    s.emit("billing.payment.succeeded", json!({"payment_id": "pay_2"}))
        .await;
    s.settled(Duration::from_secs(10)).await;
    let mails = sink.mails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["<owner@example.com>"]);
    let id = hook["id"].as_str().unwrap();
    let data = mails[0].data.replace("\n ", " ");
    assert!(
        data.contains(&format!(
            "Subject: Webhook {id} disabled after 3 failed attempts"
        )),
        "{data}"
    );
    assert!(data.contains("billing.payment."), "{data}");
    assert!(!s.dir.path().join("outbox").exists());
    s.stop().await;
}

#[tokio::test]
async fn retry_after_zero_or_in_the_past_never_collapses_the_backoff() {
    let s = TestServer::start_with(|c| {
        c.retry_base_ms = 100;
        c.max_attempts = 3;
    })
    .await;
    for retry_after in ["0", "Thu, 01 Jan 1970 00:00:00 GMT"] {
        let receiver = Receiver::start().await;
        receiver.set(Behaviour::StatusWithHeaders(
            503,
            vec![("retry-after", retry_after.to_owned())],
        ));
        s.webhook(&receiver.url("/busy"), &["server.*"], "your_webhook_secret")
            .await;
        s.emit("server.error", json!({"server_id": "srv_1"})).await;
        eventually("three attempts", Duration::from_secs(5), || {
            receiver.count() == 3
        })
        .await;
        // Scheduled: 100 ms, then 400 ms, each ±20 %; the receiver asked for less.
        let gaps = gaps(&receiver);
        assert!(
            gaps[0] >= Duration::from_millis(80) && gaps[1] >= Duration::from_millis(320),
            "Retry-After: {retry_after} shortened the backoff: {gaps:?}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_counts_as_a_failure() {
    let s = TestServer::start_with(|c| c.max_attempts = 1).await;
    let target = Receiver::start().await;
    let redirecting = Receiver::start().await;
    redirecting.set(Behaviour::StatusWithHeaders(
        302,
        vec![("location", target.url("/elsewhere"))],
    ));
    s.webhook(&redirecting.url("/hook"), &["*"], "your_webhook_secret")
        .await;
    let event = s.emit("server.created", json!({})).await;
    assert_eq!(event["deliveries"], 1);
    // Once the first attempt is recorded it is over: had it followed the redirect, the target
    // would have had the request by then.
    let (_, hooks) = s.get("/v1/webhooks").await;
    let id = hooks["data"][0]["id"].as_str().unwrap();
    let list = s
        .wait_for(
            &format!("/v1/webhooks/{id}/deliveries"),
            Duration::from_secs(5),
            |list| list["data"][0]["attempts"][0].is_object(),
        )
        .await;
    assert_eq!(target.count(), 0);
    assert_eq!(list["data"][0]["attempts"][0]["error_kind"], "redirect");
    assert_eq!(list["data"][0]["attempts"][0]["status_code"], 302);
    s.stop().await;
}

/// A TCP listener that accepts and then never answers, or resets at once.
async fn bad_listener(reset: bool) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            if reset {
                // Closing with unread data pending makes the kernel send a reset.
                drop(stream);
            } else {
                held.push(stream);
            }
        }
    });
    addr
}

#[tokio::test]
async fn slow_silent_resetting_and_closed_receivers_fail_while_others_keep_flowing() {
    let s = TestServer::start_with(|c| {
        c.attempt_timeout_ms = 300;
        c.retry_base_ms = 60_000;
        c.per_webhook_concurrency = 2;
    })
    .await;
    let healthy = Receiver::start().await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(Duration::from_secs(3)));
    let silent = bad_listener(false).await;
    let resetting = bad_listener(true).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    s.webhook(&slow.url("/slow"), &["*"], "your_webhook_secret")
        .await;
    s.webhook(
        &format!("http://{silent}/silent"),
        &["*"],
        "your_webhook_secret",
    )
    .await;
    s.webhook(
        &format!("http://{resetting}/reset"),
        &["*"],
        "your_webhook_secret",
    )
    .await;
    s.webhook(
        &format!("http://{closed}/closed"),
        &["*"],
        "your_webhook_secret",
    )
    .await;
    s.webhook(&healthy.url("/ok"), &["*"], "your_webhook_secret")
        .await;
    for i in 0..30 {
        s.emit("server.rebooted", json!({"n": i})).await;
    }
    eventually(
        "every event at the healthy receiver",
        Duration::from_secs(3),
        || healthy.count() == 30,
    )
    .await;

    let (_, hooks) = s.get("/v1/webhooks").await;
    let mut kinds = std::collections::BTreeMap::new();
    for hook in hooks["data"].as_array().unwrap() {
        let id = hook["id"].as_str().unwrap();
        let url = hook["url"].as_str().unwrap().to_owned();
        let list = s
            .wait_for(
                &format!("/v1/webhooks/{id}/deliveries?limit=1"),
                Duration::from_secs(10),
                |l| {
                    l["data"][0]["attempts"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty())
                },
            )
            .await;
        kinds.insert(
            url.rsplit('/').next().unwrap().to_owned(),
            list["data"][0]["attempts"][0]["error_kind"].clone(),
        );
    }
    assert_eq!(kinds["ok"], serde_json::Value::Null);
    assert_eq!(kinds["slow"], "timeout");
    assert_eq!(kinds["silent"], "timeout");
    assert_eq!(kinds["closed"], "connect");
    assert!(kinds["reset"].is_string(), "{kinds:?}");
    s.stop().await;
}

#[tokio::test]
async fn the_resolver_refuses_names_that_resolve_to_forbidden_addresses() {
    use cdhooks_server::delivery::resolver::PolicyResolver;
    use cdhooks_server::domain::target::TargetPolicy;
    use reqwest::dns::Resolve;
    use std::sync::Arc;

    let strict = PolicyResolver::new(Arc::new(TargetPolicy::default()));
    let name = || "localhost".parse::<reqwest::dns::Name>().unwrap();
    let refused = strict
        .resolve(name())
        .await
        .err()
        .expect("localhost refused");
    assert!(refused.to_string().contains("forbidden"), "{refused}");
    let allowing = PolicyResolver::new(Arc::new(TargetPolicy {
        allowed: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        allow_http: true,
    }));
    let addrs: Vec<_> = allowing
        .resolve(name())
        .await
        .unwrap_or_else(|e| panic!("allowed: {e}"))
        .collect();
    assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_burst_with_repeated_ids_keeps_each_id_once_and_delivers_it_once_per_webhook()
{
    let s = TestServer::start().await;
    let (exact, prefix) = (Receiver::start().await, Receiver::start().await);
    s.webhook(
        &exact.url("/exact"),
        &["server.started"],
        "secret-a-0123456789",
    )
    .await;
    s.webhook(&prefix.url("/prefix"), &["server.*"], "secret-b-0123456789")
        .await;
    // 150 ids, each sent twice at once, so that both copies usually meet in one group commit.
    let requests = (0..300).map(|n| {
        let body = json!({"id": format!("evt_burst_{}", n % 150), "type": "server.started", "data": support::valid_data("server.started", json!({"n": n}))});
        support::send(s.req(Method::POST, "/v1/events").json(&body))
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut accepted = std::collections::HashMap::new();
    for (status, body) in &answers {
        match status {
            202 => {
                assert_eq!(body["deliveries"], 2, "{body}");
                let id = body["event"]["id"].as_str().unwrap().to_owned();
                let first = accepted.insert(id, body["event"]["data"]["n"].clone());
                assert!(first.is_none(), "an id was accepted twice: {body}");
            }
            409 => assert_eq!(body["error"]["code"], "conflict", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(accepted.len(), 150);
    s.settled(Duration::from_secs(10)).await;
    for receiver in [&exact, &prefix] {
        let got = receiver.all();
        assert_eq!(got.len(), 150);
        let mut seen = std::collections::HashSet::new();
        for delivery in got {
            let event = delivery.json();
            let id = event["id"].as_str().unwrap().to_owned();
            // The body delivered is the one of the request that was accepted.
            assert_eq!(event["data"]["n"], accepted[&id], "{event}");
            assert!(seen.insert(id), "delivered twice: {event}");
        }
    }
    // Every attempt gave its room back.
    let engine = s.server.as_ref().unwrap().engine.clone();
    eventually("nothing in flight", Duration::from_secs(5), || {
        engine.in_flight() == 0
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn a_test_event_reaches_its_one_webhook_and_the_api_shows_the_request_it_received() {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    let other = Receiver::start().await;
    let hook = s
        .webhook(&receiver.url("/a"), &["billing.*"], "your_webhook_secret")
        .await;
    s.webhook(&other.url("/b"), &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    // No body: the first type the webhook subscribes to, with the catalog's example.
    let (status, answer) =
        support::send(s.req(Method::POST, &format!("/v1/webhooks/{id}/test"))).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["deliveries"], 1);
    assert_eq!(answer["event"]["type"], "billing.payment.succeeded");
    let example = CATALOG
        .iter()
        .find(|t| t.name == "billing.payment.succeeded")
        .unwrap();
    assert_eq!(
        answer["event"]["data"],
        serde_json::from_str::<serde_json::Value>(example.example_data).unwrap()
    );
    // A chosen type the webhook does not subscribe to, with chosen data, still goes to it.
    let (status, second) = s
        .post(
            &format!("/v1/webhooks/{id}/test"),
            json!({"type": "server.error", "data": support::valid_data("server.error", json!({"server_id": "srv_test"}))}),
        )
        .await;
    assert_eq!(status, 202, "{second}");
    s.settled(Duration::from_secs(5)).await;
    assert_eq!(receiver.count(), 2);
    assert_eq!(other.count(), 0, "a test event went to another webhook");

    // The request the API shows for the delivery is byte for byte what arrived.
    let (_, list) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    let delivery = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event_id"] == second["event"]["id"])
        .unwrap()
        .clone();
    let delivery_id = delivery["id"].as_str().unwrap();
    let body = s
        .wait_for(
            &format!("/v1/deliveries/{delivery_id}"),
            Duration::from_secs(5),
            |d| d["status"] == "succeeded",
        )
        .await;
    assert_eq!(body["attempts"].as_array().unwrap().len(), 1);
    let (status, request) = s
        .get(&format!("/v1/deliveries/{delivery_id}/request"))
        .await;
    assert_eq!(status, 200, "{request}");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["url"], receiver.url("/a"));
    assert_eq!(request["attempt"], 1);
    let received = receiver
        .all()
        .into_iter()
        .find(|r| r.header("webhook-id") == second["event"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        request["body"].as_str().unwrap().as_bytes(),
        &received.body[..]
    );
    for pair in request["headers"].as_array().unwrap() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        assert_eq!(received.header(name), value, "{name}");
    }

    // Unknown webhook, unknown type, data that is not an object.
    let (status, body) = s.post("/v1/webhooks/wh_nope/test", json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, body) = s
        .post(
            &format!("/v1/webhooks/{id}/test"),
            json!({"type": "server.exploded"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_event_type"))
    );
    let (status, body) = s
        .post(&format!("/v1/webhooks/{id}/test"), json!({"data": [1]}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_data"))
    );
    s.stop().await;
}

#[tokio::test]
async fn recover_sends_a_windows_failed_deliveries_again_paused_while_disabled() {
    let s = TestServer::start_with(|c| c.max_attempts = 1).await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Status(500));
    let hook = s
        .webhook(&receiver.url("/down"), &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    for n in 0..2 {
        s.emit("server.error", json!({"n": n})).await;
    }
    // Both fail for good (the first failure disables the webhook; the other is paused or
    // fails too); re-enabled, failed ones stay failed until recovered.
    s.wait_for(
        &format!("/v1/webhooks/{id}"),
        Duration::from_secs(10),
        |w| w["enabled"] == false,
    )
    .await;
    let (status, _) = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let failed = |list: &serde_json::Value| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["status"] == "failed")
            .count()
    };
    let list = s
        .wait_for(
            &format!("/v1/webhooks/{id}/deliveries"),
            Duration::from_secs(10),
            |l| {
                l["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|d| d["status"] == "failed")
            },
        )
        .await;
    assert_eq!(failed(&list), 2);
    receiver.set(Behaviour::Status(200));
    // A window before them recovers nothing; bad input names its field.
    let (status, body) = s
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, body["recovered"].as_u64()), (202, Some(0)));
    let (status, body) = s
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": "yesterday"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("since"))
    );
    // Disabled meanwhile: recovered deliveries wait paused, and go out on re-enabling.
    s.call(
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    let (status, body) = s
        .post(
            &format!("/v1/webhooks/{id}/recover"),
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(
        (status, body["recovered"].as_u64()),
        (202, Some(2)),
        "{body}"
    );
    let (_, list) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "paused"),
        "{list}"
    );
    s.call(
        Method::PATCH,
        &format!("/v1/webhooks/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    s.wait_for(
        &format!("/v1/webhooks/{id}/deliveries"),
        Duration::from_secs(10),
        |l| {
            l["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "succeeded")
        },
    )
    .await;
    assert_eq!(
        receiver.count(),
        4,
        "two failed attempts, then each delivered once"
    );
    let (status, _) = s
        .post(
            "/v1/webhooks/wh_00000000000000000000000000000000/recover",
            json!({"since": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn a_410_gone_disables_the_webhook_at_once_and_the_email_says_so() {
    let (s, receiver, id, disabled) = disabled_by_answering(410).await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{disabled}"
    );
    // One attempt, not five: the endpoint asked for nothing more.
    let (_, list) = s.get(&format!("/v1/webhooks/{id}/deliveries")).await;
    assert_eq!(list["data"][0]["status"], "failed", "{list}");
    assert_eq!(list["data"][0]["attempt_count"], 1, "{list}");
    assert_eq!(receiver.count(), 1);
    // Exactly one email, saying why.
    let outbox = s.dir.path().join("outbox");
    eventually("the owner's email", Duration::from_secs(5), || {
        std::fs::read_dir(&outbox).is_ok_and(|d| d.count() == 1)
    })
    .await;
    let email = std::fs::read_dir(&outbox).unwrap().next().unwrap().unwrap();
    let email = std::fs::read_to_string(email.path())
        .unwrap()
        .replace("\r\n ", " ");
    assert!(email.contains("410 Gone"), "{email}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_holds_back_the_whole_webhook() {
    // One attempt at a time, so the deliveries queue behind the first; retries start at
    // 0.5 s, so a Retry-After of 1 s is within the 4× cap.
    let s = TestServer::start_with(|c| {
        c.per_webhook_concurrency = 1;
        c.retry_base_ms = 500;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::StatusWithHeaders(
        429,
        vec![("retry-after", "1".to_owned())],
    ));
    let hook = s
        .webhook(&receiver.url("/busy"), &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    for n in 0..3 {
        s.emit("server.started", json!({ "n": n })).await;
    }
    eventually("the first attempt", Duration::from_secs(5), || {
        receiver.count() == 1
    })
    .await;
    receiver.set(Behaviour::Status(204));
    // The API says the webhook is held (not just the delivery that got the 429) …
    let held = s
        .wait_for(&format!("/v1/webhooks/{id}"), Duration::from_secs(5), |w| {
            w["health"]["held_until"].is_string()
        })
        .await;
    assert_eq!(held["health"]["circuit"], "closed");
    // … and nothing goes to it for that second: the other two deliveries wait too.
    s.settled(Duration::from_secs(10)).await;
    let all = receiver.all();
    // What arrived, for the message: each request's event, answer and time after the first.
    let seen: Vec<String> = all
        .iter()
        .map(|r| {
            format!(
                "{} {} +{:?} (webhook-id {})",
                r.json()["data"]["n"],
                r.status,
                r.at.duration_since(all[0].at),
                r.header("webhook-id")
            )
        })
        .collect();
    assert_eq!(all.len(), 4, "one 429, then the three deliveries: {seen:?}");
    assert_eq!(all[0].status, 429, "{seen:?}");
    let waited = all[1].at.duration_since(all[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "the next request came {waited:?} after the 429: {seen:?}"
    );
    let (_, after) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert!(after["health"].get("held_until").is_none(), "{after}");
    assert_eq!(after["health"]["consecutive_failures"], 0);
    s.stop().await;
}
