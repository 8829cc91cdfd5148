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
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        s.dir.path().join("cdhooks.sqlite3").display()
    ))
    .await
    .unwrap();
    let stored: String = sqlx::query_scalar("SELECT signing_key FROM webhooks")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains("whsk_"));
    s.stop().await;
}
