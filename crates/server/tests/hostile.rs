//! What a hostile client or an unlucky operator tries, each against a real server on real
//! sockets: bodies that never arrive, revoked keys that try to live on, bounds on what one
//! account or one inbox token may hold, and the inputs that once slipped through.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{send, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `head` (and no more) on a fresh connection and returns the status line of the
/// answer, or `None` if none came within `wait`.
async fn status_of_partial_request(
    s: &TestServer,
    head: &str,
    wait: Duration,
) -> (Option<String>, tokio::net::TcpStream) {
    let addr = s.server.as_ref().unwrap().addr;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let status = match tokio::time::timeout(wait, socket.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => Some(
            String::from_utf8_lossy(&answer[..n])
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        _ => None,
    };
    (status, socket)
}

#[tokio::test]
async fn a_reversed_recovery_window_is_400() {
    let s = TestServer::start().await;
    let hook = s
        .webhook("http://127.0.0.1:9/hook", &["*"], "your_webhook_secret")
        .await;
    let path = format!("/v1/webhooks/{}/recover", hook["id"].as_str().unwrap());
    let (status, body) = s
        .post(
            &path,
            json!({"since": "2025-01-15T11:00:00Z", "until": "2025-01-15T10:00:00Z"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(body["error"]["field"], "until");
    let (status, body) = s
        .post(
            &path,
            json!({"since": "2025-01-15T10:00:00Z", "until": "2025-01-15T11:00:00Z"}),
        )
        .await;
    assert_eq!((status, &body["recovered"]), (202, &json!(0)), "{body}");
    s.stop().await;
}

#[tokio::test]
async fn a_lone_surrogate_is_refused_in_data_as_in_any_other_field() {
    let s = TestServer::start().await;
    for (path, body) in [
        (
            "/v1/events",
            r#"{"type":"server.started","data":{"a":"\udc00"}}"#,
        ),
        (
            "/v1/events",
            r#"{"type":"server.started","data":{"\ud800":"key"}}"#,
        ),
        (
            "/v1/webhooks",
            r#"{"url":"http://127.0.0.1:9/","events":["*"],"description":"\udc00"}"#,
        ),
    ] {
        let request = s
            .req(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body);
        let (status, answer) = send(request).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_json", "{body}");
    }
    // A surrogate pair is text, and is delivered as sent.
    let request = s
        .req(reqwest::Method::POST, "/v1/events")
        .header("content-type", "application/json")
        .body(r#"{"type":"server.started","data":{"server_id":"srv_1","name":"web-1","status":"running","ip":"192.0.2.1","a":"\ud83d\ude00"}}"#);
    let (status, answer) = send(request).await;
    assert_eq!(status, 202, "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn the_key_list_takes_only_limit_and_after_and_an_account_holds_at_most_100_keys() {
    let s = TestServer::start().await;
    for i in 0..99 {
        let (status, body) = s
            .post("/v1/api-keys", json!({"name": format!("k{i}")}))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = s.post("/v1/api-keys", json!({"name": "k100"})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "limit_reached");

    let (status, body) = s.get("/v1/api-keys?foo=1").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_query"))
    );
    let (status, body) = s.get("/v1/api-keys?limit=500").await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("limit"))
    );
    let mut seen = Vec::new();
    let mut path = "/v1/api-keys?limit=30".to_owned();
    loop {
        let (status, page) = s.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 30);
        seen.extend(data.iter().map(|k| k["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/api-keys?limit=30&after={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 100);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 100, "every key once");
    s.stop().await;
}

#[tokio::test]
async fn a_key_revoked_elsewhere_cannot_mint_a_key_or_an_inbox_within_the_cache_window() {
    let s = TestServer::start().await;
    let (_, created) = s
        .post("/v1/api-keys", json!({"name": "soon revoked"}))
        .await;
    let k2 = created["key"].as_str().unwrap().to_owned();
    let k2_id = created["id"].as_str().unwrap().to_owned();
    // K2 is used, so this instance caches it; then it is revoked the way the CLI (another
    // process) does it: in the store, not through this instance.
    let (status, _) = send(s.http.get(s.url("/v1/webhooks")).bearer_auth(&k2)).await;
    assert_eq!(status, 200);
    let store = &s.server.as_ref().unwrap().store;
    let account = store
        .account_by_key_hash(&cdhooks_server::domain::api_key::hash(&k2))
        .await
        .unwrap()
        .unwrap();
    store
        .revoke_api_key(&account, &k2_id, None, cdhooks_server::clock::now_ms())
        .await
        .unwrap();
    let (status, body) = send(
        s.http
            .post(s.url("/v1/api-keys"))
            .bearer_auth(&k2)
            .json(&json!({"name": "persist"})),
    )
    .await;
    assert_eq!(status, 401, "a revoked key minted a key: {body}");
    let (status, body) = send(s.http.post(s.url("/v1/inboxes")).bearer_auth(&k2)).await;
    assert_eq!(status, 401, "a revoked key made an inbox: {body}");
    let (_, keys) = s.get("/v1/api-keys").await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1, "{keys}");
    s.stop().await;
}

#[tokio::test]
async fn an_account_holds_at_most_20_inboxes() {
    let s = TestServer::start().await;
    for _ in 0..20 {
        let (status, body) = s.call(reqwest::Method::POST, "/v1/inboxes", None).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = s.call(reqwest::Method::POST, "/v1/inboxes", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("limit_reached"))
    );
    s.stop().await;
}

#[tokio::test]
async fn an_unknown_inbox_is_404_before_its_body_is_read() {
    let s = TestServer::start().await;
    for token in ["inb_00000000000000000000000000000000", "%2e%2e", "nope"] {
        let head = format!(
            "POST /inbox/{token} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{"
        );
        let (status, _socket) = status_of_partial_request(&s, &head, Duration::from_secs(5)).await;
        assert_eq!(
            status.as_deref(),
            Some("HTTP/1.1 404 Not Found"),
            "{token}: the answer waited for a body that never comes"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn a_wrong_key_is_401_before_the_body_is_read() {
    let s = TestServer::start().await;
    let head = "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer cdh_wrong\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
    let (status, _socket) = status_of_partial_request(&s, head, Duration::from_secs(5)).await;
    assert_eq!(
        status.as_deref(),
        Some("HTTP/1.1 401 Unauthorized"),
        "the answer waited for a body that never comes"
    );
    s.stop().await;
}

#[tokio::test]
async fn inbox_captures_keep_a_megabyte_and_cannot_refuse_another_accounts_events() {
    let s = TestServer::start_with(|c| c.max_database_mb = Some(8)).await;
    let (_, inbox) = s.call(reqwest::Method::POST, "/v1/inboxes", None).await;
    let path = inbox["path"].as_str().unwrap().to_owned();
    let token = inbox["token"].as_str().unwrap().to_owned();
    let body = "x".repeat(250 * 1024);
    // Anyone with the token, no key: 40 uploads of 250 KB, 10 MB in all.
    for _ in 0..40 {
        let (status, answer) = send(s.http.post(s.url(&path)).body(body.clone())).await;
        assert!(status == 200 || status == 507, "{status} {answer}");
    }
    let (_, captured) = s.get(&format!("/v1/inboxes/{token}/requests")).await;
    let kept: usize = captured["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].as_str().unwrap().len())
        .sum();
    assert!(kept <= 1024 * 1024, "the inbox keeps {kept} bytes");
    assert!(kept >= 250 * 1024, "the newest capture is kept");
    // Another account's large events still go in.
    let other = s.other_account().await;
    let data = json!({"pad": "y".repeat(100 * 1024)});
    for _ in 0..10 {
        let (status, answer) = send(
            s.http
                .post(s.url("/v1/events"))
                .bearer_auth(&other)
                .json(&json!({"type": "server.started", "data": support::valid_data("server.started", data.clone())})),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    s.stop().await;
}

/// Opens `count` connections that send a complete header for a 1,000-byte body, then one
/// byte of it, and nothing more.
async fn stalled_bodies(s: &TestServer, count: usize) -> Vec<tokio::net::TcpStream> {
    let addr = s.server.as_ref().unwrap().addr;
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{",
        s.key
    );
    let mut sockets = Vec::new();
    for _ in 0..count {
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket.write_all(head.as_bytes()).await.unwrap();
        sockets.push(socket);
    }
    sockets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_get_408_and_cannot_take_the_server_offline() {
    let s = TestServer::start_with(|c| {
        c.max_connections = 8;
        c.body_timeout_ms = 500;
    })
    .await;
    // Twice as many stalled bodies as the server serves connections.
    let mut sockets = stalled_bodies(&s, 16).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let health = client.get(s.url("/healthz")).send().await;
    assert_eq!(
        health.map(|r| r.status().as_u16()).ok(),
        Some(200),
        "/healthz while bodies stall"
    );
    // The first stalled client was told why, and its connection closed.
    let mut answer = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        sockets[0].read_to_string(&mut answer),
    )
    .await
    .expect("the connection was closed")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn a_trickling_body_is_cut_off_at_its_deadline() {
    let s = TestServer::start_with(|c| c.body_timeout_ms = 400).await;
    let mut socket = stalled_bodies(&s, 1).await.remove(0);
    let (mut read, mut write) = socket.split();
    let trickle = async {
        // One byte every 50 ms would take 50 s; the server must not wait for it.
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let mut answer = String::new();
    let read_answer =
        tokio::time::timeout(Duration::from_secs(10), read.read_to_string(&mut answer));
    tokio::select! {
        done = read_answer => { let _ = done.expect("cut off within 10 s"); }
        () = trickle => panic!("the whole trickle was read"),
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    s.stop().await;
}

#[tokio::test]
async fn a_half_sent_header_does_not_hold_up_a_stop() {
    let s = TestServer::start().await;
    let addr = s.server.as_ref().unwrap().addr;
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"POST /v1/events HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // Requests in progress get 5 s; a header still arriving is not one of them.
    tokio::time::timeout(Duration::from_secs(3), s.stop())
        .await
        .expect("stopped at once");
}

/// Opens `GET /v1/stream` with `key`; the response, once its headers are in.
async fn open_stream(s: &TestServer, key: &str) -> reqwest::Response {
    s.http
        .get(s.url("/v1/stream"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// Whether the stream ends (its body closes) within `wait`.
async fn stream_ends(mut stream: reqwest::Response, wait: Duration) -> bool {
    tokio::time::timeout(wait, async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn live_streams_are_budgeted_per_account() {
    let s = TestServer::start_with(|c| c.max_streams_per_account = 2).await;
    let first = open_stream(&s, &s.key).await;
    let second = open_stream(&s, &s.key).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = open_stream(&s, &s.key).await;
    assert_eq!(third.status(), 429);
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // Another account is not held back by this one's streams.
    let other = s.other_account().await;
    assert_eq!(open_stream(&s, &other).await.status(), 200);
    // A closed stream gives its place back.
    drop(first);
    support::eventually_async("a place freed", Duration::from_secs(5), || async {
        open_stream(&s, &s.key).await.status() == 200
    })
    .await;
    drop(second);
    s.stop().await;
}

#[tokio::test]
async fn a_live_stream_ends_when_its_key_is_revoked_here_or_elsewhere() {
    let s = TestServer::start().await;
    let mut keys = Vec::new();
    for name in ["here", "elsewhere"] {
        let (_, created) = s.post("/v1/api-keys", json!({"name": name})).await;
        keys.push((
            created["key"].as_str().unwrap().to_owned(),
            created["id"].as_str().unwrap().to_owned(),
        ));
    }
    let here = open_stream(&s, &keys[0].0).await;
    let elsewhere = open_stream(&s, &keys[1].0).await;
    let kept = open_stream(&s, &s.key).await;
    assert_eq!(
        (
            here.status().as_u16(),
            elsewhere.status().as_u16(),
            kept.status().as_u16()
        ),
        (200, 200, 200)
    );
    // Revoked through this instance: the stream ends at once.
    let (status, _) = s
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/api-keys/{}", keys[0].1),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        stream_ends(here, Duration::from_secs(2)).await,
        "revoked here"
    );
    // Revoked by another process (in the store): within the 5 s bound.
    let store = &s.server.as_ref().unwrap().store;
    let account = store
        .account_by_key_hash(&cdhooks_server::domain::api_key::hash(&s.key))
        .await
        .unwrap()
        .unwrap();
    store
        .revoke_api_key(&account, &keys[1].1, None, cdhooks_server::clock::now_ms())
        .await
        .unwrap();
    assert!(
        stream_ends(elsewhere, Duration::from_secs(8)).await,
        "revoked elsewhere"
    );
    // A stream whose key still works goes on.
    assert!(!stream_ends(kept, Duration::from_millis(200)).await);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_lets_attempts_in_flight_finish_and_starts_none() {
    use support::receiver::{Behaviour, Receiver};
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Delay(Duration::from_millis(800)));
    let mut s = TestServer::start_with(|c| c.per_webhook_concurrency = 4).await;
    s.webhook(&receiver.url("/hook"), &["*"], "your_webhook_secret")
        .await;
    for i in 0..20 {
        s.emit("server.started", json!({"n": i})).await;
    }
    support::eventually("4 attempts in flight", Duration::from_secs(10), || {
        receiver.count() == 4
    })
    .await;
    // Stopping waits for the four to finish; none of the 16 waiting may start meanwhile.
    s.server.take().unwrap().stop().await;
    assert_eq!(receiver.count(), 4, "attempts started after the stop");
    // The next start sends the rest, and nothing twice.
    receiver.set(Behaviour::Status(200));
    s.restart().await;
    support::eventually("all 20 delivered", Duration::from_secs(20), || {
        receiver.count() >= 20
    })
    .await;
    let mut ids: Vec<String> = receiver
        .all()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), receiver.count()), (20, 20), "each event once");
    s.stop().await;
}

#[tokio::test]
async fn a_listener_that_cannot_be_bound_is_named_by_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let taken_addr = taken.local_addr().unwrap();
    let free_addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut same = support::test_config(dir.path());
    same.bind = free_addr;
    same.metrics_bind = Some(free_addr);
    let mut busy = support::test_config(dir.path());
    busy.metrics_bind = Some(taken_addr);
    for (config, expected) in [
        (same, "--metrics-bind".to_owned()),
        (busy, format!("--metrics-bind {taken_addr}: ")),
    ] {
        let error = match cdhooks_server::start(config).await {
            Ok(server) => {
                server.stop().await;
                panic!("started")
            }
            Err(error) => error.to_string(),
        };
        assert!(error.starts_with(&expected), "{error}");
        assert!(!error.contains("data dir"), "{error}");
    }
}

#[tokio::test]
async fn a_deliverys_request_shows_the_url_it_was_sent_to_after_the_url_changes() {
    use support::receiver::Receiver;
    let receiver = Receiver::start().await;
    let s = TestServer::start().await;
    let hook = s
        .webhook(&receiver.url("/before"), &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    let list = s
        .wait_for(
            &format!("/v1/webhooks/{id}/deliveries"),
            Duration::from_secs(10),
            |list| list["data"][0]["status"] == "succeeded",
        )
        .await;
    let delivery = list["data"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = s
        .call(
            reqwest::Method::PATCH,
            &format!("/v1/webhooks/{id}"),
            Some(json!({"url": receiver.url("/after")})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, request) = s.get(&format!("/v1/deliveries/{delivery}/request")).await;
    assert_eq!(request["url"], receiver.url("/before"), "{request}");
    let (_, record) = s.get(&format!("/v1/deliveries/{delivery}")).await;
    assert_eq!(
        record["attempts"][0]["url"],
        receiver.url("/before"),
        "{record}"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_second_rotation_keeps_the_first_ones_grace_period() {
    use cdhooks_core::standard::StandardVerifier;
    use support::receiver::Receiver;
    let receiver = Receiver::start().await;
    let s = TestServer::start().await;
    let hook = s
        .webhook(&receiver.url("/hook"), &["*"], "your_webhook_secret")
        .await;
    let path = format!(
        "/v1/webhooks/{}/rotate-secret",
        hook["id"].as_str().unwrap()
    );
    let (_, first) = s.post(&path, json!({})).await; // a day's grace
    let (status, second) = s.post(&path, json!({"grace_seconds": 3600})).await;
    assert_eq!(status, 200, "{second}");
    let expires: Vec<&str> = second["previous_secrets_expire_at"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(expires.len(), 2, "{second}");
    assert!(expires[0] > expires[1], "the first keeps its day: {second}");
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    support::eventually("the delivery", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    let got = &receiver.all()[0];
    // The docs' header stays on the oldest secret still in its grace period.
    assert_eq!(
        got.header("x-webhook-signature"),
        cdhooks_core::legacy::sign_hex(b"your_webhook_secret", &got.body).as_str()
    );
    // Every secret still signing verifies the Standard Webhooks header.
    let signatures = got.header("webhook-signature");
    assert_eq!(signatures.split(' ').count(), 3, "{signatures}");
    let now = cdhooks_server::clock::now_ms() as u64 / 1000;
    for secret in [
        "your_webhook_secret",
        first["secret"].as_str().unwrap(),
        second["secret"].as_str().unwrap(),
    ] {
        StandardVerifier::new(secret)
            .unwrap()
            .verify(
                got.header("webhook-id"),
                got.header("webhook-timestamp"),
                signatures,
                &got.body,
                now,
                300,
            )
            .unwrap_or_else(|e| panic!("{secret}: {e:?}"));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_a_stop_cuts_off_is_released_at_once() {
    use support::receiver::{Behaviour, Receiver};
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Delay(Duration::from_secs(30)));
    let mut s = TestServer::start_with(|c| {
        c.attempt_timeout_ms = 20_000;
        c.shutdown_grace_ms = 300;
    })
    .await;
    s.webhook(&receiver.url("/hook"), &["*"], "your_webhook_secret")
        .await;
    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    support::eventually("the attempt under way", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    // The grace period ends with the attempt still waiting for its answer: it is cut off,
    // and its claim is given back at once rather than held until its lease runs out (20 s
    // and more), so the next claimer — another instance, or the next start — sends it.
    tokio::time::timeout(Duration::from_secs(5), s.server.take().unwrap().stop())
        .await
        .expect("the stop ends with its grace period");
    let config = s.config.clone().unwrap();
    let store = cdhooks_server::open_store_at(&config.data_dir, config.database_url.as_deref())
        .await
        .unwrap();
    let stats = store
        .queue_stats(cdhooks_server::clock::now_ms())
        .await
        .unwrap();
    assert_eq!((stats.pending, stats.due), (1, 1), "{stats:?}");
    store.close().await;
}

#[tokio::test]
async fn more_attempts_than_the_open_file_limit_allows_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = support::test_config(dir.path());
    config.workers = 1 << 40;
    let error = match cdhooks_server::start(config).await {
        Ok(server) => {
            server.stop().await;
            panic!("started with more attempts in flight than it can open files for")
        }
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("--workers") && error.contains("open files"),
        "{error}"
    );
}
