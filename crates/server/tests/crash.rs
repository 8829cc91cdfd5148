//! Nothing accepted is lost: the real binary is killed with SIGKILL while deliveries are in
//! flight and queued, restarted on the same data dir, and every accepted event arrives.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use support::eventually;
use support::receiver::{Behaviour, Receiver};

const BIN: &str = env!("CARGO_BIN_EXE_cdhooks-server");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_server(data_dir: &Path, port: u16) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--allow-target",
            "127.0.0.0/8",
            "--allow-http",
        ])
        .args(["--retry-base-ms", "50", "--attempt-timeout-ms", "5000"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let created = Command::new(BIN)
        .args([
            "accounts",
            "create",
            "--email",
            "owner@example.com",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let key = stdout.lines().last().unwrap().trim().to_owned();
    assert!(key.starts_with("cdh_"), "{stdout}");

    let receiver = Receiver::start().await;
    // Slow enough that most deliveries are queued or in flight at the kill.
    receiver.set(Behaviour::Delay(Duration::from_millis(150)));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut server = spawn_server(dir.path(), port);
    support::wait_healthy(&http, &base).await;
    let hook = http
        .post(format!("{base}/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url("/hook"), "events": ["*"], "secret": "your_webhook_secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);

    let mut accepted = HashSet::new();
    for i in 0..300 {
        let response = http
            .post(format!("{base}/v1/events"))
            .bearer_auth(&key)
            .json(&json!({"type": "server.started", "data": support::valid_data("server.started", json!({"n": i}))}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let body: serde_json::Value = response.json().await.unwrap();
        accepted.insert(body["event"]["id"].as_str().unwrap().to_owned());
    }
    assert!(
        receiver.count() < 300,
        "the kill must come while deliveries are still queued"
    );
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    let before_restart = receiver.count();

    receiver.set(Behaviour::Status(200));
    let mut restarted = spawn_server(dir.path(), port);
    support::wait_healthy(&http, &base).await;
    let ids = || -> HashSet<String> {
        receiver
            .all()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect()
    };
    eventually(
        "every accepted event delivered after the restart",
        Duration::from_secs(30),
        || accepted.is_subset(&ids()),
    )
    .await;
    assert!(receiver.count() > before_restart);
    restarted.kill().unwrap();
    restarted.wait().unwrap();
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut first = spawn_server(dir.path(), port);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    support::wait_healthy(&http, &format!("http://127.0.0.1:{port}")).await;
    let second = Command::new(BIN)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another cdhooks server"));
    first.kill().unwrap();
    first.wait().unwrap();
}
