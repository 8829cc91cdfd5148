//! PostgreSQL restarted under load (its own test binary: the restart would disturb tests
//! running beside it). Requests caught by it fail with `503 storage_unavailable`, never a
//! false `202`; the server reconnects by itself; every event answered `202` is stored and
//! delivered.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::receiver::Receiver;
use support::{eventually, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_nothing_answered_202() {
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let s = Arc::new(TestServer::start_with(|c| c.database_url = Some(url)).await);
    let receiver = Receiver::start().await;
    s.webhook(&receiver.url("/hook"), &["*"], "your_webhook_secret")
        .await;

    // Two senders post events without pause while the database restarts.
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|sender| {
            let (s, stop) = (s.clone(), stop.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
                        "type": "server.started", "data": support::valid_data("server.started", json!({"sender": sender, "n": n}))
                    }));
                    answers.push(support::send(request).await);
                    n += 1;
                }
                answers
            })
        })
        .collect();
    // The load's shape, not a wait for something: the senders run a moment before the
    // restart, and a moment after the first 202 past it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::spawn_blocking(|| support::pg::pg_ctl(&["restart", "-m", "fast", "-w"]))
        .await
        .unwrap();
    // Reconnected by itself: events are accepted again.
    support::eventually_async(
        "a 202 after the restart",
        Duration::from_secs(15),
        || async {
            let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
                "type": "server.started", "data": support::valid_data("server.started", json!({"probe": true}))
            }));
            let (status, _) = support::send(request).await;
            status == 202
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);

    let mut accepted = HashSet::new();
    let mut refused = 0;
    for sender in senders {
        for (status, body) in sender.await.unwrap() {
            match status {
                202 => {
                    accepted.insert(body["event"]["id"].as_str().unwrap().to_owned());
                }
                503 => {
                    assert_eq!(body["error"]["code"], "storage_unavailable", "{body}");
                    refused += 1;
                }
                other => panic!("{other}: {body}"),
            }
        }
    }
    eprintln!(
        "{} accepted, {refused} refused during the restart",
        accepted.len()
    );
    assert!(accepted.len() > 20);
    // Every 202 is stored …
    for id in &accepted {
        assert_eq!(s.get(&format!("/v1/events/{id}")).await.0, 200, "{id}");
    }
    // … and delivered (an attempt whose result could not be recorded is sent again when its
    // lease runs out: at-least-once).
    eventually(
        "every accepted event delivered",
        Duration::from_secs(40),
        || {
            let got: HashSet<String> = receiver
                .all()
                .iter()
                .map(|d| d.json()["id"].as_str().unwrap().to_owned())
                .collect();
            accepted.is_subset(&got)
        },
    )
    .await;
}
