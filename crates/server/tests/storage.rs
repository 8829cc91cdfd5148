//! A `202` means durably stored — also when the storage fails. Events are posted across the
//! failure, room is given back, and the server is restarted; every `202` must be readable.
//! - Portable: the database is capped with `--max-database-mb` (SQLite's `max_page_count`:
//!   the error of a full disk, without a special filesystem) while another writer's data
//!   takes most of the room.
//! - As root (CI): a real 3 MiB tmpfs as the data dir, filled by a file that is deleted to
//!   give room back — the case where the COMMIT itself fails, which once left the writer
//!   inside a dead transaction and acknowledged events that were never stored.

mod support;

use std::future::Future;
use std::time::Duration;

use cdhooks_server::app::READINESS_TTL_MS;
use cdhooks_server::clock::ManualClock;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use support::{send, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_store_refuses_events_with_507_acknowledges_none_it_lost_and_recovers() {
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let mut s = TestServer::start_on(|c| c.max_database_mb = Some(2), Some(clock.clone())).await;
    // Another writer's data takes most of the 2 MiB.
    let filler = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(s.dir.path().join("cdhooks.sqlite3"))
                .busy_timeout(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE filler (pad BLOB NOT NULL)")
        .execute(&filler)
        .await
        .unwrap();
    for _ in 0..25 {
        sqlx::query("INSERT INTO filler (pad) VALUES (zeroblob(40000))")
            .execute(&filler)
            .await
            .unwrap();
    }
    let accepted = fill_then_recover(&s, &clock, async {
        sqlx::query("DELETE FROM filler")
            .execute(&filler)
            .await
            .unwrap();
        filler.close().await;
    })
    .await;
    check_stored(&s, &accepted, "").await;
    s.restart().await;
    check_stored(&s, &accepted, " after a restart").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_really_full_disk_acknowledges_nothing_it_did_not_store() {
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let Some((tmpfs, mut s)) = server_on_tmpfs("3m", &clock).await else {
        return;
    };
    // Someone else's file takes most of the disk.
    let filler = tmpfs.0.path().join("filler");
    std::fs::write(&filler, vec![7u8; 1_500_000]).unwrap();
    let accepted = fill_then_recover(&s, &clock, async {
        std::fs::remove_file(&filler).unwrap();
    })
    .await;
    check_stored(&s, &accepted, "").await;
    s.restart().await;
    check_stored(&s, &accepted, " after a restart").await;
    s.stop().await;
    drop(tmpfs);
}

/// Posts large events until the store is full, then small ones until not even they fit;
/// checks that nothing is acknowledged while writes fail and that `/healthz` says why once
/// its kept answer is older than `READINESS_TTL_MS` on the server's `clock`; gives room back,
/// waits for the server to recover by itself and posts a few more. Returns the ids of every
/// event answered 202.
async fn fill_then_recover(
    s: &TestServer,
    clock: &ManualClock,
    give_room_back: impl Future<Output = ()>,
) -> Vec<String> {
    let post = |size: usize, n: usize| {
        let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "server.started",
            "data": support::valid_data("server.started", json!({"n": n, "pad": "x".repeat(size)}))
        }));
        send(request)
    };
    let health = || send(s.http.get(s.url("/healthz")));
    // Ready before: the answer is kept for a while.
    assert_eq!(health().await.0, 200);
    let mut accepted = Vec::new();
    let mut refused = 0;
    for size in [20_000, 500] {
        for n in 0..400 {
            let (status, body) = post(size, accepted.len() + n).await;
            match status {
                202 => accepted.push(body["event"]["id"].as_str().unwrap().to_owned()),
                507 => {
                    assert_eq!(body["error"]["code"], "storage_full", "{body}");
                    refused += 1;
                    break;
                }
                other => panic!("{other}: {body}"),
            }
        }
    }
    assert_eq!(refused, 2, "the store never filled up");
    assert!(accepted.len() > 5, "{}", accepted.len());
    // While it cannot write, every event is refused and the readiness check says why.
    for n in 0..5 {
        let (status, body) = post(500, 10_000 + n).await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (507, &json!("storage_full"))
        );
    }
    // The probe's answer of a moment ago still stands, on the server's clock …
    assert_eq!(
        health().await.0,
        200,
        "readiness is asked again within its kept time"
    );
    // … and once it is older than that, readiness is asked again and says why.
    clock.advance(READINESS_TTL_MS);
    let (status, body) = health().await;
    assert_eq!(
        (status, &body["reason"]),
        (503, &json!("storage_full")),
        "{body}"
    );

    // Room comes back: the server recovers by itself, without a restart.
    give_room_back.await;
    support::eventually_async("healthz ok again", Duration::from_secs(5), || async {
        clock.advance(READINESS_TTL_MS);
        health().await.0 == 200
    })
    .await;
    for n in 0..5 {
        let (status, body) = post(20_000, 20_000 + n).await;
        assert_eq!(status, 202, "{body}");
        accepted.push(body["event"]["id"].as_str().unwrap().to_owned());
    }
    accepted
}

/// Every id is readable.
async fn check_stored(s: &TestServer, accepted: &[String], when: &str) {
    for id in accepted {
        assert_eq!(
            s.get(&format!("/v1/events/{id}")).await.0,
            200,
            "{id}{when}"
        );
    }
}

/// A server on a fresh tmpfs of `size` (its data dir inside), or `None` (skipped) where
/// mounting needs a root this run does not have — never under CI.
async fn server_on_tmpfs(
    size: &str,
    clock: &std::sync::Arc<ManualClock>,
) -> Option<(Tmpfs, TestServer)> {
    let Some(tmpfs) = Tmpfs::mount(size) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs as root and must be able to mount a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs needs root; the max_page_count test covers the rest");
        return None;
    };
    let data_dir = tmpfs.0.path().join("data");
    let (_, key) = cdhooks_server::create_account(&data_dir, "owner@example.com")
        .await
        .unwrap();
    let config = support::test_config(&data_dir);
    let server = cdhooks_server::start_with_clock(config.clone(), clock.clone())
        .await
        .unwrap();
    let s = TestServer {
        base: format!("http://{}", server.addr),
        server: Some(server),
        key,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        dir: tempfile::tempdir().unwrap(),
        config: Some(config),
    };
    Some((tmpfs, s))
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// The probe's case, with the room the README states: a disk filled with 100 KB events
/// beside someone else's files; once as much room as the WAL holds comes back (plus 4 MB),
/// the server takes events again and keeps taking them, `/healthz` says 200, and a restart
/// works. After a checkpoint failed for want of room nothing more goes into the WAL, so the
/// room it needs cannot run away while the disk stays full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeing_the_stated_room_on_a_full_disk_is_enough_to_recover_and_restart() {
    const FILLER: u64 = 4 * 1024 * 1024;
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let Some((tmpfs, mut s)) = server_on_tmpfs("48m", &clock).await else {
        return;
    };
    let data_dir = s.config.as_ref().unwrap().data_dir.clone();
    let fillers: Vec<_> = (0..6)
        .map(|i| {
            let filler = tmpfs.0.path().join(format!("filler-{i}"));
            std::fs::write(&filler, vec![7u8; FILLER as usize]).unwrap();
            filler
        })
        .collect();
    let post = |size: usize, n: usize| {
        let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "server.started",
            "data": support::valid_data("server.started", json!({"n": n, "pad": "x".repeat(size)}))
        }));
        send(request)
    };
    let mut accepted = Vec::new();
    for n in 0..1000 {
        let (status, body) = post(100_000, n).await;
        match status {
            202 => accepted.push(body["event"]["id"].as_str().unwrap().to_owned()),
            507 => break,
            other => panic!("{other}: {body}"),
        }
    }
    assert!(accepted.len() > 20, "{}", accepted.len());
    let sizes = || {
        std::fs::read_dir(&data_dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                format!("{:?}={}", e.file_name(), e.metadata().unwrap().len())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    // The room the README states: the WAL's size now, and 4 MB more.
    let wal = std::fs::metadata(data_dir.join("cdhooks.sqlite3-wal")).map_or(0, |m| m.len());
    let freed = (wal / FILLER + 2) as usize;
    assert!(
        freed <= fillers.len(),
        "the WAL took {wal} bytes ({})",
        sizes()
    );
    for filler in &fillers[..freed] {
        std::fs::remove_file(filler).unwrap();
    }
    support::eventually_async("healthz ok again", Duration::from_secs(10), || async {
        clock.advance(READINESS_TTL_MS);
        send(s.http.get(s.url("/healthz"))).await.0 == 200
    })
    .await;
    // A steady trickle of small events keeps going in.
    for n in 0..200 {
        let (status, body) = post(1_000, 5_000 + n).await;
        assert_eq!(
            status,
            202,
            "small event {n} after 4 MB came back: {body} ({})",
            sizes()
        );
        accepted.push(body["event"]["id"].as_str().unwrap().to_owned());
    }
    s.restart().await;
    check_stored(&s, &accepted, " after a restart").await;
    s.stop().await;
    drop(tmpfs);
}

/// `--max-database-mb` bounds what is on disk: the database file and its WAL together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_cap_bounds_the_wal_too() {
    let s = TestServer::start_with(|c| c.max_database_mb = Some(8)).await;
    let cap = 8 * 1024 * 1024;
    let on_disk = || {
        ["cdhooks.sqlite3", "cdhooks.sqlite3-wal"]
            .iter()
            .map(|f| std::fs::metadata(s.dir.path().join(f)).map_or(0, |m| m.len()))
            .sum::<u64>()
    };
    let mut largest = 0;
    let mut full = false;
    for n in 0..400 {
        let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "server.started",
            "data": support::valid_data("server.started", json!({"n": n, "pad": "x".repeat(100_000)}))
        }));
        let (status, body) = send(request).await;
        largest = largest.max(on_disk());
        match status {
            202 => {}
            507 => {
                full = true;
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(full, "8 MB never filled");
    // A WAL past its bound is truncated by the next background checkpoint (every 500 ms).
    support::eventually("the files within the cap", Duration::from_secs(5), || {
        on_disk() <= cap
    })
    .await;
    assert!(
        largest <= cap + cap / 4,
        "the database and its WAL reached {largest} bytes under an 8 MiB cap"
    );
    s.stop().await;
}

/// `/healthz` says 503 whenever an ordinary small event would be refused: on a real full
/// disk, after large events and then small ones got 507.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_whenever_a_small_event_is_refused() {
    let clock = ManualClock::at(cdhooks_server::clock::now_ms());
    let Some((tmpfs, s)) = server_on_tmpfs("3m", &clock).await else {
        return;
    };
    let post = |size: usize, n: usize| {
        let request = s.req(reqwest::Method::POST, "/v1/events").json(&json!({
            "type": "server.started",
            "data": support::valid_data("server.started", json!({"n": n, "pad": "x".repeat(size)}))
        }));
        send(request)
    };
    let mut filled = false;
    for n in 0..1000 {
        let (status, body) = post(100_000, n).await;
        match status {
            202 => {}
            507 => {
                filled = true;
                break;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert!(filled, "100 KB events never filled the disk");
    // The first probe (nothing cached yet) against the next small event: "ready" must mean
    // that it goes in.
    let (ready, body) = send(s.http.get(s.url("/healthz"))).await;
    let (accepted, answer) = post(500, 5_000).await;
    assert!(
        !(ready == 200 && accepted == 507),
        "/healthz said 200 ({body}) and the next small event got 507 ({answer})"
    );
    // Small events until they too are refused.
    let mut refused = accepted == 507;
    for n in 0..1000 {
        if refused {
            break;
        }
        refused = post(500, 6_000 + n).await.0 == 507;
    }
    assert!(refused, "small events never filled the disk");
    // The readiness answer is kept for `READINESS_TTL_MS`; the next one must see the full
    // disk.
    clock.advance(READINESS_TTL_MS);
    let (status, body) = send(s.http.get(s.url("/healthz"))).await;
    assert_eq!(
        (status, &body["reason"]),
        (503, &json!("storage_full")),
        "{body}"
    );
    s.stop().await;
    drop(tmpfs);
}
