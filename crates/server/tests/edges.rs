//! The edges an outside probe of the release binary found, each as a client would meet it:
//! connections that never finish a request, header bytes that are not text, malformed query
//! strings, HTTP conventions (HEAD, the auth scheme's case, POST without a body), errors that
//! name their field, JSON nested too deep, URLs and descriptions with control characters,
//! IPv6 forms of internal addresses, file permissions, one time format.

mod support;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Opens a connection and sends half a request header.
async fn half_header(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

/// Whether the server closed the connection (EOF or reset) within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 answer, then the close
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn half_sent_headers_time_out_excess_connections_wait_and_shutdown_closes_them() {
    let s = TestServer::start_with(|c| {
        c.max_connections = 20;
        c.header_timeout_ms = 500;
    })
    .await;
    let addr = s.server.as_ref().unwrap().addr;
    // More half-sent requests than the server serves at once.
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(half_header(addr).await);
    }
    // A real client still gets its answer: excess connections wait, the slow ones time out.
    let started = Instant::now();
    let (status, _) = support::send(s.http.get(s.url("/healthz"))).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for stream in &mut slow {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "a half-sent header kept its connection"
        );
    }
    // A half-sent header does not hold up shutdown.
    let mut pending = half_header(addr).await;
    let started = Instant::now();
    s.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(closed_within(&mut pending, Duration::from_secs(1)).await);
}

#[tokio::test]
async fn header_bytes_that_are_not_text_are_401_and_the_scheme_is_case_insensitive() {
    let s = TestServer::start().await;
    let garbage = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe\xfd").unwrap();
    for (method, path) in [(Method::GET, "/v1/webhooks"), (Method::POST, "/v1/events")] {
        let (status, body) = support::send(
            s.http
                .request(method.clone(), s.url(path))
                .header("authorization", garbage.clone())
                .json(&json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))})),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{method} {path}"
        );
    }
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let (status, _) = support::send(
            s.http
                .get(s.url("/v1/webhooks"))
                .header("authorization", format!("{scheme} {}", s.key)),
        )
        .await;
        assert_eq!(status, 200, "{scheme}");
    }
    s.stop().await;
}

#[tokio::test]
async fn bad_query_strings_are_400_invalid_query_naming_the_parameter() {
    let s = TestServer::start().await;
    let hook = s
        .webhook("https://yourapp.com/h", &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    for list in [
        "/v1/webhooks".to_owned(),
        format!("/v1/webhooks/{id}/deliveries"),
    ] {
        for (query, field) in [
            ("limit=-1", "limit"),
            ("limit=1e9", "limit"),
            ("limit=4294967296", "limit"),
            ("limit=abc", "limit"),
            ("limit=1&limit=2", "limit"),
            ("after=garbage", "after"),
            ("colour=blue", "query"),
        ] {
            let (status, body) = s.get(&format!("{list}?{query}")).await;
            assert_eq!(status, 400, "{list}?{query}: {body}");
            assert_eq!(body["error"]["code"], "invalid_query", "{list}?{query}");
            assert_eq!(body["error"]["field"], field, "{list}?{query}");
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn head_answers_wherever_get_does_and_bodiless_posts_work() {
    let s = TestServer::start().await;
    let hook = s
        .webhook("https://yourapp.com/h", &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    for path in [
        "/healthz",
        "/",
        "/v1/event-types",
        "/v1/webhooks",
        &format!("/v1/webhooks/{id}"),
    ] {
        let get = s.req(Method::GET, path).send().await.unwrap();
        let head = s.req(Method::HEAD, path).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "{path}"
        );
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} sent a body"
        );
    }
    // An inbox takes any request, also a GET without a body.
    let (_, inbox) = s.post("/v1/inboxes", json!({})).await;
    let token = inbox["token"].as_str().unwrap();
    let response = s
        .http
        .get(s.url(&format!("/inbox/{token}")))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    s.stop().await;
}

#[tokio::test]
async fn errors_name_their_field_in_plain_words_and_deep_json_is_refused() {
    let s = TestServer::start().await;
    let (status, body) = s
        .post("/v1/events", json!({"type": "server.started"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(body["error"]["field"], "data");
    assert_eq!(body["error"]["message"], "`data` is required");
    let (_, body) = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://a.com/", "events": ["*", 3]}),
        )
        .await;
    assert_eq!(body["error"]["field"], "events[1]");
    assert!(!body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 1"));
    let (_, body) = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://a.com/", "events": ["*"], "colour": 1}),
        )
        .await;
    assert_eq!(body["error"]["field"], "colour");
    // 100 levels of nesting in `data`: refused, not stored and delivered.
    let deep = format!(
        r#"{{"type":"server.started","data":{}{}}}"#,
        r#"{"a":"#.repeat(100),
        "}".repeat(100)
    );
    let (status, body) = support::send(
        s.req(Method::POST, "/v1/events")
            .header("content-type", "application/json")
            .body(deep),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn urls_and_descriptions_with_control_characters_and_internal_ipv6_forms_are_refused() {
    let s = TestServer::start_with(|c| c.allow_targets.clear()).await;
    for (url, code) in [
        ("https://yourapp.com/web\nhooks", "invalid_url"),
        ("https://yourapp.com/\u{0}", "invalid_url"),
        ("https://yourapp.com:0/", "invalid_url"),
        ("https:///x", "invalid_url"),
        ("https://[::ffff:0:7f00:1]/", "url_forbidden_target"),
        ("https://[::5efe:7f00:1]/", "url_forbidden_target"),
        ("https://[64:ff9b::808:808]/", "url_forbidden_target"),
        ("https://LOCALHOST./", "url_forbidden_target"),
    ] {
        let (_, body) = s
            .post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(body["error"]["code"], code, "{url:?}: {body}");
        assert_eq!(body["error"]["field"], "url");
    }
    let (status, body) = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://a.com/", "events": ["*"], "description": "a\nb"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("description"))
    );
    s.stop().await;
}

#[tokio::test]
async fn every_api_time_has_milliseconds() {
    let s = TestServer::start().await;
    let hook = s
        .webhook("https://yourapp.com/h", &["*"], "your_webhook_secret")
        .await;
    let rfc3339_ms = |v: &serde_json::Value| {
        let t = v.as_str().unwrap();
        t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.'
    };
    assert!(rfc3339_ms(&hook["created_at"]), "{hook}");
    assert!(rfc3339_ms(&hook["updated_at"]), "{hook}");
    let event = s.emit("server.started", json!({})).await;
    // The envelope receivers see keeps whole seconds.
    assert_eq!(event["event"]["created_at"].as_str().unwrap().len(), 20);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_is_private_to_the_server_user() {
    use std::os::unix::fs::PermissionsExt;
    if support::on_postgres() {
        return; // the files checked here are the embedded store's
    }
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let mut config = support::test_config(&dir);
    config.max_attempts = 1;
    let (_, key) = cdhooks_server::create_account_in(&dir, None, "owner@example.com")
        .await
        .unwrap();
    let server = cdhooks_server::start(config).await.unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", server.addr);
    // A webhook that fails once is disabled and its owner emailed: an .eml in the outbox.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let created = http.post(format!("{base}/v1/webhooks")).bearer_auth(&key)
        .json(&json!({"url": format!("http://{closed}/x"), "events": ["*"], "secret": "your_webhook_secret"}))
        .send().await.unwrap();
    assert_eq!(created.status(), 201);
    http.post(format!("{base}/v1/events"))
        .bearer_auth(&key)
        .json(&json!({"type": "server.error", "data": support::valid_data("server.error", json!({}))}))
        .send()
        .await
        .unwrap();
    let outbox = dir.join("outbox");
    support::eventually("an email", Duration::from_secs(15), || {
        std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) > 0
    })
    .await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&outbox), 0o700);
    for entry in std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(&outbox).unwrap())
    {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    // The database and its WAL were among the files checked.
    assert!(dir.join("cdhooks.sqlite3").is_file() && dir.join("cdhooks.sqlite3-wal").is_file());
    server.stop().await;
}
