//! Attempts in flight sized for latency, not for cores: a server started with room for two
//! attempts holds many more at once when its endpoints keep them waiting (the room grows
//! while due work waits and the process idles), and `--max-in-flight` is a ceiling it keeps.

mod support;

use std::time::Duration;

use serde_json::json;
use support::receiver::{Behaviour, Receiver};
use support::{eventually, TestServer};

/// How long each endpoint takes to answer.
const LATENCY: Duration = Duration::from_millis(500);

/// Registers `webhooks` webhooks on `receiver` and emits `events` events each receives.
async fn slow_load(s: &TestServer, receiver: &Receiver, webhooks: usize, events: usize) {
    for i in 0..webhooks {
        s.webhook(
            &receiver.url(&format!("/w{i}")),
            &["server.*"],
            "your_webhook_secret",
        )
        .await;
    }
    for n in 0..events {
        s.emit("server.started", json!({ "n": n })).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_endpoints_get_more_attempts_in_flight_than_workers() {
    let s = TestServer::start_with(|c| {
        c.workers = 2;
        c.per_webhook_concurrency = 4;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(LATENCY));
    // 8 webhooks × 16 events: 128 attempts of 500 ms — 32 s two at a time.
    slow_load(&s, &slow, 8, 16).await;
    eventually("all 128 deliveries", Duration::from_secs(20), || {
        slow.count() == 128
    })
    .await;
    let peak = slow.peak_concurrency();
    assert!(
        peak >= 16,
        "at most {peak} attempts were in flight at once with room for 2 to begin with"
    );
    // Each webhook still gets at most its 4 at once.
    assert!(peak <= 8 * 4, "{peak}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_in_flight_is_a_ceiling_the_room_keeps() {
    let s = TestServer::start_with(|c| {
        c.workers = 2;
        c.max_in_flight = Some(2);
        c.per_webhook_concurrency = 4;
    })
    .await;
    let slow = Receiver::start().await;
    slow.set(Behaviour::Delay(LATENCY));
    slow_load(&s, &slow, 4, 2).await;
    eventually("all 8 deliveries", Duration::from_secs(20), || {
        slow.count() == 8
    })
    .await;
    assert_eq!(slow.peak_concurrency(), 2, "two at a time, never more");
    s.stop().await;
}

/// The `capacity:` line a started binary logs, read from its stderr (`serve` with `args`).
fn capacity_line(args: &[&str], soft_open_files: Option<u64>) -> String {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_cdhooks-server");
    // With a limit, through the shell's `ulimit`, as an operator's service manager would set it.
    let mut command = match soft_open_files {
        None => std::process::Command::new(bin),
        Some(limit) => {
            let mut shell = std::process::Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                .arg(bin);
            shell
        }
    };
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let line = stderr
        .lines()
        .map_while(Result::ok)
        .inspect(|l| {
            seen.push_str(l);
            seen.push('\n');
        })
        .find(|l| l.contains("capacity:") || l.contains("open files"))
        .unwrap_or(seen);
    let _ = child.kill();
    let _ = child.wait();
    line
}

#[test]
fn the_start_says_how_many_attempts_it_can_hold() {
    let line = capacity_line(&[], None);
    assert!(
        line.contains("capacity: 64 attempts in flight, growing to"),
        "{line}"
    );
    // Given a ceiling, it says that one.
    let line = capacity_line(&["--max-in-flight", "500"], None);
    assert!(line.contains("growing to 500 "), "{line}");
    // A hard limit of 1,024 open files holds fewer than the default 4,096 beside the 512
    // connections: the default shrinks to fit (1024 - 512 - 16 - 256: the connections, the
    // database pool, the spare), rather than failing later with EMFILE.
    let line = capacity_line(&[], Some(1024));
    assert!(line.contains("growing to 240 "), "{line}");
    // A ceiling it cannot hold is refused at start, naming the flag.
    let line = capacity_line(&["--max-in-flight", "4000"], Some(1024));
    assert!(
        line.contains("--max-in-flight") && line.contains("open files"),
        "{line}"
    );
}
