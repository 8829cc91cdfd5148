//! Webhooks signed with Ed25519 (Standard Webhooks `v1a`), end to end on a real server and a
//! real receiver: the public key verifies every delivery, the HMAC signatures stay for the
//! docs' receivers, and whoever holds only the public key or the secret cannot make a `v1a`
//! signature that verifies. The key is sealed at rest with `--secret-key-file`.

mod support;

use std::time::Duration;

use base64::Engine as _;
use cdhooks_core::asymmetric::{WebhookPublicKey, WebhookSigningKey};
use cdhooks_core::standard::{StandardError, StandardVerifier};
use serde_json::json;
use support::receiver::Receiver;
use support::{eventually, TestServer};

const SECRET: &str = "your_webhook_secret";

fn now_s() -> u64 {
    (cdhooks_server::clock::now_ms() / 1000) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_webhook_is_verified_by_its_public_key_and_cannot_be_forged_with_it() {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (status, hook) = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/hook"), "events": ["*"], "secret": SECRET, "signing": "ed25519"}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["signing"], "ed25519");
    let public_key = hook["public_key"].as_str().unwrap().to_owned();
    assert!(public_key.starts_with("whpk_"), "{public_key}");
    assert!(
        !hook.to_string().contains("whsk_"),
        "the private key is never shown"
    );
    let (_, again) = s
        .get(&format!("/v1/webhooks/{}", hook["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        again["public_key"],
        public_key.as_str(),
        "shown at any time"
    );
    let (status, plain) = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/plain"), "events": ["*"], "secret": SECRET}),
        )
        .await;
    assert_eq!((status, &plain["signing"]), (201, &json!("hmac")));
    assert!(plain.get("public_key").is_none());
    let (status, body) = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/x"), "events": ["*"], "signing": "rsa"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_signing"))
    );

    s.emit("server.started", json!({"server_id": "srv_1"}))
        .await;
    eventually("both deliveries", Duration::from_secs(10), || {
        receiver.count() == 2
    })
    .await;
    let all = receiver.all();
    let got = all.iter().find(|r| r.path == "/hook").unwrap();
    let (id, timestamp, signatures) = (
        got.header("webhook-id"),
        got.header("webhook-timestamp"),
        got.header("webhook-signature"),
    );
    let public = WebhookPublicKey::parse(&public_key).unwrap();
    public
        .verify(id, timestamp, signatures, &got.body, now_s(), 300)
        .expect("the public key verifies the delivery");
    // The HMAC signatures are there too, for receivers that hold the secret.
    StandardVerifier::new(SECRET)
        .unwrap()
        .verify(id, timestamp, signatures, &got.body, now_s(), 300)
        .unwrap();
    cdhooks_core::legacy::verify(
        &got.body,
        got.header("x-webhook-signature").as_bytes(),
        SECRET.as_bytes(),
    )
    .unwrap();
    // The HMAC-only webhook has no v1a entry.
    let plain_got = all.iter().find(|r| r.path == "/plain").unwrap();
    assert!(!plain_got.header("webhook-signature").contains("v1a,"));

    // A forger with the secret (or the public key) changes the body and signs what it can: the
    // v1 entry verifies with the secret, the v1a check with the public key refuses it.
    let forged = br#"{"id":"evt_x","type":"billing.payment.succeeded","created_at":"2025-01-15T10:30:00Z","data":{}}"#;
    let ts: u64 = timestamp.parse().unwrap();
    let with_secret = StandardVerifier::new(SECRET)
        .unwrap()
        .sign_header(id, ts, forged);
    assert_eq!(
        public.verify(id, timestamp, with_secret.as_str(), forged, now_s(), 300),
        Err(StandardError::NoSupportedSignature)
    );
    let own_key = WebhookSigningKey::from_seed(&[1; 32]).sign_entry(id, ts, forged);
    let replayed_v1a = signatures
        .split(' ')
        .find(|e| e.starts_with("v1a,"))
        .unwrap();
    for header in [
        own_key.as_str(),
        &format!("{} {replayed_v1a}", with_secret.as_str()),
    ] {
        assert_eq!(
            public.verify(id, timestamp, header, forged, now_s(), 300),
            Err(StandardError::SignatureMismatch),
            "{header}"
        );
    }

    // The delivery's request, as the API shows it, carries the same v1a entry.
    let (_, deliveries) = s
        .get(&format!(
            "/v1/webhooks/{}/deliveries",
            hook["id"].as_str().unwrap()
        ))
        .await;
    let delivery = deliveries["data"][0]["id"].as_str().unwrap();
    let (_, request) = s.get(&format!("/v1/deliveries/{delivery}/request")).await;
    let shown = request["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h[0] == "webhook-signature")
        .unwrap()[1]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(shown.contains(replayed_v1a), "{shown}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_key_is_sealed_at_rest() {
    if support::on_postgres() {
        return; // reads the embedded database file; the sealing is the same for both stores
    }
    let key_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        key_file.path(),
        base64::engine::general_purpose::STANDARD.encode([42u8; 32]),
    )
    .unwrap();
    let path = key_file.path().to_owned();
    let s = TestServer::start_with(|c| c.secret_key_file = Some(path)).await;
    let receiver = Receiver::start().await;
    let hook = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/hook"), "events": ["*"], "secret": SECRET, "signing": "ed25519"}),
        )
        .await
        .1;
    s.emit("server.started", json!({})).await;
    eventually("the delivery", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    let got = &receiver.all()[0];
    WebhookPublicKey::parse(hook["public_key"].as_str().unwrap())
        .unwrap()
        .verify(
            got.header("webhook-id"),
            got.header("webhook-timestamp"),
            got.header("webhook-signature"),
            &got.body,
            now_s(),
            300,
        )
        .expect("signed with the opened key");
    // A rotated-out key is sealed too.
    let (status, _) = s
        .post(
            &format!(
                "/v1/webhooks/{}/rotate-signing-key",
                hook["id"].as_str().unwrap()
            ),
            json!({"grace_seconds": 3600}),
        )
        .await;
    assert_eq!(status, 200);
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        s.dir.path().join("cdhooks.sqlite3").display()
    ))
    .await
    .unwrap();
    let (stored, previous): (String, String) =
        sqlx::query_as("SELECT signing_key, previous_signing_keys FROM webhooks")
            .fetch_one(&db)
            .await
            .unwrap();
    db.close().await;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(previous.contains("enc:v1:"), "{previous}");
    assert!(!stored.contains("whsk_") && !previous.contains("whsk_"));
    s.stop().await;
}

/// The `v1a` entries of a delivery's `webhook-signature`, in order.
fn v1a_entries(signatures: &str) -> Vec<&str> {
    signatures
        .split(' ')
        .filter(|e| e.starts_with("v1a,"))
        .collect()
}

/// Whether `public_key` verifies `entry` (one `v1a` entry) of a received delivery.
fn verifies(public_key: &str, got: &support::receiver::Received, entry: &str) -> bool {
    WebhookPublicKey::parse(public_key)
        .unwrap()
        .verify(
            got.header("webhook-id"),
            got.header("webhook-timestamp"),
            entry,
            &got.body,
            now_s(),
            300,
        )
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotation_signs_with_both_keys_during_its_grace_period() {
    let s = TestServer::start().await;
    let receiver = Receiver::start().await;
    let (_, hook) = s
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/hook"), "events": ["*"], "secret": SECRET}),
        )
        .await;
    let id = hook["id"].as_str().unwrap().to_owned();
    let rotate = |body| {
        let (s, path) = (&s, format!("/v1/webhooks/{id}/rotate-signing-key"));
        async move { s.post(&path, body).await }
    };
    let mut delivered = 0;
    let mut next_delivery = || {
        delivered += 1;
        let (s, receiver, n) = (&s, &receiver, delivered);
        async move {
            s.emit("server.started", json!({"n": n})).await;
            eventually("the delivery", Duration::from_secs(10), || {
                receiver.count() == n
            })
            .await;
            receiver.all().pop().unwrap()
        }
    };

    // An HMAC webhook switches to Ed25519 by its first rotation: one key, nothing previous.
    let (status, first) = rotate(json!({})).await;
    assert_eq!(
        (status, &first["signing"]),
        (200, &json!("ed25519")),
        "{first}"
    );
    assert!(first.get("previous_public_keys").is_none(), "{first}");
    assert!(
        first.get("secret").is_none(),
        "the secret is not shown by a key rotation"
    );
    let k1 = first["public_key"].as_str().unwrap().to_owned();
    let got = next_delivery().await;
    let entries = v1a_entries(got.header("webhook-signature"));
    assert_eq!(entries.len(), 1);
    assert!(verifies(&k1, &got, entries[0]));

    // With a grace period the old key signs a second entry, after the new one's.
    let (status, second) = rotate(json!({"grace_seconds": 3600})).await;
    assert_eq!(status, 200, "{second}");
    let k2 = second["public_key"].as_str().unwrap().to_owned();
    assert_ne!(k1, k2);
    assert_eq!(second["previous_public_keys"][0]["public_key"], k1.as_str());
    assert!(second["previous_public_keys"][0]["expires_at"].is_string());
    let got = next_delivery().await;
    let entries = v1a_entries(got.header("webhook-signature"));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(verifies(&k2, &got, entries[0]) && !verifies(&k1, &got, entries[0]));
    assert!(verifies(&k1, &got, entries[1]) && !verifies(&k2, &got, entries[1]));

    // Without one, the retired key stops at once; the first key keeps its own grace period.
    let (_, third) = rotate(json!({"grace_seconds": 0})).await;
    let k3 = third["public_key"].as_str().unwrap().to_owned();
    let previous: Vec<&str> = third["previous_public_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["public_key"].as_str().unwrap())
        .collect();
    assert_eq!(previous, [k1.as_str()]);
    let got = next_delivery().await;
    let signatures = got.header("webhook-signature").to_owned();
    let entries = v1a_entries(&signatures);
    assert_eq!(entries.len(), 2);
    assert!(verifies(&k3, &got, entries[0]) && verifies(&k1, &got, entries[1]));
    assert!(
        !verifies(&k2, &got, &signatures),
        "the key rotated out without grace"
    );
    // The HMAC signatures did not change through all this.
    StandardVerifier::new(SECRET)
        .unwrap()
        .verify(
            got.header("webhook-id"),
            got.header("webhook-timestamp"),
            &signatures,
            &got.body,
            now_s(),
            300,
        )
        .unwrap();
    let (_, shown) = s.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(shown["public_key"], k3.as_str());
    assert_eq!(shown["previous_public_keys"][0]["public_key"], k1.as_str());

    // Bad requests and unknown webhooks get their codes.
    let (status, body) = rotate(json!({"grace_seconds": -1})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_request")),
        "{body}"
    );
    let (status, body) = rotate(json!({"grace_seconds": 99_999_999})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_request")),
        "{body}"
    );
    let (status, _) = s
        .post("/v1/webhooks/wh_nope/rotate-signing-key", json!({}))
        .await;
    assert_eq!(status, 404);
    s.stop().await;
}
