//! The event catalog as data, through the API: the docs' nine types seeded with schemas, a
//! type added, changed, deprecated and deleted by the provider's platform key, emissions
//! checked against the schema (nothing stored when refused), subscriptions by pattern that
//! take in types added later, and a change made elsewhere seen within the catalog's bound.

mod support;

use std::time::Duration;

use cdhooks_server::clock::Clock;
use reqwest::Method;
use serde_json::{json, Value};
use support::receiver::Receiver;
use support::{eventually, send, TestServer};

/// Calls `path` with the platform key.
async fn platform(
    s: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = s.http.request(method, s.url(path)).bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    send(request).await
}

fn dns_type() -> Value {
    json!({
        "name": "dns.zone.updated",
        "description": "A DNS zone changed",
        "schema": {
            "type": "object",
            "required": ["zone", "serial"],
            "properties": {
                "zone": {"type": "string", "minLength": 1},
                "serial": {"type": "integer", "minimum": 1},
                "records": {"type": "array", "items": {"type": "string"}}
            },
            "additionalProperties": false
        },
        "example": {"zone": "example.com", "serial": 2026120601}
    })
}

#[tokio::test]
async fn the_nine_types_are_seeded_with_schemas_their_examples_satisfy() {
    let s = TestServer::start().await;
    // The catalog needs no credential.
    let (status, list) = send(s.http.get(s.url("/v1/event-types"))).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let docs: Vec<&str> = cdhooks_core::catalog::CATALOG
        .iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, docs);
    for t in list["data"].as_array().unwrap() {
        assert_eq!(
            (t["version"].clone(), t["deprecated"].clone()),
            (json!(1), json!(false))
        );
        let required: Vec<&str> = t["schema"]["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let mut carried: Vec<&str> = t["example"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        carried.sort_unstable();
        assert_eq!(required, carried, "{}", t["name"]);
        // The example itself is emitted as it stands.
        let (status, answer) = s
            .post(
                "/v1/events",
                json!({"type": t["name"], "data": t["example"]}),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
    }
    let (status, one) = send(s.http.get(s.url("/v1/event-types/server.started"))).await;
    assert_eq!(
        (status, one["description"].as_str()),
        (200, Some("Server powered on"))
    );
    let (status, none) = send(s.http.get(s.url("/v1/event-types/server.exploded"))).await;
    assert_eq!(
        (status, none["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    s.stop().await;
}

#[tokio::test]
async fn emissions_are_checked_against_the_schema_and_nothing_refused_is_stored() {
    let s = TestServer::start().await;
    let cases = [
        // A typo: the required `amount` is missing.
        (
            json!({"payment_id": "pay_1", "amonut": 1999, "currency": "EUR", "reason": "card_declined"}),
            vec!["at `data`", "\"amount\" is a required property"],
        ),
        // The wrong type, named by its path.
        (
            json!({"payment_id": "pay_1", "amount": "19.99", "currency": "EUR", "reason": "card_declined"}),
            vec!["at `data.amount`", "\"integer\""],
        ),
    ];
    for (n, (data, expected)) in cases.into_iter().enumerate() {
        let id = format!("evt_refused_{n}");
        let (status, body) = s
            .post(
                "/v1/events",
                json!({"id": id, "type": "billing.payment.failed", "data": data}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_data")),
            "{body}"
        );
        assert_eq!(body["error"]["field"], "data");
        let message = body["error"]["message"].as_str().unwrap();
        for part in expected {
            assert!(message.contains(part), "{message} lacks {part}");
        }
        let (status, _) = s.get(&format!("/v1/events/{id}")).await;
        assert_eq!(status, 404, "a refused event is not stored");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_provider_adds_a_type_that_patterns_take_in_and_its_schema_guards() {
    let s = TestServer::start().await;
    let key = s.platform_key("backend").await;
    let receiver = Receiver::start().await;
    // Subscribed before the type exists: `*` takes it in.
    s.webhook(
        &receiver.url("/all"),
        &["*"],
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .await;
    let (status, refused) = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/dns"), "events": ["dns.*"]}),
        )
        .await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (400, Some("unknown_event_type"))
    );

    // Only a platform key manages the catalog.
    let (status, _) = s.post("/v1/event-types", dns_type()).await;
    assert_eq!(status, 403);
    let (status, created) =
        platform(&s, &key, Method::POST, "/v1/event-types", Some(dns_type())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["version"].clone(), created["deprecated"].clone()),
        (json!(1), json!(false))
    );
    let (status, again) =
        platform(&s, &key, Method::POST, "/v1/event-types", Some(dns_type())).await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("event_type_exists"))
    );
    for (change, code) in [
        (json!({"name": "DNS.updated"}), "invalid_event_type_name"),
        (json!({"schema": {"type": "string"}}), "invalid_schema"),
        (
            json!({"schema": {"type": "object", "properties": {"zone": {"type": 5}}}}),
            "invalid_schema",
        ),
        (
            json!({"example": {"zone": "example.com"}}),
            "example_rejected",
        ),
        (json!({"example": [1]}), "invalid_example"),
    ] {
        let mut body = dns_type();
        body["name"] = json!("dns.record.changed");
        body.as_object_mut()
            .unwrap()
            .extend(change.as_object().unwrap().clone());
        let (status, answer) = platform(
            &s,
            &key,
            Method::POST,
            "/v1/event-types",
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
    }

    // Subscribed after: a pattern takes it in now.
    s.webhook(
        &receiver.url("/dns"),
        &["dns.*"],
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    .await;
    let (status, accepted) = s
        .post(
            "/v1/events",
            json!({"type": "dns.zone.updated", "data": {"zone": "example.com", "serial": 7}}),
        )
        .await;
    assert_eq!(
        (status, &accepted["deliveries"]),
        (202, &json!(2)),
        "{accepted}"
    );
    eventually("both deliveries", Duration::from_secs(10), || {
        receiver.count() == 2
    })
    .await;
    let mut paths: Vec<String> = receiver.all().iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["/all", "/dns"]);
    for (data, part) in [
        (
            json!({"zone": "example.com", "serial": 0}),
            "at `data.serial`",
        ),
        (
            json!({"zone": "example.com", "serial": 7, "ttl": 60}),
            "ttl",
        ),
        (
            json!({"zone": "example.com", "serial": 7, "records": [1]}),
            "at `data.records.0`",
        ),
    ] {
        let (status, body) = s
            .post(
                "/v1/events",
                json!({"type": "dns.zone.updated", "data": data}),
            )
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_data")),
            "{body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(part),
            "{body}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn changes_are_versioned_deprecation_keeps_a_type_and_a_type_in_use_stays() {
    let s = TestServer::start().await;
    let key = s.platform_key("backend").await;
    platform(&s, &key, Method::POST, "/v1/event-types", Some(dns_type())).await;
    let path = "/v1/event-types/dns.zone.updated";

    // A schema that refuses the stored example is refused, and changes nothing.
    let stricter = json!({"schema": {"type": "object", "required": ["zone", "serial", "owner"]}});
    let (status, body) = platform(&s, &key, Method::PATCH, path, Some(stricter)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("example_rejected"))
    );
    // With an example it accepts: version 2.
    let (status, changed) = platform(
        &s,
        &key,
        Method::PATCH,
        path,
        Some(json!({
            "schema": {"type": "object", "required": ["zone", "serial", "owner"]},
            "example": {"zone": "example.com", "serial": 1, "owner": "acct_1"}
        })),
    )
    .await;
    assert_eq!(
        (status, changed["version"].clone()),
        (200, json!(2)),
        "{changed}"
    );
    // A description alone is no new version; deprecation is shown and keeps the type usable.
    let (_, described) = platform(
        &s,
        &key,
        Method::PATCH,
        path,
        Some(json!({"description": "Zone changed", "deprecated": true})),
    )
    .await;
    assert_eq!(
        (
            described["version"].clone(),
            described["deprecated"].clone(),
            described["description"].clone()
        ),
        (json!(2), json!(true), json!("Zone changed"))
    );
    // The served document is the stored catalog's: the type, its schema, its deprecation.
    let (_, document) = send(s.http.get(s.url("/v1/openapi.json"))).await;
    let delivery = &document["webhooks"]["dns.zone.updated"]["post"];
    assert_eq!(delivery["deprecated"], true);
    assert_eq!(
        delivery["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
            ["required"],
        json!(["zone", "serial", "owner"])
    );
    let (_, shown) = s.get(path).await;
    assert_eq!(
        (shown["version"].clone(), shown["deprecated"].clone()),
        (json!(2), json!(true))
    );
    let hook = s
        .webhook(
            "http://127.0.0.1:9/dns",
            &["dns.zone.updated"],
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .await;
    let (status, _) = s
        .post(
            "/v1/events",
            json!({"type": "dns.zone.updated", "data": {"zone": "a", "serial": 1, "owner": "x"}}),
        )
        .await;
    assert_eq!(status, 202);

    // Deleting it while a webhook names it is refused; after, the type is gone.
    let (status, body) = platform(&s, &key, Method::DELETE, path, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("event_type_in_use")),
        "{body}"
    );
    let hook_path = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    let (status, _) = s
        .call(
            Method::PATCH,
            &hook_path,
            Some(json!({"events": ["server.*"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = platform(&s, &key, Method::DELETE, path, None).await;
    assert_eq!(status, 204);
    let (status, _) = s.get(path).await;
    assert_eq!(status, 404);
    let (status, body) = s
        .post(
            "/v1/events",
            json!({"type": "dns.zone.updated", "data": {"zone": "a", "serial": 1, "owner": "x"}}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("unknown_event_type"))
    );
    // A deleted seeded type does not come back at the next start.
    let (status, _) = platform(
        &s,
        &key,
        Method::DELETE,
        "/v1/event-types/server.rebooted",
        None,
    )
    .await;
    assert_eq!(status, 204);
    let mut s = s;
    s.restart().await;
    let (status, _) = s.get("/v1/event-types/server.rebooted").await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn a_change_made_elsewhere_is_seen_within_the_catalogs_bound() {
    let clock = cdhooks_server::clock::ManualClock::at(cdhooks_server::clock::now_ms());
    let s = TestServer::start_with_clock(clock.clone()).await;
    let (status, _) = s.get("/v1/event-types/dns.zone.updated").await;
    assert_eq!(status, 404);
    // Another instance adds a type: it writes the shared store.
    let request: cdhooks_server::domain::event_type::CreateEventTypeRequest =
        serde_json::from_value(dns_type()).unwrap();
    let new = cdhooks_server::domain::event_type::NewEventType::validate(request).unwrap();
    let store = &s.server.as_ref().unwrap().store;
    store.create_event_type(&new, clock.now_ms()).await.unwrap();
    clock.advance(cdhooks_server::app::catalog::CATALOG_TTL_MS - 1);
    let (status, _) = s.get("/v1/event-types/dns.zone.updated").await;
    assert_eq!(status, 404, "still the catalog read before the change");
    clock.advance(1);
    let (status, _) = s.get("/v1/event-types/dns.zone.updated").await;
    assert_eq!(status, 200, "read again once the bound has passed");
    s.stop().await;
}
