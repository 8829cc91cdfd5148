//! Where the room of recorded results goes when no hand-back takes it: a claim runs only when
//! the statement that recorded them saw a webhook waiting with room, and a claim that took
//! nothing asks the claim loop to look again (it skips webhooks other transactions hold).
//! They need the test cluster (`scripts/with-postgres`); without it they skip, except under
//! `CI=true`.

use sqlx::{Connection, Executor, PgConnection};

use super::results::record_and_claim;
use super::upgrade_tests::{account_with_webhooks_and_events, fresh_database, migrate};
use crate::domain::claim::Shard;
use crate::domain::delivery::AfterAttempt;
use crate::store::migrations::POSTGRES;
use crate::store::{AttemptOutcome, AttemptRecord, Lease};

/// The time of the test, Unix ms.
const NOW: i64 = 1_000_000;
/// The token of the attempt in flight.
const TOKEN: i64 = 7;

/// A database with the webhooks `wh_1` (its one delivery in flight under [`TOKEN`]) and
/// `wh_2` (its one delivery due, unclaimed) if `second_waits`, a connection to it and its URL.
async fn one_in_flight(second_waits: bool) -> Option<(PgConnection, String)> {
    let url = fresh_database().await?;
    let mut conn = PgConnection::connect_with(&super::connect_options(&url).unwrap())
        .await
        .unwrap();
    migrate(&mut conn, POSTGRES).await;
    let webhooks = if second_waits { 2 } else { 1 };
    conn.execute(
        format!(
            "{rows}
             INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status,
                                     next_attempt_at, created_at, updated_at)
             SELECT 'dlv_' || w.seq, 'acc_1', 1, w.seq, 'pending', 1, 1, 1 FROM webhooks w;
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT seq, webhook_seq, {TOKEN}, {NOW} + 60000 FROM deliveries WHERE webhook_seq = 1;
             DELETE FROM due_webhooks WHERE webhook_seq = 1;",
            rows = account_with_webhooks_and_events(webhooks, 1),
        )
        .as_str(),
    )
    .await
    .unwrap();
    Some((conn, url))
}

/// `wh_1`'s attempt succeeded, with a follow-up claim of the slot it frees (and a share for
/// webhooks whose circuit is open of `max_failing`).
async fn first_succeeds(conn: &mut PgConnection, max_failing: u32) -> super::results::HandedOn {
    let outcome = AttemptOutcome {
        delivery_seq: 1,
        webhook_seq: 1,
        claim_token: TOKEN as u64,
        attempt: AttemptRecord {
            number: 1,
            started_at: NOW - 250,
            duration_ms: 250,
            status_code: Some(200),
            error_kind: None,
            error_message: None,
            response_body: None,
            url: Some("http://127.0.0.1:9/".into()),
        },
        next: AfterAttempt::Succeeded,
        disabling: None,
        hold_until: None,
        failure_streak_seen: 0,
    };
    let lease = Lease {
        token: 8,
        until_ms: NOW + 30_000,
        max: 1,
        per_webhook: 16,
        max_failing,
    };
    record_and_claim(conn, &[outcome], Some((NOW, lease)), Shard::WHOLE)
        .await
        .unwrap()
}

/// Deliveries recorded as succeeded.
async fn succeeded(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'succeeded'")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn room_nothing_waits_for_is_left_without_a_claim() {
    let Some((mut conn, _)) = one_in_flight(false).await else {
        return;
    };
    let handed_on = first_succeeds(&mut conn, 1).await;
    assert!(handed_on.claimed.is_empty());
    assert!(!handed_on.look_again, "nothing waits: no one need look");
    assert_eq!(succeeded(&mut conn).await, 1);
}

#[tokio::test]
async fn room_another_webhook_waits_for_goes_to_it() {
    let Some((mut conn, _)) = one_in_flight(true).await else {
        return;
    };
    let handed_on = first_succeeds(&mut conn, 1).await;
    let claimed: Vec<&str> = handed_on.claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(claimed, ["dlv_2"]);
    assert!(!handed_on.look_again);
}

#[tokio::test]
async fn a_claim_that_skipped_a_held_webhook_asks_the_loop_to_look_again() {
    let Some((mut conn, url)) = one_in_flight(true).await else {
        return;
    };
    // Another transaction (another process's claim, say) holds `wh_2` for now.
    let mut other = PgConnection::connect(&url).await.unwrap();
    let mut held = other.begin().await.unwrap();
    held.execute("SELECT seq FROM webhooks WHERE seq = 2 FOR NO KEY UPDATE")
        .await
        .unwrap();

    let handed_on = first_succeeds(&mut conn, 1).await;
    assert!(handed_on.claimed.is_empty(), "the held webhook is skipped");
    assert!(handed_on.look_again, "its delivery still waits");
    assert_eq!(succeeded(&mut conn).await, 1);
    held.rollback().await.unwrap();
}

/// [`one_in_flight`] with `wh_2`'s circuit open.
async fn second_failing() -> Option<PgConnection> {
    let (mut conn, _) = one_in_flight(true).await?;
    sqlx::query("UPDATE webhooks SET failure_streak = $1 WHERE seq = 2")
        .bind(crate::domain::health::OPENS_AFTER as i32)
        .execute(&mut conn)
        .await
        .unwrap();
    Some(conn)
}

#[tokio::test]
async fn a_webhook_with_an_open_circuit_and_no_share_left_calls_for_no_claim() {
    let Some(mut conn) = second_failing().await else {
        return;
    };
    // The failing webhooks' share of the room is taken: no claim could serve `wh_2` now.
    let handed_on = first_succeeds(&mut conn, 0).await;
    assert!(handed_on.claimed.is_empty());
    assert!(!handed_on.look_again);
}

#[tokio::test]
async fn a_webhook_with_an_open_circuit_gets_its_attempt_from_the_failing_share() {
    let Some(mut conn) = second_failing().await else {
        return;
    };
    let handed_on = first_succeeds(&mut conn, 1).await;
    let claimed: Vec<&str> = handed_on.claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(claimed, ["dlv_2"]);
}
