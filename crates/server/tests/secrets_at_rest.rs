//! Signing secrets at rest: with `--secret-key-file` the database holds them sealed (checked in
//! the database file itself), deliveries are signed with the real secret, and a server started
//! without the key sends nothing rather than signing with a sealed value.

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
            .json(&json!({"type": "server.started", "data": {}})),
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

    // Without the key: nothing is sent, the attempt fails as invalid_secret.
    config.secret_key_file = None;
    let server = cdhooks_server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr);
    send(
        http.post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "server.started", "data": {}})),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = send(
            http.get(format!("{base}/v1/webhooks/{id}/deliveries"))
                .bearer_auth(&key),
        )
        .await;
        let newest = &list["data"][0];
        if newest["attempt_count"] == 1 {
            assert_eq!(
                newest["attempts"][0]["error_kind"], "invalid_secret",
                "{newest}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no attempt: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        receiver.count(),
        1,
        "a delivery went out without its real secret"
    );
    server.stop().await;
}
