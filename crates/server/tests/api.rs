//! The HTTP API's contract: authentication, isolation between accounts, every bad input's
//! code, and the shapes of the answers.

mod support;

use reqwest::Method;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn missing_or_wrong_keys_get_401_and_the_catalog_needs_none() {
    let s = TestServer::start().await;
    for request in [
        s.http.get(s.url("/v1/webhooks")),
        s.http.get(s.url("/v1/webhooks")).bearer_auth("cdh_wrong"),
        s.http
            .get(s.url("/v1/webhooks"))
            .header("authorization", "Basic abc"),
        s.http
            .post(s.url("/v1/events"))
            .json(&json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))})),
    ] {
        let (status, body) = support::send(request).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let (status, body) = support::send(s.http.get(s.url("/v1/event-types"))).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert!(names.contains(&"billing.subscription.cancelled"));
    assert_eq!(body["data"][1]["description"], "Server powered on");
    let (status, _) = support::send(s.http.get(s.url("/healthz"))).await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn another_accounts_objects_are_404() {
    let s = TestServer::start().await;
    let hook = s
        .webhook(
            "https://yourapp.com/webhooks/cdhosting",
            &["*"],
            "your_webhook_secret",
        )
        .await;
    let id = hook["id"].as_str().unwrap();
    let event = s
        .emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    let other = s.other_account().await;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{id}")),
        (Method::PATCH, format!("/v1/webhooks/{id}")),
        (Method::DELETE, format!("/v1/webhooks/{id}")),
        (Method::GET, format!("/v1/webhooks/{id}/deliveries")),
        (
            Method::GET,
            format!("/v1/events/{}", event["event"]["id"].as_str().unwrap()),
        ),
    ] {
        let mut request = s
            .http
            .request(method.clone(), s.url(&path))
            .bearer_auth(&other);
        if method == Method::PATCH {
            request = request.json(&json!({"description": "mine now"}));
        }
        let (status, body) = support::send(request).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (_, list) = support::send(s.http.get(s.url("/v1/webhooks")).bearer_auth(&other)).await;
    assert_eq!(list["data"], json!([]));
    s.stop().await;
}

#[tokio::test]
async fn registration_with_the_docs_body_shows_the_secret_once() {
    let s = TestServer::start_with(|c| c.allow_targets.clear()).await;
    let created = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://yourapp.com/webhooks/cdhosting",
                   "events": ["server.started", "server.stopped", "server.error"],
                   "secret": "your_webhook_secret"}),
        )
        .await;
    assert_eq!(created.0, 201);
    let hook = created.1;
    assert!(hook["id"].as_str().unwrap().starts_with("wh_"));
    assert_eq!(hook["secret"], "your_webhook_secret");
    assert_eq!(hook["enabled"], true);
    assert_eq!(
        hook["events"],
        json!(["server.started", "server.stopped", "server.error"])
    );
    let id = hook["id"].as_str().unwrap();
    let (_, got) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = s.get("/v1/webhooks").await;
    assert!(list["data"][0].get("secret").is_none());

    // Without a secret, a strong one is generated; a rotation shows the new one once.
    let (_, generated) = s
        .post(
            "/v1/webhooks",
            json!({"url": "https://yourapp.com/b", "events": ["*"]}),
        )
        .await;
    assert!(generated["secret"].as_str().unwrap().starts_with("whsec_"));
    let (status, rotated) = s
        .post(&format!("/v1/webhooks/{id}/rotate-secret"), json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"], "your_webhook_secret");
    s.stop().await;
}

#[tokio::test]
async fn bad_webhook_inputs_get_their_codes_and_never_echo_the_secret() {
    let s = TestServer::start_with(|c| {
        c.allow_targets.clear();
        c.allow_http = false;
    })
    .await;
    let ok_url = "https://yourapp.com/hook";
    let cases = [
        (
            json!({"url": ok_url, "events": []}),
            400,
            "empty_events",
            Some("events"),
        ),
        (
            json!({"url": ok_url, "events": ["server.exploded"]}),
            400,
            "unknown_event_type",
            Some("events"),
        ),
        (
            json!({"url": ok_url, "events": ["Server.Started"]}),
            400,
            "invalid_event_pattern",
            Some("events"),
        ),
        (
            json!({"url": ok_url, "events": ["*"], "secret": "tiny-secret-9"}),
            400,
            "weak_secret",
            Some("secret"),
        ),
        (
            json!({"url": ok_url, "events": ["*"], "secret": "with spaces in it, 22"}),
            400,
            "invalid_secret",
            Some("secret"),
        ),
        (
            json!({"url": ok_url, "events": ["*"], "secret": "whsec_%%%notbase64"}),
            400,
            "invalid_secret",
            Some("secret"),
        ),
        (
            json!({"url": "http://yourapp.com/hook", "events": ["*"]}),
            400,
            "invalid_url",
            Some("url"),
        ),
        (
            json!({"url": "https://u:p@yourapp.com/", "events": ["*"]}),
            400,
            "invalid_url",
            Some("url"),
        ),
        (
            json!({"url": "https://yourapp.com/#x", "events": ["*"]}),
            400,
            "invalid_url",
            Some("url"),
        ),
        (
            json!({"url": "yourapp.com/hook", "events": ["*"]}),
            400,
            "invalid_url",
            Some("url"),
        ),
        (
            json!({"url": ok_url, "events": ["*"], "colour": "blue"}),
            400,
            "invalid_request",
            Some("colour"),
        ),
        (
            json!({"events": ["*"]}),
            400,
            "invalid_request",
            Some("url"),
        ),
        (
            json!({"url": ok_url, "events": "server.started"}),
            400,
            "invalid_request",
            Some("events"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got_status, got) = s.post("/v1/webhooks", body.clone()).await;
        assert_eq!(
            (got_status, got["error"]["code"].as_str().unwrap()),
            (status, code),
            "{body} → {got}"
        );
        assert_eq!(got["error"]["field"].as_str(), field, "{body}");
        if let Some(secret) = body["secret"].as_str() {
            assert!(!got.to_string().contains(secret), "secret echoed: {got}");
        }
    }
    let unknown = s
        .post(
            "/v1/webhooks",
            json!({"url": ok_url, "events": ["server.exploded"]}),
        )
        .await
        .1;
    assert!(unknown["error"]["message"]
        .as_str()
        .unwrap()
        .contains("server.exploded"));
    let (status, body) = support::send(s.req(Method::POST, "/v1/webhooks").body("{not json")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "invalid_json")
    );
    let big = "x".repeat(300 * 1024);
    let (status, body) = support::send(s.req(Method::POST, "/v1/webhooks").body(big)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (413, "payload_too_large")
    );
    s.stop().await;
}

#[tokio::test]
async fn ssrf_address_forms_are_refused_unless_allowed() {
    let strict = TestServer::start_with(|c| c.allow_targets.clear()).await;
    for url in [
        "https://127.0.0.1/",
        "https://localhost/",
        "https://LOCALHOST./x",
        "https://api.localhost/",
        "https://10.0.0.8/",
        "https://172.16.5.4/",
        "https://192.168.1.100/",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/",
        "https://0.0.0.0/",
        "https://2130706433/",
        "https://0x7f.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://[64:ff9b::a9fe:a9fe]/",
        "https://[2002:7f00:0001::]/",
        "https://[fd00::1]/",
        "https://[fe80::1]/",
        "https://224.0.0.1/",
        "https://192.0.2.10/",
        "https://198.18.0.1/",
        "https://255.255.255.255/",
    ] {
        let (status, body) = strict
            .post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (422, "url_forbidden_target"),
            "{url}"
        );
    }
    for url in [
        "https://8.8.8.8/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://yourapp.com/hook",
    ] {
        let (status, body) = strict
            .post("/v1/webhooks", json!({"url": url, "events": ["*"]}))
            .await;
        assert_eq!(status, 201, "{url}: {body}");
    }
    strict.stop().await;
    let allowed =
        TestServer::start_with(|c| c.allow_targets = vec!["10.0.0.0/8".parse().unwrap()]).await;
    let (status, _) = allowed
        .post(
            "/v1/webhooks",
            json!({"url": "http://10.1.2.3:8080/hook", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = allowed
        .post(
            "/v1/webhooks",
            json!({"url": "http://192.168.1.1/hook", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 422);
    allowed.stop().await;
}

#[tokio::test]
async fn bad_event_inputs_get_their_codes_and_a_repeated_id_is_409() {
    let s = TestServer::start().await;
    let cases = [
        (
            json!({"type": "server.exploded", "data": {}}),
            "unknown_event_type",
        ),
        (
            json!({"type": "server.started", "data": [1, 2]}),
            "invalid_data",
        ),
        (
            json!({"type": "server.started", "data": "text"}),
            "invalid_data",
        ),
        (json!({"type": "server.started"}), "invalid_request"),
        (
            json!({"type": "server.started", "data": support::valid_data("server.started", json!({})), "extra": 1}),
            "invalid_request",
        ),
        (
            json!({"type": "server.started", "data": support::valid_data("server.started", json!({})), "id": "has spaces"}),
            "invalid_event_id",
        ),
    ];
    for (body, code) in cases {
        let (status, got) = s.post("/v1/events", body.clone()).await;
        assert_eq!(
            (status, got["error"]["code"].as_str().unwrap()),
            (400, code),
            "{body}"
        );
    }
    let unknown = s
        .post("/v1/events", json!({"type": "server.exploded", "data": {}}))
        .await
        .1;
    assert!(unknown["error"]["message"]
        .as_str()
        .unwrap()
        .contains("server.exploded"));

    let body = json!({"type": "server.started", "data": support::valid_data("server.started", json!({"server_id": "srv_1"})), "id": "evt_client_1"});
    let (status, first) = s.post("/v1/events", body.clone()).await;
    assert_eq!(status, 202);
    assert_eq!(first["event"]["id"], "evt_client_1");
    let (status, again) = s.post("/v1/events", body).await;
    assert_eq!(
        (status, again["error"]["code"].as_str().unwrap()),
        (409, "conflict")
    );
    let (status, stored) = s.get("/v1/events/evt_client_1").await;
    assert_eq!(status, 200);
    assert_eq!(stored, first["event"]);
    let raw = s
        .req(Method::GET, "/v1/events/evt_client_1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        raw.starts_with(r#"{"id":"evt_client_1","type":"server.started","created_at":""#),
        "{raw}"
    );
    let data = support::valid_data("server.started", json!({"server_id": "srv_1"}));
    assert!(raw.ends_with(&format!(r#"","data":{data}}}"#)), "{raw}");
    s.stop().await;
}

#[tokio::test]
async fn webhooks_page_with_a_cursor_and_delete_is_204() {
    let s = TestServer::start().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let hook = s
            .webhook(
                &format!("https://yourapp.com/{i}"),
                &["*"],
                "your_webhook_secret",
            )
            .await;
        ids.push(hook["id"].as_str().unwrap().to_owned());
    }
    let (_, first) = s.get("/v1/webhooks?limit=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    assert_eq!(cursor, ids[1]);
    let (_, second) = s.get(&format!("/v1/webhooks?limit=2&after={cursor}")).await;
    assert_eq!(second["data"][0]["id"], ids[2].as_str());
    let (_, last) = s
        .get(&format!("/v1/webhooks?limit=2&after={}", ids[3]))
        .await;
    assert_eq!(last["data"].as_array().unwrap().len(), 1);
    assert!(last["next_cursor"].is_null());
    let (status, body) = s.get("/v1/webhooks?limit=0").await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "invalid_query")
    );

    let (status, _) = s
        .call(Method::DELETE, &format!("/v1/webhooks/{}", ids[0]), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = s.get(&format!("/v1/webhooks/{}", ids[0])).await;
    assert_eq!(status, 404);
    let (status, patched) = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", ids[1]),
            Some(json!({"events": ["server.*"], "description": "ops"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["events"], json!(["server.*"]));
    assert_eq!(patched["description"], "ops");
    let (status, body) = s
        .call(
            Method::PATCH,
            &format!("/v1/webhooks/{}", ids[1]),
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (400, "empty_events")
    );
    s.stop().await;
}

#[tokio::test]
async fn http_conventions_head_unknown_routes_and_optional_bodies() {
    let s = TestServer::start().await;
    // HEAD works where GET does.
    let response = s.http.head(s.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    // An unknown API path is the API's 404, never a file lookup.
    for path in ["/v1/nope", "/v1/webhooks/%00/x", "/v1/"] {
        let (status, body) = support::send(s.req(Method::GET, path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // rotate-secret needs no body (as `curl -X POST` sends it: no Content-Length).
    let hook = s
        .webhook("https://yourapp.com/h", &["*"], "your_webhook_secret")
        .await;
    let id = hook["id"].as_str().unwrap();
    let (status, rotated) =
        support::send(s.req(Method::POST, &format!("/v1/webhooks/{id}/rotate-secret"))).await;
    assert_eq!(status, 200, "{rotated}");
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    s.stop().await;
}

#[tokio::test]
async fn url_errors_say_what_this_server_allows() {
    // A production-like server: https only, public addresses only.
    let strict = TestServer::start_with(|c| {
        c.allow_targets.clear();
        c.allow_http = false;
    })
    .await;
    let (status, body) = strict
        .post(
            "/v1/webhooks",
            json!({"url": "http://10.0.0.5/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "the URL must use https (this server does not accept http)"
    );
    let (status, body) = strict
        .post(
            "/v1/webhooks",
            json!({"url": "https://10.0.0.5/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .ends_with("webhooks must target a public address"));
    strict.stop().await;
    // Local use (`dev`): http and loopback are allowed, and the errors say so.
    let local = TestServer::start().await;
    let (_, body) = local
        .post(
            "/v1/webhooks",
            json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}),
        )
        .await;
    assert_eq!(body["error"]["message"], "the URL must use http or https");
    let (_, body) = local
        .post(
            "/v1/webhooks",
            json!({"url": "http://10.0.0.5/x", "events": ["*"]}),
        )
        .await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("127.0.0.0/8") && message.contains("--allow-target"),
        "{message}"
    );
    local.stop().await;
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked_at_once_but_never_the_last_or_own() {
    let s = TestServer::start().await;
    let (status, created) = s.post("/v1/api-keys", json!({"name": "ci deploys"})).await;
    assert_eq!(status, 201, "{created}");
    let second = created["key"].as_str().unwrap().to_owned();
    assert!(second.starts_with(&created["prefix"].as_str().unwrap()[..4]));
    // The new key works; the list never shows keys, only names and prefixes.
    let (status, list) =
        support::send(s.http.get(s.url("/v1/api-keys")).bearer_auth(&second)).await;
    assert_eq!(status, 200);
    let keys = list["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(!list.to_string().contains(&second) && !list.to_string().contains(&s.key));
    let first_id = keys.iter().find(|k| k["name"] == "default").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second_id = created["id"].as_str().unwrap().to_owned();
    // A request cannot revoke its own key.
    let (status, body) =
        support::send(s.req(Method::DELETE, &format!("/v1/api-keys/{first_id}"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    // Revoked with the other key: the first stops working at once.
    let (status, _) = support::send(
        s.http
            .delete(s.url(&format!("/v1/api-keys/{first_id}")))
            .bearer_auth(&second),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = s.get("/v1/webhooks").await;
    assert_eq!(status, 401, "a revoked key still works");
    // The account's last key cannot go; a bad name is refused with its field.
    let (status, _) = support::send(
        s.http
            .delete(s.url(&format!("/v1/api-keys/{second_id}")))
            .bearer_auth(&second),
    )
    .await;
    assert_eq!(status, 409);
    let (status, body) = support::send(
        s.http
            .post(s.url("/v1/api-keys"))
            .bearer_auth(&second)
            .json(&json!({"name": "a\nb"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("name"))
    );
    s.stop().await;
}

#[tokio::test]
async fn the_previous_secret_is_shown_until_its_grace_period_ends_by_the_servers_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = cdhooks_server::clock::ManualClock::at(cdhooks_server::clock::now_ms());
    let config = support::backend_config(dir.path()).await;
    let server = cdhooks_server::start_with_clock(config, clock.clone())
        .await
        .unwrap();
    let key = cdhooks_server::domain::api_key::generate();
    server
        .store
        .create_account(
            "ops@example.com",
            &cdhooks_server::domain::api_key::digest(&key),
            cdhooks_server::clock::Clock::now_ms(&*clock),
        )
        .await
        .unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{}", server.addr);
    let call = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&key);
        support::send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
    };
    let (status, webhook) = call(
        Method::POST,
        "/v1/webhooks",
        Some(json!({"url": "https://yourapp.com/hook", "events": ["*"]})),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let (status, rotated) = call(
        Method::POST,
        &format!("{path}/rotate-secret"),
        Some(json!({"grace_seconds": 60})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let ends = rotated["previous_secret_expires_at"].clone();
    assert!(ends.is_string(), "{rotated}");

    clock.advance(59_000);
    let (_, shown) = call(Method::GET, &path, None).await;
    assert_eq!(shown["previous_secret_expires_at"], ends);
    // Past the end by the server's clock (the system's has hardly moved): no longer shown.
    clock.advance(2_000);
    let (_, shown) = call(Method::GET, &path, None).await;
    assert!(shown.get("previous_secret_expires_at").is_none(), "{shown}");
    let (_, list) = call(Method::GET, "/v1/webhooks", None).await;
    assert!(list["data"][0].get("previous_secret_expires_at").is_none());
    server.stop().await;
}
