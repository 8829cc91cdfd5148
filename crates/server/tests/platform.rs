//! The provider's side, end to end on a real server and real receivers: accounts made and
//! found by the platform API, emission for any account (one by one and in all-or-nothing
//! batches), keys that say what they may do, portal sessions, and the tenancy matrix — every
//! route with every kind of credential. `make test` runs it on SQLite and on PostgreSQL.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use support::receiver::{Behaviour, Receiver};
use support::{eventually, send, TestServer};

/// A server, its platform key, and helpers to call it with any credential.
struct Provider {
    s: TestServer,
    platform: String,
}

impl Provider {
    async fn start_with(tweak: impl FnOnce(&mut cdhooks_server::config::ServeConfig)) -> Self {
        let s = TestServer::start_with(tweak).await;
        let platform = s.platform_key("backend").await;
        Provider { s, platform }
    }

    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Calls `path` with `credential` (none when empty), naming `account` in Cdhooks-Account.
    async fn call(
        &self,
        credential: &str,
        account: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.s.http.request(method, self.s.url(path));
        if !credential.is_empty() {
            request = request.bearer_auth(credential);
        }
        if let Some(account) = account {
            request = request.header("Cdhooks-Account", account);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    /// Calls a platform route with the platform key.
    async fn platform(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(&self.platform, None, method, path, body).await
    }

    /// Creates an account through the platform API; returns its id and first key.
    async fn open_account(&self, email: &str, external_id: Option<&str>) -> (String, String) {
        let (status, body) = self
            .platform(
                Method::POST,
                "/v1/accounts",
                Some(json!({"email": email, "external_id": external_id})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["api_key"]["scope"], "manage");
        (
            body["account"]["id"].as_str().unwrap().to_owned(),
            body["api_key"]["key"].as_str().unwrap().to_owned(),
        )
    }

    /// Registers a webhook with an account key; returns its id.
    async fn webhook(&self, key: &str, url: &str) -> String {
        let (status, body) = self
            .call(
                key,
                None,
                Method::POST,
                "/v1/webhooks",
                Some(json!({"url": url, "events": ["*"], "secret": "your_webhook_secret"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Opens a portal session for an account; returns its token and id.
    async fn portal(&self, account: &str, read_only: bool) -> (String, String) {
        let (status, body) = self
            .platform(
                Method::POST,
                &format!("/v1/accounts/{account}/portal-sessions"),
                Some(json!({"read_only": read_only})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let url = body["url"].as_str().unwrap();
        let token = url.split_once("#session=").unwrap().1.to_owned();
        assert!(token.starts_with("cdhs_"), "{url}");
        (token, body["id"].as_str().unwrap().to_owned())
    }
}

/// The ids of the events a receiver got at `path`.
fn received_ids(receiver: &Receiver, path: &str) -> Vec<String> {
    receiver
        .all()
        .iter()
        .filter(|r| r.path == path)
        .map(|r| r.json()["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_emits_for_any_account_and_customer_keys_send_only_test_events() {
    let p = Provider::start().await;
    let receiver = Receiver::start().await;
    let (a, key_a) = p.open_account("a@example.com", Some("cus_a")).await;
    let (b, key_b) = p.open_account("b@example.com", Some("cus_b")).await;
    let hook_a = p.webhook(&key_a, &receiver.url("/a")).await;
    p.webhook(&key_b, &receiver.url("/b")).await;

    // The platform emits for A by path, and for B through the account route with the header.
    let event = json!({"type": "billing.payment.succeeded", "data": support::valid_data("billing.payment.succeeded", json!({"amount": 1200}))});
    let (status, for_a) = p
        .platform(
            Method::POST,
            &format!("/v1/accounts/{a}/events"),
            Some(event.clone()),
        )
        .await;
    assert_eq!((status, &for_a["deliveries"]), (202, &json!(1)), "{for_a}");
    let (status, for_b) = p
        .call(
            &p.platform,
            Some(&b),
            Method::POST,
            "/v1/events",
            Some(event.clone()),
        )
        .await;
    assert_eq!(status, 202, "{for_b}");
    let id_a = for_a["event"]["id"].as_str().unwrap().to_owned();
    let id_b = for_b["event"]["id"].as_str().unwrap().to_owned();
    eventually("both deliveries", Duration::from_secs(10), || {
        receiver.count() == 2
    })
    .await;
    assert_eq!(received_ids(&receiver, "/a"), std::slice::from_ref(&id_a));
    assert_eq!(received_ids(&receiver, "/b"), [id_b]);

    // A customer's key cannot make the provider sign a real event…
    let (status, body) = p
        .call(
            &key_a,
            None,
            Method::POST,
            "/v1/events",
            Some(event.clone()),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("platform key"));
    // …nor act as the platform, nor for another account.
    let (status, _) = p
        .call(
            &key_a,
            None,
            Method::POST,
            &format!("/v1/accounts/{a}/events"),
            Some(event.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = p
        .call(&key_a, Some(&b), Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(status, 403);
    // A platform key on an account route must say which account.
    let (status, body) = p
        .call(&p.platform, None, Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("account_required"))
    );

    // It sends test events, marked under the signature: the id in the signed body and in
    // webhook-id starts with evt_test_.
    let (status, test) = p
        .call(
            &key_a,
            None,
            Method::POST,
            &format!("/v1/webhooks/{hook_a}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{test}");
    let test_id = test["event"]["id"].as_str().unwrap().to_owned();
    assert!(test_id.starts_with("evt_test_"), "{test_id}");
    eventually("the test delivery", Duration::from_secs(10), || {
        receiver.count() == 3
    })
    .await;
    let got = receiver
        .all()
        .into_iter()
        .find(|r| r.json()["id"] == test_id.as_str())
        .unwrap();
    assert_eq!(got.header("webhook-id"), test_id);
    cdhooks_core::legacy::verify(
        &got.body,
        got.header("x-webhook-signature").as_bytes(),
        b"your_webhook_secret",
    )
    .expect("the test event is signed like any other");
    // A real event may not pass for a test, nor a test for a real one.
    let (status, body) = p
        .platform(
            Method::POST,
            &format!("/v1/accounts/{a}/events"),
            Some(json!({"type": "server.started", "data": support::valid_data("server.started", json!({})), "id": "evt_test_fake"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_event_id"))
    );
    assert_eq!(received_ids(&receiver, "/a"), [id_a, test_id]);
    p.s.stop().await;
}

/// What one credential may do with each route: the status it gets.
struct Row {
    name: &'static str,
    credential: String,
    statuses: [u16; 15],
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_each_credential_as_documented_and_no_account_sees_another() {
    use cdhooks_server::domain::api_key::digest;
    let p = Provider::start().await;
    let receiver = Receiver::start().await;
    let (a, key_a) = p.open_account("a@example.com", None).await;
    let (_, key_b) = p.open_account("b@example.com", None).await;
    let hook_a = p.webhook(&key_a, &receiver.url("/a")).await;
    let hook_b = p.webhook(&key_b, &receiver.url("/b")).await;
    let (_, sent) = p
        .call(
            &key_a,
            None,
            Method::POST,
            &format!("/v1/webhooks/{hook_a}/test"),
            None,
        )
        .await;
    let event_a = sent["event"]["id"].as_str().unwrap().to_owned();
    let (_, deliveries) = p
        .call(
            &key_a,
            None,
            Method::GET,
            &format!("/v1/webhooks/{hook_a}/deliveries"),
            None,
        )
        .await;
    let delivery_a = deliveries["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, read_key) = p
        .call(
            &key_a,
            None,
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "viewer", "scope": "read"})),
        )
        .await;
    assert_eq!(read_key["scope"], "read");
    let read_key = read_key["key"].as_str().unwrap().to_owned();
    // A manage key may not make a key that does more than itself.
    let (status, _) = p
        .call(
            &key_a,
            None,
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "x", "scope": "full"})),
        )
        .await;
    assert_eq!(status, 403);
    let (_, revoked) = p
        .call(
            &key_a,
            None,
            Method::POST,
            "/v1/api-keys",
            Some(json!({"name": "old"})),
        )
        .await;
    let (status, _) = p
        .call(
            &key_a,
            None,
            Method::DELETE,
            &format!("/v1/api-keys/{}", revoked["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (portal_rw, _) = p.portal(&a, false).await;
    let (portal_ro, _) = p.portal(&a, true).await;
    // An expired session: opened an hour ago for a minute.
    let expired = cdhooks_server::domain::api_key::generate_with("cdhs_");
    let now = cdhooks_server::clock::now_ms();
    p.s.server
        .as_ref()
        .unwrap()
        .store
        .create_portal_session(
            &a,
            &digest(&expired),
            false,
            now - 3_540_000,
            now - 3_600_000,
        )
        .await
        .unwrap();

    let routes: [(Method, String, Option<Value>); 15] = [
        (Method::GET, "/v1/webhooks".into(), None),
        (Method::GET, format!("/v1/webhooks/{hook_a}"), None),
        (
            Method::POST,
            "/v1/webhooks".into(),
            Some(json!({"url": receiver.url("/new"), "events": ["server.*"]})),
        ),
        (
            Method::PATCH,
            format!("/v1/webhooks/{hook_a}"),
            Some(json!({"description": "edited"})),
        ),
        (Method::POST, format!("/v1/webhooks/{hook_a}/test"), None),
        (
            Method::POST,
            format!("/v1/webhooks/{hook_a}/rotate-secret"),
            Some(json!({"secret": "your_webhook_secret", "grace_seconds": 0})),
        ),
        (
            Method::GET,
            format!("/v1/webhooks/{hook_a}/deliveries"),
            None,
        ),
        (Method::GET, format!("/v1/deliveries/{delivery_a}"), None),
        (
            Method::POST,
            "/v1/events".into(),
            Some(
                json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))}),
            ),
        ),
        (
            Method::POST,
            "/v1/api-keys".into(),
            Some(json!({"name": "another"})),
        ),
        (Method::GET, "/v1/api-keys".into(), None),
        (Method::POST, "/v1/inboxes".into(), None),
        (Method::GET, "/v1/accounts".into(), None),
        (
            Method::POST,
            format!("/v1/accounts/{a}/portal-sessions"),
            None,
        ),
        (Method::GET, format!("/v1/events/{event_a}"), None),
    ];
    let rows = [
        Row {
            name: "platform key for A",
            credential: p.platform.clone(),
            statuses: [
                200, 200, 201, 200, 202, 200, 200, 200, 202, 201, 200, 201, 200, 201, 200,
            ],
        },
        Row {
            name: "A's manage key",
            credential: key_a.clone(),
            statuses: [
                200, 200, 201, 200, 202, 200, 200, 200, 403, 201, 200, 201, 403, 403, 200,
            ],
        },
        Row {
            name: "A's read key",
            credential: read_key,
            statuses: [
                200, 200, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403, 403, 403, 200,
            ],
        },
        Row {
            name: "B's key",
            credential: key_b.clone(),
            statuses: [
                200, 404, 201, 404, 404, 404, 404, 404, 403, 201, 200, 201, 403, 403, 404,
            ],
        },
        Row {
            name: "A's portal session",
            credential: portal_rw,
            statuses: [
                200, 200, 201, 200, 202, 200, 200, 200, 403, 403, 200, 403, 403, 403, 200,
            ],
        },
        Row {
            name: "A's read-only portal session",
            credential: portal_ro,
            statuses: [
                200, 200, 403, 403, 403, 403, 200, 200, 403, 403, 200, 403, 403, 403, 200,
            ],
        },
        Row {
            name: "an expired session",
            credential: expired,
            statuses: [401; 15],
        },
        Row {
            name: "a revoked key",
            credential: revoked["key"].as_str().unwrap().to_owned(),
            statuses: [401; 15],
        },
        Row {
            name: "no credential",
            credential: String::new(),
            statuses: [401; 15],
        },
    ];
    for row in &rows {
        let account = (row.credential == p.platform).then_some(a.as_str());
        for ((method, path, body), expected) in routes.iter().zip(row.statuses) {
            let (status, answer) = p
                .call(&row.credential, account, method.clone(), path, body.clone())
                .await;
            assert_eq!(status, expected, "{} {method} {path}: {answer}", row.name);
            let text = answer.to_string();
            let (mine, theirs) = if row.credential == key_b {
                (&hook_b, &hook_a)
            } else {
                (&hook_a, &hook_b)
            };
            assert!(
                !text.contains(theirs.as_str()),
                "{} saw another account's webhook: {text}",
                row.name
            );
            if path == "/v1/webhooks" && *method == Method::GET && status == 200 {
                assert!(text.contains(mine.as_str()), "{}: {text}", row.name);
            }
            if status == 403 {
                assert_eq!(
                    answer["error"]["code"], "forbidden",
                    "{}: {answer}",
                    row.name
                );
            }
        }
    }
    // Nothing the others did reached B's endpoint but what B's own key made.
    assert!(received_ids(&receiver, "/b")
        .iter()
        .all(|id| id.starts_with("evt_test_") || id.is_empty()));
    p.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_stored_all_together_or_not_at_all() {
    let p = Provider::start().await;
    let receiver = Receiver::start().await;
    let (a, key_a) = p.open_account("a@example.com", None).await;
    let (b, key_b) = p.open_account("b@example.com", None).await;
    p.webhook(&key_a, &receiver.url("/a")).await;
    p.webhook(&key_b, &receiver.url("/b")).await;
    let item = |account: &str, id: &str| json!({"account": account, "type": "billing.payment.succeeded", "data": support::valid_data("billing.payment.succeeded", json!({"plan": "pro"})), "id": id});

    let (status, body) = p
        .platform(
            Method::POST,
            "/v1/events/batch",
            Some(json!({"events": [item(&a, "inv_1"), item(&b, "inv_2"), item(&a, "inv_3")]})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["inv_1", "inv_2", "inv_3"]);
    assert!(body["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["deliveries"] == 1));
    eventually("three deliveries", Duration::from_secs(10), || {
        receiver.count() == 3
    })
    .await;
    assert_eq!(received_ids(&receiver, "/a").len(), 2);
    assert_eq!(received_ids(&receiver, "/b"), ["inv_2"]);

    // One bad event refuses the whole batch, whatever it is; nothing of it is stored.
    let unknown = "acct_00000000000000000000000000000000";
    for (events, status, code) in [
        (
            json!([item(&a, "inv_4"), item(unknown, "inv_5")]),
            404,
            "unknown_account",
        ),
        (
            json!([item(&a, "inv_4"), item(&b, "inv_2")]),
            409,
            "conflict",
        ),
        (
            json!([item(&a, "inv_4"), item(&a, "inv_4")]),
            409,
            "conflict",
        ),
        (
            json!([item(&a, "inv_4"), {"account": b, "type": "nope", "data": {}}]),
            400,
            "unknown_event_type",
        ),
        (json!([]), 400, "invalid_batch"),
        (
            Value::Array((0..101).map(|i| item(&a, &format!("x{i}"))).collect()),
            400,
            "invalid_batch",
        ),
    ] {
        let (got, body) = p
            .platform(
                Method::POST,
                "/v1/events/batch",
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(
            (got, body["error"]["code"].as_str().unwrap_or_default()),
            (status, code),
            "{body}"
        );
        let (found, _) = p
            .call(&p.platform, Some(&a), Method::GET, "/v1/events/inv_4", None)
            .await;
        assert_eq!(found, 404, "a refused batch stored nothing");
    }
    // Only the platform sends batches.
    let (status, _) = p
        .call(
            &key_a,
            None,
            Method::POST,
            "/v1/events/batch",
            Some(json!({"events": [item(&a, "inv_9")]})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(receiver.count(), 3);
    p.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_store_a_batch_is_refused_whole_and_every_accepted_one_kept() {
    if support::on_postgres() {
        return; // the cap is the embedded store's; PostgreSQL's disk is tested in storage.rs
    }
    let p = Provider::start_with(|c| c.max_database_mb = Some(2)).await;
    let (a, _) = p.open_account("a@example.com", None).await;
    let batch = |n: usize| json!({"events": (0..20).map(|i| json!({"account": a, "type": "server.started", "data": support::valid_data("server.started", json!({"n": i, "pad": "x".repeat(2_000)})), "id": format!("b{n}_{i}")})).collect::<Vec<_>>()});
    // Batches until the store is full: each is taken whole or refused whole.
    let mut accepted = 0;
    let refused = loop {
        let (status, body) = p
            .platform(Method::POST, "/v1/events/batch", Some(batch(accepted)))
            .await;
        match status {
            202 => accepted += 1,
            507 => {
                assert_eq!(body["error"]["code"], "storage_full");
                break accepted;
            }
            other => panic!("batch {accepted}: {other} {body}"),
        }
        assert!(accepted < 200, "a 2 MiB store never filled");
    };
    assert!(accepted > 0);
    for i in 0..20 {
        let (found, _) = p
            .call(
                &p.platform,
                Some(&a),
                Method::GET,
                &format!("/v1/events/b{refused}_{i}"),
                None,
            )
            .await;
        assert_eq!(
            found, 404,
            "b{refused}_{i} was stored though its batch was refused"
        );
    }
    for n in 0..accepted {
        for i in [0, 19] {
            let (found, _) = p
                .call(
                    &p.platform,
                    Some(&a),
                    Method::GET,
                    &format!("/v1/events/b{n}_{i}"),
                    None,
                )
                .await;
            assert_eq!(found, 200, "b{n}_{i} was acknowledged but is missing");
        }
    }
    p.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_found_changed_and_deleted_and_their_credentials_die_with_them() {
    let p = Provider::start_with(|c| c.max_attempts = 1).await;
    let receiver = Receiver::start().await;
    receiver.set(Behaviour::Status(500));
    let (a, key_a) = p.open_account("first@example.com", Some("cus_42")).await;
    let (status, body) = p
        .platform(
            Method::POST,
            "/v1/accounts",
            Some(json!({"email": "x@example.com", "external_id": "cus_42"})),
        )
        .await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("conflict")));
    let (status, body) = p
        .platform(
            Method::POST,
            "/v1/accounts",
            Some(json!({"email": "not an email"})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_email"))
    );
    let (_, found) = p
        .platform(Method::GET, "/v1/accounts?external_id=cus_42", None)
        .await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], a.as_str());
    let (_, found) = p
        .platform(Method::GET, "/v1/accounts?email=nobody%40example.com", None)
        .await;
    assert_eq!(found["data"], json!([]));
    let (status, _) = p
        .platform(Method::GET, "/v1/accounts?colour=blue", None)
        .await;
    assert_eq!(status, 400);

    // A changed email receives the next disabling email.
    let (status, changed) = p
        .platform(
            Method::PATCH,
            &format!("/v1/accounts/{a}"),
            Some(json!({"email": "ops@example.com", "name": "Acme"})),
        )
        .await;
    assert_eq!(
        (status, &changed["email"], &changed["name"]),
        (200, &json!("ops@example.com"), &json!("Acme"))
    );
    let hook = p.webhook(&key_a, &receiver.url("/down")).await;
    p.platform(
        Method::POST,
        &format!("/v1/accounts/{a}/events"),
        Some(
            json!({"type": "server.error", "data": support::valid_data("server.error", json!({}))}),
        ),
    )
    .await;
    let outbox = p.s.dir.path().join("outbox");
    eventually("the disabling email", Duration::from_secs(15), || {
        std::fs::read_dir(&outbox).map(|d| d.count()).unwrap_or(0) == 1
    })
    .await;
    let mail = std::fs::read_dir(&outbox).unwrap().next().unwrap().unwrap();
    let mail = std::fs::read_to_string(mail.path()).unwrap();
    assert!(
        mail.contains("To: ops@example.com") && mail.contains(&hook),
        "{mail}"
    );
    // The operator's list shows it, with why.
    let (status, listed) = p
        .platform(Method::GET, "/v1/accounts?needs_attention=true", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed["data"][0]["id"], a.as_str(), "{listed}");
    assert_eq!(listed["data"][0]["attention"]["disabled_webhooks"], 1);
    let (status, _) = p
        .platform(Method::GET, "/v1/accounts?needs_attention=maybe", None)
        .await;
    assert_eq!(status, 400);

    // Deleting takes the account's credentials with it, at once; again is no error.
    let (portal, _) = p.portal(&a, false).await;
    let (_, inbox) = p
        .call(&key_a, None, Method::POST, "/v1/inboxes", None)
        .await;
    let inbox_url = p.s.url(inbox["path"].as_str().unwrap());
    for credential in [&key_a, &portal] {
        let (status, _) = p
            .call(credential, None, Method::GET, "/v1/webhooks", None)
            .await;
        assert_eq!(status, 200);
    }
    let (status, _) = p
        .platform(Method::DELETE, &format!("/v1/accounts/{a}"), None)
        .await;
    assert_eq!(status, 204);
    for credential in [&key_a, &portal] {
        let (status, _) = p
            .call(credential, None, Method::GET, "/v1/webhooks", None)
            .await;
        assert_eq!(status, 401);
    }
    let (status, _) = p
        .platform(Method::GET, &format!("/v1/accounts/{a}"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = send(p.s.http.post(&inbox_url).body("{}")).await;
    assert_eq!(status, 404, "the account's inbox went with it");
    let (status, _) = p
        .platform(Method::DELETE, &format!("/v1/accounts/{a}"), None)
        .await;
    assert_eq!(status, 204);
    p.s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sessions_and_platform_keys_stop_at_once_when_revoked() {
    let p = Provider::start().await;
    let (a, _) = p.open_account("a@example.com", None).await;
    let (token, session) = p.portal(&a, false).await;
    let (status, _) = p
        .call(&token, None, Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = p
        .platform(
            Method::DELETE,
            &format!("/v1/accounts/{a}/portal-sessions/{session}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = p
        .call(&token, None, Method::GET, "/v1/webhooks", None)
        .await;
    assert_eq!(status, 401);
    let (status, body) = p
        .platform(
            Method::POST,
            &format!("/v1/accounts/{a}/portal-sessions"),
            Some(json!({"ttl_seconds": 86_401})),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_ttl"))
    );

    // Platform keys: made over the API, shown once, never revoking the caller's own.
    let (status, made) = p
        .platform(
            Method::POST,
            "/v1/platform-keys",
            Some(json!({"name": "billing"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let second = made["key"].as_str().unwrap().to_owned();
    assert!(second.starts_with("cdhp_"));
    let (_, listed) = p.platform(Method::GET, "/v1/platform-keys", None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&second));
    let (status, _) = p
        .call(&second, None, Method::GET, "/v1/accounts", None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = p
        .call(
            &second,
            None,
            Method::DELETE,
            &format!("/v1/platform-keys/{}", made["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 409, "a key does not revoke itself");
    let (status, _) = p
        .platform(
            Method::DELETE,
            &format!("/v1/platform-keys/{}", made["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = p
        .call(&second, None, Method::GET, "/v1/accounts", None)
        .await;
    assert_eq!(status, 401);
    p.s.stop().await;
}
