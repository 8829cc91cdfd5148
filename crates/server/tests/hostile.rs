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
        .body(r#"{"type":"server.started","data":{"a":"\ud83d\ude00"}}"#);
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
                .json(&json!({"type": "server.started", "data": data})),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    s.stop().await;
}
