//! Signing secrets at rest: with `--secret-key-file` the database holds them sealed (checked in
//! the database file itself), deliveries are signed with the real secret, and a server started
//! without the key (or with another) refuses to start, naming the flag.

mod support;

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use support::receiver::Receiver;
use support::{eventually, send};

const SECRET: &str = "a_customer_secret_0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sealed_in_the_database_and_open_only_with_the_key() {
    if support::on_postgres() {
        return; // reads the embedded database file; the sealing is the same for both stores
    }
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret.key");
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode([42u8; 32]),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (_, key) = cdhooks_server::create_account_in(&data, None, "ops@example.com")
        .await
        .unwrap();
    let mut config = support::test_config(&data);
    config.secret_key_file = Some(key_file);
    config.max_attempts = 1;
    let server = cdhooks_server::start(config.clone()).await.unwrap();
    let base = format!("http://{}", server.addr);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let receiver = Receiver::start().await;
    let (status, hook) = send(
        http.post(format!("{base}/v1/webhooks"))
            .bearer_auth(&key)
            .json(&json!({"url": receiver.url("/hook"), "events": ["*"], "secret": SECRET})),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        hook["secret"], SECRET,
        "the one answer that shows it shows it in clear"
    );
    send(
        http.post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))})),
    )
    .await;
    eventually("the delivery", Duration::from_secs(10), || {
        receiver.count() == 1
    })
    .await;
    let got = &receiver.all()[0];
    assert_eq!(
        got.header("x-webhook-signature"),
        cdhooks_core::legacy::sign_hex(SECRET.as_bytes(), &got.body).as_str()
    );
    server.stop().await;

    // In the database file: sealed, and no trace of the secret.
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        data.join("cdhooks.sqlite3").display()
    ))
    .await
    .unwrap();
    let stored: String = sqlx::query_scalar("SELECT secret FROM webhooks")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert!(!stored.contains(SECRET));
    let file = std::fs::read(data.join("cdhooks.sqlite3")).unwrap();
    assert!(
        !file.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is in the database file"
    );

    // Without the key, or with another: the server refuses to start, naming the flag —
    // rather than failing every attempt and disabling healthy webhooks.
    let other_key = dir.path().join("other.key");
    std::fs::write(
        &other_key,
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    )
    .unwrap();
    let right_key = config.secret_key_file.clone();
    for (key_file, expected) in [
        (None, "no --secret-key-file is given".to_owned()),
        (
            Some(other_key.clone()),
            format!("{}: this key does not open", other_key.display()),
        ),
    ] {
        config.secret_key_file = key_file;
        match cdhooks_server::start(config.clone()).await {
            Ok(server) => {
                server.stop().await;
                panic!("started without the key the secrets were sealed with");
            }
            Err(error) => {
                let error = error.to_string();
                assert!(error.starts_with("secret key file: "), "{error}");
                assert!(error.contains(&expected), "{error}");
            }
        }
    }
    // With the right key it starts, and the webhook is as it was: enabled, nothing failed.
    config.secret_key_file = right_key;
    let server = cdhooks_server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr);
    let id = hook["id"].as_str().unwrap();
    let (_, webhook) = send(
        http.get(format!("{base}/v1/webhooks/{id}"))
            .bearer_auth(&key),
    )
    .await;
    assert_eq!(webhook["enabled"], true, "{webhook}");
    send(
        http.post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "server.started", "data": support::valid_data("server.started", json!({}))})),
    )
    .await;
    eventually("the second delivery", Duration::from_secs(10), || {
        receiver.count() == 2
    })
    .await;
    server.stop().await;
}
