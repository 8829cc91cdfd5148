//! The store contract: what every implementation of `Store` must do, written once against
//! the trait and run against each backend (`contract_suite!` at the bottom instantiates the
//! suite per backend: SQLite, and PostgreSQL on the cluster `make test` starts).
//!
//! Fan-out and idempotent emit, claims under leases (expiry, per-webhook limits, round-robin,
//! two claimers never sharing a delivery), outcomes conditional on the claim, disable / pause /
//! resume with exactly one email, manual retry, the email outbox's leases and dead letters,
//! and group commit keeping each operation's own answer. Time is an argument everywhere.

mod support {
    #[path = "data.rs"]
    pub mod data;
    #[path = "pg.rs"]
    pub mod pg;
    #[path = "poll.rs"]
    #[allow(dead_code)] // The suite waits on a plain condition only.
    pub mod poll;

    pub use data::valid_data;
}

use std::collections::HashSet;
use std::sync::Arc;

use cdhooks_core::timestamp::Timestamp;
use cdhooks_server::domain::delivery::AfterAttempt;
use cdhooks_server::domain::email::{Email, EmailNext};
use cdhooks_server::domain::event::{EmitEventRequest, NewEvent};
use cdhooks_server::domain::event_type::Catalog;
use cdhooks_server::domain::target::TargetPolicy;
use cdhooks_server::domain::webhook::{CreateWebhookRequest, NewWebhook, WebhookChange};
use cdhooks_server::store::model::{
    Account, AttemptOutcome, AttemptRecord, ClaimedDelivery, DeliveryRecord, DeliveryStatus,
    Disabling, EmailClaim, InsertedEvent, Lease,
};
use cdhooks_server::store::{Store, StoreError};
use futures_util::future::join_all;

const NOW: i64 = 1_764_000_000_000;
const LEASE_MS: i64 = 30_000;

/// A fresh store and what keeps it alive (its directory, for an embedded one).
type Opened = (Arc<dyn Store>, Box<dyn std::any::Any + Send>);

async fn open_sqlite() -> Option<Opened> {
    let dir = tempfile::tempdir().unwrap();
    let store = cdhooks_server::store::sqlite::SqliteStore::open_for_server(dir.path(), None)
        .await
        .unwrap();
    Some((Arc::new(store), Box::new(dir)))
}

/// A store on a fresh database of the test cluster; `None` (skip) without one.
async fn open_postgres() -> Option<Opened> {
    let url = support::pg::fresh_database().await?;
    let store = cdhooks_server::store::postgres::PgStore::connect(&url, 8)
        .await
        .unwrap();
    Some((Arc::new(store), Box::new(())))
}

/// An account with one webhook per pattern list; returns the account and the webhook ids.
async fn account_with_webhooks(
    store: &dyn Store,
    email: &str,
    patterns: &[&[&str]],
) -> (Account, Vec<String>) {
    let account = store
        .create_account(
            email,
            &cdhooks_server::domain::api_key::digest(&format!("key-{email}")),
            NOW,
        )
        .await
        .unwrap();
    let ids = account_with_webhooks_of(store, &account, patterns).await;
    (account, ids)
}

/// Registers one webhook per pattern list for `account`; returns their ids.
async fn account_with_webhooks_of(
    store: &dyn Store,
    account: &Account,
    patterns: &[&[&str]],
) -> Vec<String> {
    let policy = TargetPolicy {
        allowed: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
    };
    let mut ids = Vec::new();
    for (i, events) in patterns.iter().enumerate() {
        let request = CreateWebhookRequest {
            url: format!("http://127.0.0.1:9/{i}"),
            events: events.iter().map(|p| p.to_string()).collect(),
            secret: Some("your_webhook_secret".to_owned()),
            description: None,
            signing: None,
            filter: None,
        };
        let webhook = NewWebhook::validate(request, &policy, &Catalog::seeded()).unwrap();
        ids.push(
            store
                .create_webhook(account, webhook, NOW)
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

fn event(id: &str, event_type: &str, n: usize) -> NewEvent {
    let request: EmitEventRequest = serde_json::from_value(serde_json::json!({
        "id": id, "type": event_type, "data": support::valid_data(event_type, serde_json::json!({"n": n}))
    }))
    .unwrap();
    NewEvent::validate(
        request,
        Timestamp::from_unix(NOW / 1000).unwrap(),
        &Catalog::seeded(),
    )
    .unwrap()
}

fn email_claim(token: u64, now: i64) -> EmailClaim {
    EmailClaim {
        token,
        until_ms: now + LEASE_MS,
        max: 10,
    }
}

fn lease(token: u64, max: u32, per_webhook: u32, now: i64) -> Lease {
    Lease {
        token,
        until_ms: now + LEASE_MS,
        max,
        per_webhook,
        max_failing: max,
    }
}

/// Emits `count` events of `event_type` (`{prefix}0`, `{prefix}1`, …) one after another,
/// one millisecond apart, without claiming any.
async fn emit(store: &dyn Store, account: &Account, prefix: &str, event_type: &str, count: usize) {
    for n in 0..count {
        let event = event(&format!("{prefix}{n}"), event_type, n);
        store
            .insert_event(account, event, NOW + n as i64, None)
            .await
            .unwrap();
    }
}

/// Emits `count` `server.started` events queued together (one batch where the store
/// batches), each under `lease`, and returns their answers in order.
async fn emit_together(
    store: &dyn Store,
    account: &Account,
    count: usize,
    lease: Option<Lease>,
) -> Vec<InsertedEvent> {
    let inserts = (0..count).map(|n| {
        let event = event(&format!("evt_{n}"), "server.started", n);
        store.insert_event(account, event, NOW, lease)
    });
    join_all(inserts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// The outcome of `delivery`'s next attempt, failed or not, decided as `next`.
fn outcome(delivery: &ClaimedDelivery, next: AfterAttempt, token: u64) -> AttemptOutcome {
    let failed = !matches!(next, AfterAttempt::Succeeded);
    AttemptOutcome {
        delivery_seq: delivery.seq,
        webhook_seq: delivery.webhook_seq,
        claim_token: token,
        attempt: AttemptRecord {
            number: delivery.attempt_count + 1,
            started_at: NOW,
            duration_ms: 3,
            status_code: Some(if failed { 500 } else { 200 }),
            error_kind: failed.then(|| "http_status".to_owned()),
            error_message: failed.then(|| "HTTP 500".to_owned()),
            response_body: None,
            url: Some(delivery.url.clone()),
        },
        next,
        hold_until: None,
        failure_streak_seen: delivery.failure_streak,
        disabling: matches!(next, AfterAttempt::GiveUp { .. }).then(|| Disabling {
            at_ms: NOW + 3,
            reason: "5 consecutive failed attempts".to_owned(),
            email: Email {
                recipient: "ops@example.com".to_owned(),
                subject: format!("Webhook {} disabled", delivery.webhook_id),
                body: format!("POST /v1/deliveries/{}/retry", delivery.id),
            },
        }),
    }
}

/// Enables or disables a webhook as its owner would, at `at`.
async fn set_enabled(store: &dyn Store, account: &Account, id: &str, enabled: bool, at: i64) {
    store
        .update_webhook_and_deliveries(
            account,
            id,
            WebhookChange {
                enabled: Some(enabled),
                ..Default::default()
            },
            at,
        )
        .await
        .unwrap();
}

fn give_up() -> AfterAttempt {
    AfterAttempt::GiveUp {
        attempts_in_round: 5,
    }
}

async fn fan_out_reaches_every_subscribed_webhook_and_pauses_for_disabled_ones(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.started"], &["server.*"], &["billing.*"]],
    )
    .await;
    // Another tenant's webhooks never see this account's events.
    account_with_webhooks(store, "other@example.com", &[&["*"]]).await;
    store
        .update_webhook_and_deliveries(
            &account,
            &hooks[1],
            WebhookChange {
                enabled: Some(false),
                ..Default::default()
            },
            NOW,
        )
        .await
        .unwrap();
    let inserted = store
        .insert_event(&account, event("evt_1", "server.started", 1), NOW, None)
        .await
        .unwrap();
    assert_eq!(inserted.deliveries, 2);
    assert!(inserted.claimed.is_empty());
    let pending = store
        .list_deliveries(&account, &hooks[0], None, 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].status, DeliveryStatus::Pending);
    assert_eq!(pending[0].next_attempt_at, Some(NOW));
    let paused = store
        .list_deliveries(&account, &hooks[1], None, 10)
        .await
        .unwrap();
    assert_eq!(paused[0].status, DeliveryStatus::Paused);
    assert_eq!(paused[0].next_attempt_at, None);
    assert!(store
        .list_deliveries(&account, &hooks[2], None, 10)
        .await
        .unwrap()
        .is_empty());
    // Only the enabled webhook's delivery is claimable, by anyone.
    let claimed = store.claim_due(NOW, lease(1, 100, 16, NOW)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].webhook_id, hooks[0]);
    assert_eq!(claimed[0].event_id, "evt_1");
    assert_eq!(claimed[0].secret.expose(), "your_webhook_secret");
    let stored = store.get_event(&account, "evt_1").await.unwrap();
    assert_eq!(&stored.body[..], &claimed[0].body[..]);
}

async fn a_repeated_event_id_is_refused_and_one_batch_keeps_one_copy(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.started"], &["server.*"]],
    )
    .await;
    store
        .insert_event(&account, event("evt_x", "server.started", 0), NOW, None)
        .await
        .unwrap();
    let again = store
        .insert_event(&account, event("evt_x", "server.started", 1), NOW, None)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Another account may use the same id.
    let (other, _) = account_with_webhooks(store, "other@example.com", &[]).await;
    store
        .insert_event(&other, event("evt_x", "server.started", 2), NOW, None)
        .await
        .unwrap();
    // Queued together: 50 ids, each twice; exactly one copy of each is stored.
    let inserts = (0..100).map(|n| {
        let id = format!("evt_{}", n / 2);
        store.insert_event(&account, event(&id, "server.started", n), NOW, None)
    });
    let answers: Vec<Result<InsertedEvent, StoreError>> = join_all(inserts).await;
    for pair in 0..50 {
        let copies = [2 * pair, 2 * pair + 1];
        let stored: Vec<usize> = copies.into_iter().filter(|&n| answers[n].is_ok()).collect();
        assert_eq!(stored.len(), 1, "evt_{pair}");
        let other = copies[0] + copies[1] - stored[0];
        assert!(matches!(answers[other], Err(StoreError::Conflict(_))));
        assert_eq!(answers[stored[0]].as_ref().unwrap().deliveries, 2);
        let body = store
            .get_event(&account, &format!("evt_{pair}"))
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body.body).unwrap();
        assert_eq!(body["data"]["n"], stored[0], "the stored copy's own body");
    }
}

async fn a_claim_holds_until_its_lease_expires(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 3).await;
    let first = store
        .claim_due(NOW + 5, lease(1, 10, 16, NOW + 5))
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    // Nothing is due for anyone else while the lease runs, however often they look.
    for at in [NOW + 6, NOW + 5 + LEASE_MS] {
        assert!(store
            .claim_due(at, lease(2, 10, 16, at))
            .await
            .unwrap()
            .is_empty());
    }
    // After it, they are claimable again (the holder died, say).
    let later = NOW + 6 + LEASE_MS;
    let second = store
        .claim_due(later, lease(3, 10, 16, later))
        .await
        .unwrap();
    let ids = |c: &[ClaimedDelivery]| c.iter().map(|d| d.id.clone()).collect::<HashSet<_>>();
    assert_eq!(ids(&first), ids(&second));
    assert!(second.iter().all(|d| d.claim_token == 3));
}

async fn claims_respect_each_webhooks_limit_and_serve_webhooks_round_robin(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.started"], &["billing.*"]],
    )
    .await;
    // A backlog of 10 on the first webhook (older), 2 on the second.
    emit(store, &account, "srv_", "server.started", 10).await;
    emit(store, &account, "pay_", "billing.payment.succeeded", 2).await;
    let at = NOW + 100;
    // Room for 4, at most 3 per webhook: the younger webhook is not starved by the older
    // backlog — one each per turn.
    let first = store.claim_due(at, lease(1, 4, 3, at)).await.unwrap();
    assert_eq!(first.len(), 4);
    let of = |claimed: &[ClaimedDelivery], hook: &str| -> Vec<String> {
        let mut events: Vec<String> = claimed
            .iter()
            .filter(|d| d.webhook_id == hook)
            .map(|d| d.event_id.clone())
            .collect();
        events.sort_by_key(|id| id[4..].parse::<u32>().unwrap());
        events
    };
    assert_eq!(
        of(&first, &hooks[0]),
        ["srv_0", "srv_1"],
        "oldest due first"
    );
    assert_eq!(of(&first, &hooks[1]), ["pay_0", "pay_1"]);
    // Plenty of room now, but the first webhook has 2 in flight of its 3.
    let second = store.claim_due(at, lease(2, 100, 3, at)).await.unwrap();
    assert_eq!(of(&second, &hooks[0]), ["srv_2"]);
    assert!(of(&second, &hooks[1]).is_empty());
    assert!(store
        .claim_due(at, lease(3, 100, 3, at))
        .await
        .unwrap()
        .is_empty());
    // One attempt finishing frees one slot: recording it claims the next in due order, in
    // the same step, and nothing is left for another claim.
    let srv_0 = first.iter().find(|d| d.event_id == "srv_0").unwrap();
    let next = store
        .record_outcome_and_claim(
            outcome(srv_0, AfterAttempt::Succeeded, 1),
            Some((at, lease(4, 1, 3, at))),
        )
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(
        (next[0].event_id.as_str(), next[0].claim_token),
        ("srv_3", 4)
    );
    assert!(store
        .claim_due(at, lease(5, 100, 3, at))
        .await
        .unwrap()
        .is_empty());
    // A finished attempt with nothing claimable after it gets nothing.
    let none = store
        .record_outcome_and_claim(
            outcome(
                first.iter().find(|d| d.event_id == "pay_0").unwrap(),
                AfterAttempt::Succeeded,
                1,
            ),
            Some((at, lease(6, 1, 2, at))),
        )
        .await
        .unwrap();
    assert!(
        none.is_empty(),
        "the webhook is at its limit of 2 in flight"
    );
    // Nothing else can be claimed, but more is pending, due at NOW + 4: the store says so (a
    // store may say earlier — a hint its next claim makes exact — never later, nor nothing).
    let next_due = store.next_due_at().await.unwrap();
    assert!(
        matches!(next_due, Some(due) if due <= NOW + 4),
        "{next_due:?}"
    );
    // Its limit lowered to 2 with 3 in flight: a finished attempt's slot is not handed on
    // while the webhook is still at the limit; the next one's is, in due order.
    let finish = |claimed: &[ClaimedDelivery], id: &str| {
        let delivery = claimed.iter().find(|d| d.event_id == id).unwrap();
        outcome(delivery, AfterAttempt::Succeeded, delivery.claim_token)
    };
    let lowered = store
        .record_outcome_and_claim(finish(&first, "srv_1"), Some((at, lease(7, 1, 2, at))))
        .await
        .unwrap();
    assert!(lowered.is_empty(), "still 2 in flight under a limit of 2");
    let next = store
        .record_outcome_and_claim(finish(&second, "srv_2"), Some((at, lease(8, 1, 2, at))))
        .await
        .unwrap();
    assert_eq!(of(&next, &hooks[0]), ["srv_4"]);
}

async fn a_claim_over_many_webhooks_takes_all_it_may_beside_one_long_queue(opened: Opened) {
    let store = &*opened.0;
    // One webhook with a queue of 16, and 69 others with one delivery each: more webhooks
    // than PostgreSQL reads in full at once (it reads a part of each queue first).
    let mut patterns: Vec<&[&str]> = vec![&["server.started"]];
    patterns.extend(std::iter::repeat_n(&["billing.*"][..], 69));
    let (account, hooks) = account_with_webhooks(store, "many@example.com", &patterns).await;
    emit(store, &account, "srv_", "server.started", 16).await;
    emit(store, &account, "pay_", "billing.payment.succeeded", 1).await;
    let at = NOW + 100;
    // Room for 20: one round of round-robin, from 20 webhooks (a claim this small beside this
    // many webhooks reads only the head of each queue); given back untouched.
    let few = store.claim_due(at, lease(1, 20, 16, at)).await.unwrap();
    let webhooks: std::collections::HashSet<&str> =
        few.iter().map(|d| d.webhook_id.as_str()).collect();
    assert_eq!((few.len(), webhooks.len()), (20, 20), "one of each of 20");
    let back: Vec<(i64, u64)> = few.iter().map(|d| (d.seq, d.claim_token)).collect();
    assert_eq!(store.release_claims(&back).await.unwrap(), 20);
    // Room for 80, 16 per webhook: one round takes one of each (70), the other 10 go to the
    // webhook with a queue — its 11 oldest.
    let claimed = store.claim_due(at, lease(2, 80, 16, at)).await.unwrap();
    assert_eq!(claimed.len(), 80, "the claim takes all its room allows");
    let mut long: Vec<u32> = claimed
        .iter()
        .filter(|d| d.webhook_id == hooks[0])
        .map(|d| d.event_id[4..].parse().unwrap())
        .collect();
    long.sort_unstable();
    assert_eq!(long, (0..11).collect::<Vec<u32>>());
    let others: std::collections::HashSet<&str> = claimed
        .iter()
        .filter(|d| d.webhook_id != hooks[0])
        .map(|d| d.webhook_id.as_str())
        .collect();
    assert_eq!(others.len(), 69, "every other webhook gets its delivery");
}

/// A claim with room for fewer webhooks than have work serves those whose oldest due delivery
/// has waited longest (`domain::claim::served`), whatever order the webhooks were made in.
async fn a_claim_serves_the_webhooks_waiting_longest(opened: Opened) {
    let store = &*opened.0;
    let types = [
        "server.created",
        "server.started",
        "server.stopped",
        "billing.payment.succeeded",
    ];
    let patterns: Vec<&[&str]> = types.iter().map(std::slice::from_ref).collect();
    let (account, hooks) = account_with_webhooks(store, "ops@example.com", &patterns).await;
    // One delivery each, due in the order stopped, payment, created, started.
    for (n, index) in [2, 3, 0, 1].into_iter().enumerate() {
        let event = event(&format!("evt_{n}"), types[index], n);
        store
            .insert_event(&account, event, NOW + n as i64, None)
            .await
            .unwrap();
    }
    let at = NOW + 100;
    let served = |claimed: &[ClaimedDelivery]| -> HashSet<String> {
        claimed.iter().map(|d| d.webhook_id.clone()).collect()
    };
    let first = store.claim_due(at, lease(1, 2, 4, at)).await.unwrap();
    assert_eq!(
        served(&first),
        HashSet::from([hooks[2].clone(), hooks[3].clone()])
    );
    let second = store.claim_due(at, lease(2, 1, 4, at)).await.unwrap();
    assert_eq!(served(&second), HashSet::from([hooks[0].clone()]));
    let third = store.claim_due(at, lease(3, 5, 4, at)).await.unwrap();
    assert_eq!(served(&third), HashSet::from([hooks[1].clone()]));
}

async fn the_room_a_finished_attempt_frees_is_shared_while_another_webhook_waits(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.started"], &["billing.*"]],
    )
    .await;
    // Two backlogs and room for one attempt at a time: each finished attempt's room goes to
    // either webhook (round-robin from a rotating start), never always back to its own.
    emit(store, &account, "srv_", "server.started", 41).await;
    emit(store, &account, "pay_", "billing.payment.succeeded", 41).await;
    let at = NOW + 100;
    let mut running = store.claim_due(at, lease(1, 1, 16, at)).await.unwrap();
    let mut served = [0, 0];
    for token in 2..42 {
        assert_eq!(running.len(), 1);
        let finished = &running[0];
        let outcome = outcome(finished, AfterAttempt::Succeeded, finished.claim_token);
        running = store
            .record_outcome_and_claim(outcome, Some((at, lease(token, 1, 16, at))))
            .await
            .unwrap();
        served[usize::from(running[0].webhook_id == hooks[1])] += 1;
    }
    assert!(
        served.iter().all(|&n| n >= 5),
        "40 turns served the webhooks {served:?} times"
    );
}

/// The rule that hands a finished attempt's room straight back to its own webhook
/// (`domain::claim::handed_back`) runs inside one SQL statement on PostgreSQL (`RECORD` in
/// `store/postgres/results.rs`) and as the claim in the same transaction on SQLite. Both are
/// checked here against the domain function over one table of cases: a webhook's limit, its
/// attempts in flight (more than the limit when the limit was lowered meanwhile), how many of
/// them finish, and whether another webhook waits with room.
async fn the_room_finished_attempts_free_goes_back_as_the_domain_decides(opened: Opened) {
    use cdhooks_server::domain::claim::handed_back;
    let store = &*opened.0;
    // (limit, in flight, finished, another webhook waiting)
    let cases: [(u32, u32, u32, bool); 9] = [
        (16, 16, 3, false),
        (16, 10, 3, false),
        (4, 4, 1, false),
        (4, 6, 3, false),
        (4, 9, 3, false),
        (1, 1, 1, false),
        (16, 16, 3, true),
        (4, 6, 3, true),
        (4, 9, 3, true),
    ];
    let mut token = 0;
    let mut next_token = || {
        token += 1;
        token
    };
    for (case, &(limit, in_flight, finished, others_waiting)) in cases.iter().enumerate() {
        let row = format!("case {case}: {:?}", cases[case]);
        let (account, hooks) = account_with_webhooks(
            store,
            &format!("case{case}@example.com"),
            &[&["server.started"], &["billing.*"]],
        )
        .await;
        let backlog = (in_flight + finished + 2) as usize;
        emit(store, &account, "srv_", "server.started", backlog).await;
        let at = NOW + 1_000;
        // Its attempts in flight, claimed under a limit as high as their number.
        let running = store
            .claim_due(at, lease(next_token(), in_flight, in_flight, at))
            .await
            .unwrap();
        assert_eq!(running.len() as u32, in_flight, "{row}");
        assert!(running.iter().all(|d| d.webhook_id == hooks[0]), "{row}");
        if others_waiting {
            emit(store, &account, "pay_", "billing.payment.succeeded", 5).await;
        }
        // The attempts finish one after another, each asking for one follow-up under the
        // webhook's (possibly lowered) limit; the domain decides each hand-back in turn.
        let (mut own, mut other) = (0, 0);
        let (mut expected, mut flying) = (0, in_flight);
        for done in &running[..finished as usize] {
            let outcome = outcome(done, AfterAttempt::Succeeded, done.claim_token);
            let follow_up = Some((at, lease(next_token(), 1, limit, at)));
            let next = store
                .record_outcome_and_claim(outcome, follow_up)
                .await
                .unwrap();
            assert!(next.len() <= 1, "{row}");
            own += next.iter().filter(|d| d.webhook_id == hooks[0]).count() as u32;
            other += next.iter().filter(|d| d.webhook_id == hooks[1]).count() as u32;
            let back = handed_back(limit, flying, 1, false);
            expected += back;
            flying = flying - 1 + back;
        }
        // One at a time or all at once, the domain hands back the same.
        assert_eq!(
            expected,
            handed_back(limit, in_flight, finished, false),
            "{row}"
        );
        assert_eq!(handed_back(limit, in_flight, finished, true), 0);
        if others_waiting {
            // Nothing goes straight back: the freed room is shared round-robin, none of it
            // lost, and the webhook itself never gets more than its limit allows.
            assert_eq!(own + other, finished, "{row}");
            assert!(own <= expected, "{row}: {own} back to its own webhook");
        } else {
            assert_eq!((own, other), (expected, 0), "{row}");
        }
        // Out of the next cases' way: paused, none of it due for a later claim.
        for hook in &hooks {
            set_enabled(store, &account, hook, false, at).await;
        }
    }
}

async fn an_open_circuit_lets_one_attempt_at_a_time_and_a_success_closes_it(opened: Opened) {
    use cdhooks_server::domain::health::OPENS_AFTER;
    let store = &*opened.0;
    let (account, hooks) =
        account_with_webhooks(store, "ops@example.com", &[&["server.*"], &["billing.*"]]).await;
    let streak = |id: String| {
        let account = account.clone();
        async move {
            store
                .get_webhook(&account, &id)
                .await
                .unwrap()
                .health
                .failure_streak
        }
    };
    emit(store, &account, "srv_", "server.started", 8).await;
    emit(store, &account, "pay_", "billing.payment.succeeded", 4).await;
    let at = NOW + 100;
    // OPENS_AFTER attempts of the first webhook fail (each retried much later).
    let first: Vec<ClaimedDelivery> = store
        .claim_due(at, lease(1, 100, OPENS_AFTER, at))
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.webhook_id == hooks[0])
        .collect();
    assert_eq!(first.len() as u32, OPENS_AFTER);
    for (token, claimed) in first.iter().enumerate() {
        let failed = outcome(
            claimed,
            AfterAttempt::RetryAt(at + 3_600_000),
            claimed.claim_token,
        );
        store.record_outcome_and_claim(failed, None).await.unwrap();
        let _ = token;
    }
    assert_eq!(streak(hooks[0].clone()).await, OPENS_AFTER);
    // Open, with nothing in flight (the API says `open`); the other webhook has its 3.
    let in_flight = store
        .attempts_in_flight(&account, &hooks, at)
        .await
        .unwrap();
    assert_eq!(in_flight.get(&hooks[0]), None);
    assert_eq!(in_flight.get(&hooks[1]), Some(&3));
    let others = store.claim_due(at, lease(2, 100, 16, at)).await.unwrap();
    // Open circuit: one of the first webhook's 5 due deliveries, all 4 - 3 = 1 left of the
    // other's (its first 3 went with the first claim and are still leased).
    let of = |claimed: &[ClaimedDelivery], hook: &str| {
        claimed.iter().filter(|d| d.webhook_id == hook).count()
    };
    assert_eq!(of(&others, &hooks[0]), 1, "a probe at a time");
    assert_eq!(of(&others, &hooks[1]), 1);
    // Its probe in flight (the API says `probing`), counted for this account's webhooks only.
    let in_flight = store
        .attempts_in_flight(&account, &hooks, at)
        .await
        .unwrap();
    assert_eq!(in_flight.get(&hooks[0]), Some(&1));
    assert_eq!(in_flight.get(&hooks[1]), Some(&4));
    let (stranger, _) = account_with_webhooks(store, "other@example.com", &[&["*"]]).await;
    assert!(store
        .attempts_in_flight(&stranger, &hooks, at)
        .await
        .unwrap()
        .is_empty());
    // While the probe is in flight, nothing more of it is claimed.
    let at = at + 10;
    let more = store.claim_due(at, lease(3, 100, 16, at)).await.unwrap();
    assert_eq!(of(&more, &hooks[0]), 0);
    // The probe succeeds: the circuit closes, and the room it frees is taken up to the
    // per-webhook limit again (here: the remaining 4 due deliveries).
    let probe = others.iter().find(|d| d.webhook_id == hooks[0]).unwrap();
    let succeeded = outcome(probe, AfterAttempt::Succeeded, probe.claim_token);
    let handed = store
        .record_outcome_and_claim(succeeded, Some((at, lease(4, 100, 16, at))))
        .await
        .unwrap();
    assert_eq!(streak(hooks[0].clone()).await, 0);
    let again = store.claim_due(at, lease(5, 100, 16, at)).await.unwrap();
    assert_eq!(of(&handed, &hooks[0]) + of(&again, &hooks[0]), 4);
    // The other webhook was never touched by the first one's failures.
    assert_eq!(streak(hooks[1].clone()).await, 0);
}

async fn webhooks_with_open_circuits_get_no_more_than_their_share(opened: Opened) {
    use cdhooks_server::domain::health::OPENS_AFTER;
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.*"], &["server.*"], &["server.*"], &["billing.*"]],
    )
    .await;
    // The first three webhooks fail OPENS_AFTER attempts in a row.
    emit(
        store,
        &account,
        "srv_",
        "server.started",
        OPENS_AFTER as usize,
    )
    .await;
    let at = NOW + 100;
    for claimed in store.claim_due(at, lease(1, 100, 16, at)).await.unwrap() {
        let failed = outcome(
            &claimed,
            AfterAttempt::RetryAt(at + 3_600_000),
            claimed.claim_token,
        );
        store.record_outcome_and_claim(failed, None).await.unwrap();
    }
    emit(store, &account, "more_", "server.started", 2).await;
    emit(store, &account, "pay_", "billing.payment.succeeded", 5).await;
    // New deliveries of a failing webhook are never claimed at once, even with room.
    let answer = store
        .insert_event(
            &account,
            event("late", "server.started", 0),
            at,
            Some(lease(2, 100, 16, at)),
        )
        .await
        .unwrap();
    assert!(answer.claimed.is_empty(), "{:?}", answer.claimed);
    // A claim with room for one failing webhook takes one probe, and all the healthy work.
    let mut lease = lease(3, 100, 16, at);
    lease.max_failing = 1;
    let claimed = store.claim_due(at, lease).await.unwrap();
    let failing: Vec<&ClaimedDelivery> = claimed
        .iter()
        .filter(|d| d.webhook_id != hooks[3])
        .collect();
    assert_eq!(failing.len(), 1, "{claimed:?}");
    assert!(failing[0].circuit_open());
    let healthy = claimed.iter().filter(|d| d.webhook_id == hooks[3]);
    assert_eq!(healthy.clone().count(), 5);
    assert!(healthy.into_iter().all(|d| !d.circuit_open()));
}

async fn a_retry_after_holds_the_whole_webhook_until_its_time(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) =
        account_with_webhooks(store, "ops@example.com", &[&["server.*"], &["billing.*"]]).await;
    emit(store, &account, "srv_", "server.started", 3).await;
    let at = NOW + 100;
    let claimed = store.claim_due(at, lease(1, 1, 1, at)).await.unwrap();
    assert_eq!(claimed[0].webhook_id, hooks[0]);
    let first = &claimed[0];
    emit(store, &account, "pay_", "billing.payment.succeeded", 2).await;
    // The endpoint answered 429 with Retry-After: its delivery retries at +60 s, and the
    // whole webhook is held until then — the slot it frees goes to the other webhook.
    let mut held = outcome(first, AfterAttempt::RetryAt(at + 60_000), first.claim_token);
    held.hold_until = Some(at + 60_000);
    let handed = store
        .record_outcome_and_claim(held, Some((at, lease(2, 10, 16, at))))
        .await
        .unwrap();
    let hold = store.get_webhook(&account, &hooks[0]).await.unwrap().health;
    assert_eq!(hold.held_until, Some(at + 60_000));
    // Until then none of its due deliveries is claimed; the other webhook's are.
    let during = store
        .claim_due(at + 1, lease(3, 10, 16, at + 1))
        .await
        .unwrap();
    let all: Vec<&ClaimedDelivery> = handed.iter().chain(&during).collect();
    assert!(all.iter().all(|d| d.webhook_id == hooks[1]), "{all:?}");
    assert_eq!(all.len(), 2, "the other webhook's deliveries");
    // A shorter hold asked later does not shorten it (an outcome recorded for the held
    // webhook: the store applies holds by webhook).
    let mut shorter = outcome(
        all[0],
        AfterAttempt::RetryAt(at + 1_000),
        all[0].claim_token,
    );
    shorter.webhook_seq = first.webhook_seq;
    shorter.hold_until = Some(at + 1_000);
    store.record_outcome_and_claim(shorter, None).await.unwrap();
    assert_eq!(
        store
            .get_webhook(&account, &hooks[0])
            .await
            .unwrap()
            .health
            .held_until,
        Some(at + 60_000)
    );
    // At its time, the held webhook's deliveries are claimed again.
    let after = at + 60_000;
    let resumed = store
        .claim_due(after, lease(5, 10, 16, after))
        .await
        .unwrap();
    assert_eq!(
        resumed.iter().filter(|d| d.webhook_id == hooks[0]).count(),
        3,
        "its two waiting deliveries and the retried one"
    );
}

/// Records each of `claimed` as delivered under `token` (no follow-up claim); returns their
/// ids.
async fn delivered(store: &dyn Store, claimed: Vec<ClaimedDelivery>, token: u64) -> Vec<String> {
    let mut ids = Vec::with_capacity(claimed.len());
    for delivery in claimed {
        store
            .record_outcome_and_claim(outcome(&delivery, AfterAttempt::Succeeded, token), None)
            .await
            .unwrap();
        ids.push(delivery.id);
    }
    ids
}

async fn two_claimers_at_once_never_get_the_same_delivery(opened: Opened) {
    let store = opened.0.clone();
    let (account, _) = account_with_webhooks(
        &*store,
        "ops@example.com",
        &[&["server.*"], &["server.started"], &["*"]],
    )
    .await;
    emit(&*store, &account, "evt_", "server.started", 60).await;
    let claimer = |token: u64| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let at = NOW + 1_000;
                let claimed = store.claim_due(at, lease(token, 7, 4, at)).await.unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                assert!(claimed.iter().all(|d| d.claim_token == token));
                mine.extend(delivered(&*store, claimed, token).await);
            }
        })
    };
    let (a, b) = (claimer(1), claimer(2));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let (a, b): (HashSet<String>, HashSet<String>) =
        (a.into_iter().collect(), b.into_iter().collect());
    assert!(
        a.is_disjoint(&b),
        "{:?}",
        a.intersection(&b).collect::<Vec<_>>()
    );
    assert_eq!(a.len() + b.len(), 180);
}

/// Events stored while two claimers claim and record: every delivery is claimed exactly once
/// (none missed by a claim that ran while its event was being stored), and once all are
/// settled nothing is said to be due.
async fn deliveries_stored_while_claims_run_are_all_claimed(opened: Opened) {
    let store = opened.0.clone();
    let (account, _) = account_with_webhooks(
        &*store,
        "ops@example.com",
        &[
            &["server.*"],
            &["server.started"],
            &["*"],
            &["server.started"],
        ],
    )
    .await;
    const EVENTS: usize = 120;
    let emitting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let emitter = {
        let (store, emitting) = (store.clone(), emitting.clone());
        tokio::spawn(async move {
            for n in 0..EVENTS {
                let event = event(&format!("evt_{n}"), "server.started", n);
                store
                    .insert_event(&account, event, NOW, None)
                    .await
                    .unwrap();
            }
            emitting.store(false, std::sync::atomic::Ordering::Release);
        })
    };
    let claimer = |token: u64| {
        let (store, emitting) = (store.clone(), emitting.clone());
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                // Read before the claim: an empty claim after the emitter finished is final.
                let done = !emitting.load(std::sync::atomic::Ordering::Acquire);
                let at = NOW + 1_000;
                let claimed = store.claim_due(at, lease(token, 5, 2, at)).await.unwrap();
                if claimed.is_empty() {
                    if done {
                        return mine;
                    }
                    tokio::task::yield_now().await;
                }
                mine.extend(delivered(&*store, claimed, token).await);
            }
        })
    };
    let (a, b) = (claimer(1), claimer(2));
    emitter.await.unwrap();
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: HashSet<String> = a.iter().chain(&b).cloned().collect();
    assert_eq!(all.len(), a.len() + b.len(), "a delivery was claimed twice");
    assert_eq!(all.len(), EVENTS * 4, "deliveries left unclaimed");
    assert_eq!(store.next_due_at().await.unwrap(), None);
}

async fn an_outcome_under_a_lost_claim_changes_nothing(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 1).await;
    let old = store
        .claim_due(NOW, lease(1, 1, 16, NOW))
        .await
        .unwrap()
        .remove(0);
    let later = NOW + LEASE_MS + 1;
    let new = store
        .claim_due(later, lease(2, 1, 16, later))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(old.id, new.id);
    // The first holder's late result is dropped …
    store
        .record_outcome_and_claim(outcome(&old, AfterAttempt::Succeeded, 1), None)
        .await
        .unwrap();
    let record = store.get_delivery(&account, &old.id).await.unwrap();
    assert_eq!(record.status, DeliveryStatus::Pending);
    assert!(record.attempts.is_empty());
    // … the holder's counts.
    store
        .record_outcome_and_claim(
            outcome(&new, AfterAttempt::RetryAt(later + 60_000), 2),
            None,
        )
        .await
        .unwrap();
    let record = store.get_delivery(&account, &old.id).await.unwrap();
    assert_eq!(record.status, DeliveryStatus::Pending);
    assert_eq!(record.next_attempt_at, Some(later + 60_000));
    assert_eq!(record.attempts.len(), 1);
    assert_eq!(record.last_error.as_deref(), Some("HTTP 500"));
    // Not due before its time.
    assert!(store
        .claim_due(later + 59_999, lease(3, 1, 16, later + 59_999))
        .await
        .unwrap()
        .is_empty());
}

async fn the_final_failure_disables_pauses_and_queues_exactly_one_email_then_enable_resumes(
    opened: Opened,
) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 4).await;
    let claimed = store
        .claim_due(NOW + 10, lease(1, 2, 16, NOW + 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    // Two deliveries give up at once: one disable, one email.
    let finals = claimed
        .iter()
        .map(|d| store.record_outcome_and_claim(outcome(d, give_up(), 1), None));
    for answer in join_all(finals).await {
        answer.unwrap();
    }
    let webhook = store.get_webhook(&account, &hooks[0]).await.unwrap();
    assert!(!webhook.enabled);
    assert!(webhook.disabled_reason.unwrap().contains("5 consecutive"));
    let emails = store
        .claim_emails(NOW + 20, email_claim(9, NOW + 20))
        .await
        .unwrap();
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(emails[0].email.recipient, "ops@example.com");
    let deliveries = store
        .list_deliveries(&account, &hooks[0], None, 10)
        .await
        .unwrap();
    let count = |status| deliveries.iter().filter(|d| d.status == status).count();
    assert_eq!(count(DeliveryStatus::Failed), 2);
    assert_eq!(count(DeliveryStatus::Paused), 2);
    // Each listed delivery carries its own attempts, oldest first — on a later page too.
    let numbers = |d: &DeliveryRecord| d.attempts.iter().map(|a| a.number).collect::<Vec<_>>();
    for d in &deliveries {
        assert_eq!(
            numbers(d),
            (1..=d.attempt_count).collect::<Vec<_>>(),
            "{}",
            d.id
        );
    }
    let first = store
        .list_deliveries(&account, &hooks[0], None, 1)
        .await
        .unwrap();
    let rest = store
        .list_deliveries(&account, &hooks[0], Some(&first[0].id), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), deliveries.len());
    for (paged, whole) in first.iter().chain(&rest).zip(&deliveries) {
        assert_eq!((&paged.id, numbers(paged)), (&whole.id, numbers(whole)));
    }
    assert!(deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Paused)
        .all(|d| d.next_attempt_at.is_none() && d.updated_at == NOW + 3));
    assert!(store
        .claim_due(NOW + 30, lease(2, 10, 16, NOW + 30))
        .await
        .unwrap()
        .is_empty());
    // Enabling resumes the paused ones now; the failed ones stay failed.
    let enabled = store
        .update_webhook_and_deliveries(
            &account,
            &hooks[0],
            WebhookChange {
                enabled: Some(true),
                ..Default::default()
            },
            NOW + 40,
        )
        .await
        .unwrap();
    assert!(enabled.enabled && enabled.disabled_reason.is_none());
    let resumed = store
        .claim_due(NOW + 40, lease(3, 10, 16, NOW + 40))
        .await
        .unwrap();
    assert_eq!(resumed.len(), 2);
    assert!(resumed.iter().all(|d| d.round_base == d.attempt_count));
    // Disabling by the owner pauses what is pending, with no email.
    set_enabled(store, &account, &hooks[0], false, NOW + 50).await;
    let again = store.claim_emails(NOW + LEASE_MS * 10, email_claim(10, NOW + LEASE_MS * 10));
    assert!(again.await.unwrap().iter().all(|e| e.id == emails[0].id));
}

async fn a_retry_whose_webhook_was_disabled_meanwhile_waits_paused(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 1).await;
    let delivery = store
        .claim_due(NOW, lease(1, 1, 16, NOW))
        .await
        .unwrap()
        .remove(0);
    set_enabled(store, &account, &hooks[0], false, NOW + 1).await;
    store
        .record_outcome_and_claim(
            outcome(&delivery, AfterAttempt::RetryAt(NOW + 60_000), 1),
            None,
        )
        .await
        .unwrap();
    let record = store.get_delivery(&account, &delivery.id).await.unwrap();
    assert_eq!(record.status, DeliveryStatus::Paused);
    assert_eq!(record.attempt_count, 1);
}

async fn manual_retry_requeues_only_a_failed_delivery_of_an_enabled_webhook(opened: Opened) {
    let store = &*opened.0;
    let (account, hooks) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 2).await;
    let claimed = store
        .claim_due(NOW + 5, lease(1, 1, 16, NOW + 5))
        .await
        .unwrap();
    let pending_id = store
        .list_deliveries(&account, &hooks[0], None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.id != claimed[0].id)
        .unwrap()
        .id;
    let refused = store.retry_delivery(&account, &pending_id, NOW + 6).await;
    assert!(
        matches!(refused, Err(StoreError::InvalidState(_))),
        "{refused:?}"
    );
    store
        .record_outcome_and_claim(outcome(&claimed[0], give_up(), 1), None)
        .await
        .unwrap();
    let disabled = store
        .retry_delivery(&account, &claimed[0].id, NOW + 7)
        .await;
    assert!(
        matches!(disabled, Err(StoreError::InvalidState(m)) if m.contains("enable")),
        "the webhook was disabled by the final failure"
    );
    set_enabled(store, &account, &hooks[0], true, NOW + 8).await;
    let retried = store
        .retry_delivery(&account, &claimed[0].id, NOW + 9)
        .await
        .unwrap();
    assert_eq!(retried.status, DeliveryStatus::Pending);
    assert_eq!(retried.next_attempt_at, Some(NOW + 9));
    let unknown = store.retry_delivery(&account, "dlv_nope", NOW + 9).await;
    assert!(matches!(unknown, Err(StoreError::NotFound)));
}

async fn new_events_are_claimed_at_once_only_within_the_limit_and_in_order(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(
        store,
        "ops@example.com",
        &[&["server.started"], &["server.*"]],
    )
    .await;
    // 24 requests at once, each with room for 10, 5 per webhook: at most 5 per webhook are
    // claimed at once (a store may claim fewer while another request holds the webhook),
    // the rest wait in the store.
    let inserted = emit_together(store, &account, 24, Some(lease(5, 10, 5, NOW))).await;
    assert!(inserted.iter().all(|i| i.deliveries == 2));
    let claimed: usize = inserted.iter().map(|i| i.claimed.len()).sum();
    let mut per_webhook = std::collections::HashMap::new();
    for c in inserted.iter().flat_map(|i| &i.claimed) {
        *per_webhook.entry(c.webhook_id.clone()).or_insert(0) += 1;
    }
    assert!(per_webhook.values().all(|&n| n <= 5), "{per_webhook:?}");
    assert!(claimed >= 1);
    for i in &inserted {
        for c in &i.claimed {
            let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
            assert_eq!(c.event_id, format!("evt_{}", body["data"]["n"]));
        }
    }
    // A webhook with deliveries waiting gets none at once, however much room there is: the
    // new event must not overtake them.
    let more = store
        .insert_event(
            &account,
            event("evt_new", "server.started", 99),
            NOW + 1,
            Some(lease(6, 10, 100, NOW + 1)),
        )
        .await
        .unwrap();
    assert_eq!(more.deliveries, 2);
    assert!(more.claimed.is_empty());
    let due = store
        .claim_due(NOW + 1, lease(7, 100, 100, NOW + 1))
        .await
        .unwrap();
    assert_eq!(due.len(), 48 + 2 - claimed);
}

async fn a_batch_of_outcomes_records_each_and_drops_those_whose_claim_was_lost(opened: Opened) {
    let store = &*opened.0;
    let (account, _) =
        account_with_webhooks(store, "ops@example.com", &[&["server.started"]]).await;
    emit(store, &account, "evt_", "server.started", 70).await;
    let claimed = store
        .claim_due(NOW + 100, lease(9, 70, 70, NOW + 100))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 70);
    let outcomes = claimed.iter().enumerate().map(|(n, delivery)| {
        let next = if n % 3 == 1 {
            AfterAttempt::RetryAt(NOW + 5_000)
        } else {
            AfterAttempt::Succeeded
        };
        store.record_outcome_and_claim(
            outcome(delivery, next, if n % 3 == 2 { 10 } else { 9 }),
            None,
        )
    });
    for answer in join_all(outcomes).await {
        answer.unwrap();
    }
    for (n, delivery) in claimed.iter().enumerate() {
        let record = store.get_delivery(&account, &delivery.id).await.unwrap();
        let (status, attempts) = match n % 3 {
            0 => (DeliveryStatus::Succeeded, 1),
            1 => (DeliveryStatus::Pending, 1),
            _ => (DeliveryStatus::Pending, 0),
        };
        assert_eq!(
            (record.status, record.attempt_count),
            (status, attempts),
            "{n}"
        );
    }
}

async fn the_outbox_is_claimed_under_leases_retried_and_dead_lettered(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["*"], &["*"]]).await;
    emit(store, &account, "evt_", "server.started", 1).await;
    for delivery in store.claim_due(NOW, lease(1, 10, 16, NOW)).await.unwrap() {
        store
            .record_outcome_and_claim(outcome(&delivery, give_up(), 1), None)
            .await
            .unwrap();
    }
    // Two webhooks disabled: two emails. Two senders at once share them, never both one.
    let (a, b) = tokio::join!(
        store.claim_emails(NOW + 10, email_claim(11, NOW + 10)),
        store.claim_emails(NOW + 10, email_claim(12, NOW + 10)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 2);
    let mut emails: Vec<_> = a.into_iter().chain(b).collect();
    let (first, second) = (emails.remove(0), emails.remove(0));
    assert!(first.email.body.contains("/retry"));
    // Sent under a lost claim: nothing changes; under the claim: gone for good.
    store.email_sent(&first.id, 999, NOW + 2).await.unwrap();
    store
        .email_sent(&first.id, first.claim_token, NOW + 2)
        .await
        .unwrap();
    // A failed try comes back at the time the rules chose, not before.
    store
        .email_failed(
            &second.id,
            second.claim_token,
            "SMTP down",
            EmailNext::RetryAt(NOW + 60_000),
            NOW + 2,
        )
        .await
        .unwrap();
    let after_lease = NOW + 2 * LEASE_MS;
    assert!(store
        .claim_emails(NOW + 59_999, email_claim(13, NOW + 59_999))
        .await
        .unwrap()
        .is_empty());
    let retry = store
        .claim_emails(NOW + 60_000, email_claim(14, NOW + 60_000))
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!(
        (retry[0].id.as_str(), retry[0].tries),
        (second.id.as_str(), 1)
    );
    // Dead-lettered: never claimed again, listed for operators.
    store
        .email_failed(&second.id, 14, "SMTP down", EmailNext::Dead, NOW + 60_001)
        .await
        .unwrap();
    assert!(store
        .claim_emails(after_lease * 2, email_claim(15, after_lease * 2))
        .await
        .unwrap()
        .is_empty());
    let dead = store.dead_emails(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].id.as_str(), dead[0].tries),
        (second.id.as_str(), 2)
    );
}

async fn queue_stats_count_pending_due_and_claimed_work_and_the_oldest_due(opened: Opened) {
    let store = &*opened.0;
    let empty = store.queue_stats(NOW).await.unwrap();
    assert_eq!(
        (empty.pending, empty.due, empty.oldest_due_at, empty.outbox),
        (0, 0, None, 0)
    );
    assert_eq!(empty.processes, 1, "this process alone");
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_", "server.started", 4).await;
    let stats = store.queue_stats(NOW + 10).await.unwrap();
    assert_eq!(
        (stats.pending, stats.due, stats.oldest_due_at),
        (4, 4, Some(NOW))
    );
    // Claimed work is pending but not due; the oldest due is the oldest unclaimed one.
    let claimed = store
        .claim_due(NOW + 10, lease(1, 1, 16, NOW + 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        claimed[0].accepted_at_ms, NOW,
        "the claim carries the acceptance time"
    );
    let stats = store.queue_stats(NOW + 10).await.unwrap();
    assert_eq!(
        (stats.pending, stats.due, stats.oldest_due_at),
        (4, 3, Some(NOW + 1))
    );
    // Not yet due at an earlier time.
    assert_eq!(store.queue_stats(NOW - 1).await.unwrap().due, 0);
}

async fn api_keys_are_added_listed_used_and_revoked_but_never_the_last(opened: Opened) {
    use cdhooks_server::domain::api_key::digest;
    let store = &*opened.0;
    let first = digest("cdh_first_key");
    let account = store
        .create_account("ops@example.com", &first, NOW)
        .await
        .unwrap();
    let keys = store.list_api_keys(&account).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        keys[0].created_at, NOW,
        "stamped with the time it was given"
    );
    assert_eq!(
        (keys[0].name.as_str(), keys[0].prefix.as_str()),
        ("default", "cdh_firs")
    );
    assert!(matches!(
        store.account("nope").await.unwrap_err(),
        StoreError::NotFound
    ));
    assert_eq!(store.account(&account.id).await.unwrap(), account);
    // The last key cannot go.
    let err = store
        .revoke_api_key(&account, &keys[0].id, None, NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let second = digest("cdh_second_key");
    let added = store
        .create_api_key(
            &account,
            "ci",
            cdhooks_server::domain::access::KeyScope::Manage,
            &second,
            NOW,
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        store.account_by_key_hash(&second.hash).await.unwrap(),
        Some(account.clone())
    );
    // Not the key the request is made with.
    let err = store
        .revoke_api_key(&account, &keys[0].id, Some(&first.hash), NOW)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)));
    // Use is noted, at most once a minute.
    store.touch_api_key(&second.hash, NOW + 1).await.unwrap();
    store.touch_api_key(&second.hash, NOW + 2).await.unwrap();
    let listed = store.list_api_keys(&account).await.unwrap();
    assert_eq!(
        listed
            .iter()
            .find(|k| k.id == added.id)
            .unwrap()
            .last_used_at,
        Some(NOW + 1)
    );
    // Revoked with another key: gone from lookups and lists; another account's id is 404.
    let other = store
        .create_account("other@example.com", &digest("cdh_other"), NOW)
        .await
        .unwrap();
    assert!(matches!(
        store
            .revoke_api_key(&other, &keys[0].id, None, NOW)
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
    let hash = store
        .revoke_api_key(&account, &keys[0].id, Some(&second.hash), NOW)
        .await
        .unwrap();
    assert_eq!(hash, first.hash);
    assert_eq!(store.account_by_key_hash(&first.hash).await.unwrap(), None);
    assert_eq!(store.list_api_keys(&account).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .revoke_api_key(&account, &keys[0].id, None, NOW)
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
}

async fn a_rotation_keeps_the_previous_secret_for_its_grace_period(opened: Opened) {
    use cdhooks_server::domain::webhook::WebhookSecret;
    use cdhooks_server::store::PreviousSecret;
    let store = &*opened.0;
    let (account, ids) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    let new = WebhookSecret::parse("a_new_secret_0123456789".to_owned()).unwrap();
    let rotated = store
        .rotate_secret(&account, &ids[0], new.clone(), Some(NOW + 5_000), NOW)
        .await
        .unwrap();
    assert_eq!(rotated.secret, new);
    let previous = PreviousSecret {
        secret: WebhookSecret::from_stored("your_webhook_secret".to_owned()),
        until_ms: NOW + 5_000,
    };
    assert_eq!(rotated.previous_secrets, std::slice::from_ref(&previous));
    // Claims carry it, new ones and due ones alike.
    let inserted = store
        .insert_event(
            &account,
            event("evt_a", "server.started", 0),
            NOW,
            Some(lease(1, 10, 16, NOW)),
        )
        .await
        .unwrap();
    assert_eq!(
        inserted.claimed[0].previous_secrets,
        std::slice::from_ref(&previous)
    );
    emit(store, &account, "evt_b", "server.started", 1).await;
    let due = store
        .claim_due(NOW + 1, lease(2, 10, 16, NOW + 1))
        .await
        .unwrap();
    assert_eq!(due[0].previous_secrets, std::slice::from_ref(&previous));
    // A second rotation keeps the first one's grace: both sign, oldest first.
    let third = WebhookSecret::parse("a_third_secret_0123456789".to_owned()).unwrap();
    let again = store
        .rotate_secret(&account, &ids[0], third, Some(NOW + 3_600_000), NOW + 10)
        .await
        .unwrap();
    let second = PreviousSecret {
        secret: new,
        until_ms: NOW + 3_600_000,
    };
    assert_eq!(again.previous_secrets, [previous, second.clone()]);
    // Once the first grace ended, a rotation without grace retires the current secret at
    // once and keeps only what still signs.
    let last = store
        .rotate_secret(
            &account,
            &ids[0],
            WebhookSecret::generate(),
            None,
            NOW + 6_000,
        )
        .await
        .unwrap();
    assert_eq!(last.previous_secrets, [second]);
}

async fn a_key_rotation_gives_a_first_key_then_keeps_the_previous_for_its_grace(opened: Opened) {
    use cdhooks_server::domain::webhook::WebhookSecret;
    use cdhooks_server::store::PreviousSecret;
    let store = &*opened.0;
    let (account, ids) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    assert_eq!(
        store.webhook_signing_keys(&ids[0]).await.unwrap(),
        (None, vec![])
    );
    // The first key: nothing to retire, whatever the grace period.
    let k1 = WebhookSecret::from_stored("whsk_first".to_owned());
    let first = store
        .rotate_signing_key(&account, &ids[0], k1.clone(), Some(NOW + 5_000), NOW)
        .await
        .unwrap();
    assert_eq!(first.signing_key.as_ref(), Some(&k1));
    assert!(first.previous_signing_keys.is_empty());
    // The next one keeps the first signing until its grace ends; the secret is untouched.
    let k2 = WebhookSecret::from_stored("whsk_second".to_owned());
    let second = store
        .rotate_signing_key(&account, &ids[0], k2.clone(), Some(NOW + 5_000), NOW + 1)
        .await
        .unwrap();
    let previous = PreviousSecret {
        secret: k1,
        until_ms: NOW + 5_000,
    };
    assert_eq!(
        second.previous_signing_keys,
        std::slice::from_ref(&previous)
    );
    assert!(second.previous_secrets.is_empty());
    assert_eq!(second.secret.expose(), "your_webhook_secret");
    assert_eq!(
        store.webhook_signing_keys(&ids[0]).await.unwrap(),
        (Some(k2), vec![previous])
    );
    assert!(matches!(
        store
            .rotate_signing_key(&account, "wh_nope", WebhookSecret::generate(), None, NOW)
            .await
            .unwrap_err(),
        StoreError::NotFound
    ));
}

async fn pruning_removes_old_finished_events_in_batches_and_keeps_unfinished_ones(opened: Opened) {
    let store = &*opened.0;
    // No webhook for `billing.*`: those events are finished at once; `server.*` ones wait.
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["server.*"]]).await;
    emit(store, &account, "evt_bill_", "billing.payment.succeeded", 3).await;
    emit(store, &account, "evt_srv_", "server.started", 1).await;
    let day = 86_400_000;
    // Nothing is older than a cutoff before the events.
    assert_eq!(store.prune(NOW - day, 10).await.unwrap(), 0);
    // In batches: two, then the last finished one; the pending delivery's event stays.
    assert_eq!(store.prune(NOW + day, 2).await.unwrap(), 2);
    assert_eq!(store.prune(NOW + day, 2).await.unwrap(), 1);
    assert_eq!(store.prune(NOW + day, 2).await.unwrap(), 0);
    assert!(matches!(
        store.get_event(&account, "evt_bill_0").await.unwrap_err(),
        StoreError::NotFound
    ));
    assert!(store.get_event(&account, "evt_srv_0").await.is_ok());
    assert_eq!(store.queue_stats(NOW + day).await.unwrap().pending, 1);
}

async fn keys_and_inboxes_stop_at_their_limits(opened: Opened) {
    let (store, _keep) = opened;
    let digest = cdhooks_server::domain::api_key::digest;
    let account = store
        .create_account("limits@example.com", &digest("cdh_limits_first"), NOW)
        .await
        .unwrap();
    // The first key counts: with a limit of 3, two more fit.
    for i in 0..2 {
        let key = digest(&format!("cdh_limits_{i}"));
        store
            .create_api_key(
                &account,
                "more",
                cdhooks_server::domain::access::KeyScope::Manage,
                &key,
                NOW,
                3,
            )
            .await
            .unwrap();
    }
    let refused = store
        .create_api_key(
            &account,
            "one too many",
            cdhooks_server::domain::access::KeyScope::Manage,
            &digest("cdh_limits_x"),
            NOW,
            3,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::LimitReached(_)),
        "{refused:?}"
    );
    assert_eq!(store.list_api_keys(&account).await.unwrap().len(), 3);
    // A revoked key frees its place.
    let keys = store.list_api_keys(&account).await.unwrap();
    store
        .revoke_api_key(&account, &keys[2].id, None, NOW)
        .await
        .unwrap();
    store
        .create_api_key(
            &account,
            "again",
            cdhooks_server::domain::access::KeyScope::Manage,
            &digest("cdh_limits_y"),
            NOW,
            3,
        )
        .await
        .unwrap();

    let first = store.create_inbox(&account, NOW, 2).await.unwrap();
    store.create_inbox(&account, NOW, 2).await.unwrap();
    let refused = store.create_inbox(&account, NOW, 2).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::LimitReached(_)),
        "{refused:?}"
    );
    assert_eq!(
        store.inbox_owner(&first).await.unwrap(),
        Some(account.id.clone())
    );
    assert_eq!(store.inbox_owner("inb_nope").await.unwrap(), None);
}

async fn an_inbox_keeps_its_newest_captures_within_count_and_bytes(opened: Opened) {
    use cdhooks_server::domain::inbox::InboxKeep;
    use cdhooks_server::store::model::InboxRequest;
    let (store, _keep) = opened;
    let account = store
        .create_account(
            "inbox@example.com",
            &cdhooks_server::domain::api_key::digest("cdh_inbox"),
            NOW,
        )
        .await
        .unwrap();
    let token = store.create_inbox(&account, NOW, 10).await.unwrap();
    let capture = |i: i64, bytes: usize| InboxRequest {
        token: token.clone(),
        received_at: NOW + i,
        method: "POST".to_owned(),
        headers: vec![],
        body: vec![b'x'; bytes],
    };
    let keep = InboxKeep {
        requests: 3,
        bytes: 1_000,
    };
    for i in 0..5 {
        let owner = store
            .record_inbox_request(capture(i, 10), keep)
            .await
            .unwrap();
        assert_eq!(owner, account.id);
    }
    let times = |kept: Vec<InboxRequest>| kept.iter().map(|r| r.received_at).collect::<Vec<_>>();
    let kept = store.inbox_requests(&account, &token, 100).await.unwrap();
    assert_eq!(times(kept), [NOW + 4, NOW + 3, NOW + 2], "the newest 3");
    // 600 + 600 bytes are over 1,000: the older goes; one larger than the bound stays alone.
    store
        .record_inbox_request(capture(5, 600), keep)
        .await
        .unwrap();
    store
        .record_inbox_request(capture(6, 600), keep)
        .await
        .unwrap();
    let kept = store.inbox_requests(&account, &token, 100).await.unwrap();
    assert_eq!(times(kept), [NOW + 6]);
    store
        .record_inbox_request(capture(7, 5_000), keep)
        .await
        .unwrap();
    let kept = store.inbox_requests(&account, &token, 100).await.unwrap();
    assert_eq!(times(kept), [NOW + 7]);
    // An unknown token is NotFound, and the store keeps writing afterwards.
    let mut unknown = capture(8, 1);
    unknown.token = "inb_00000000000000000000000000000000".to_owned();
    assert!(matches!(
        store.record_inbox_request(unknown, keep).await.unwrap_err(),
        StoreError::NotFound
    ));
    store
        .record_inbox_request(capture(9, 1), keep)
        .await
        .unwrap();
}

async fn a_sealed_secret_is_found_for_the_start_check(opened: Opened) {
    use cdhooks_server::domain::sealing::{Sealer, SEALED_LIKE};
    let (store, _keep) = opened;
    let (account, _) = account_with_webhooks(&*store, "plain@example.com", &[&["*"]]).await;
    assert!(store.secret_like(SEALED_LIKE).await.unwrap().is_none());
    let sealer = Sealer::from_key_text(&format!("{}=", "A".repeat(43))).unwrap();
    let request = CreateWebhookRequest {
        url: "http://127.0.0.1:9/sealed".to_owned(),
        events: vec!["*".to_owned()],
        secret: Some("your_webhook_secret".to_owned()),
        description: None,
        signing: None,
        filter: None,
    };
    let policy = TargetPolicy {
        allowed: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
    };
    let mut webhook = NewWebhook::validate(request, &policy, &Catalog::seeded()).unwrap();
    webhook.secret = sealer.seal(&webhook.secret);
    store.create_webhook(&account, webhook, NOW).await.unwrap();
    let found = store.secret_like(SEALED_LIKE).await.unwrap().unwrap();
    assert_eq!(sealer.open(&found).unwrap().expose(), "your_webhook_secret");
}

async fn a_released_claim_is_due_again_at_once(opened: Opened) {
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(store, "ops@example.com", &[&["*"]]).await;
    emit(store, &account, "evt_r", "server.started", 1).await;
    let claimed = store
        .claim_due(NOW + 1, lease(7, 10, 16, NOW + 1))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let seq = claimed[0].seq;
    // Under its lease nobody else gets it; a release with another token changes nothing.
    assert!(store
        .claim_due(NOW + 2, lease(8, 10, 16, NOW + 2))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.release_claims(&[(seq, 99)]).await.unwrap(), 0);
    assert_eq!(store.release_claims(&[(seq, 7)]).await.unwrap(), 1);
    let again = store
        .claim_due(NOW + 3, lease(9, 10, 16, NOW + 3))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "due again long before the lease would end");
    assert_eq!(again[0].seq, seq);
}

async fn a_writable_store_says_so(opened: Opened) {
    opened.0.check_writable(NOW).await.unwrap();
    opened.0.check_writable(NOW + 1).await.unwrap();
}

/// The provider's directory: accounts found by external id and email, changed, and deleted
/// with everything they hold; a second account is untouched throughout.
async fn accounts_are_found_changed_and_deleted_with_all_they_hold(opened: Opened) {
    use cdhooks_server::domain::access::KeyScope;
    use cdhooks_server::domain::account::{AccountChange, NewAccount};
    use cdhooks_server::domain::api_key::digest;
    use cdhooks_server::store::model::{AccountFilter, InboxRequest};
    let store = &*opened.0;
    let new = |email: &str, external: Option<&str>| NewAccount {
        email: email.to_owned(),
        name: Some("Acme".to_owned()),
        external_id: external.map(str::to_owned),
    };
    let (gone, _) = store
        .open_account(
            &new("a@example.com", Some("cus_1")),
            &digest("cdh_gone"),
            KeyScope::Manage,
            NOW,
        )
        .await
        .unwrap();
    let (kept, kept_hooks) = account_with_webhooks(store, "b@example.com", &[&["*"]]).await;
    assert!(matches!(
        store
            .open_account(
                &new("c@example.com", Some("cus_1")),
                &digest("cdh_dup"),
                KeyScope::Manage,
                NOW
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    let by = |email: Option<&str>, external: Option<&str>| AccountFilter {
        email: email.map(str::to_owned),
        external_id: external.map(str::to_owned),
    };
    let found = store
        .list_accounts(&by(None, Some("cus_1")), None, 10)
        .await
        .unwrap();
    assert_eq!(found, vec![gone.clone()]);
    let found = store
        .list_accounts(&by(Some("b@example.com"), None), None, 10)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|a| &a.id).collect::<Vec<_>>(), [&kept.id]);
    let all = store
        .list_accounts(&by(None, None), None, 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let after_first = store
        .list_accounts(&by(None, None), Some(&all[0].id), 10)
        .await
        .unwrap();
    assert_eq!(after_first, all[1..].to_vec());
    assert_eq!(
        store.account_key(&digest("cdh_gone").hash).await.unwrap(),
        Some((gone.account(), KeyScope::Manage))
    );

    let changed = store
        .update_account(
            &gone.id,
            &AccountChange {
                email: Some("new@example.com".to_owned()),
                name: Some(None),
                external_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            changed.email.as_str(),
            changed.name.as_deref(),
            changed.external_id.as_deref()
        ),
        ("new@example.com", None, Some("cus_1"))
    );
    assert_eq!(
        store.account(&gone.id).await.unwrap().email,
        "new@example.com"
    );

    // Everything the account can hold: a webhook with deliveries, a key, an inbox with a
    // capture, a portal session.
    let account = changed.account();
    let hooks = account_with_webhooks_of(store, &account, &[&["*"]]).await;
    emit(store, &account, "evt_gone", "server.started", 2).await;
    emit(store, &kept, "evt_kept", "server.started", 1).await;
    let delivery = store
        .list_deliveries(&account, &hooks[0], None, 10)
        .await
        .unwrap()[0]
        .id
        .clone();
    store
        .create_api_key(
            &account,
            "ci",
            KeyScope::Read,
            &digest("cdh_gone_2"),
            NOW,
            100,
        )
        .await
        .unwrap();
    let inbox = store.create_inbox(&account, NOW, 20).await.unwrap();
    store
        .record_inbox_request(
            InboxRequest {
                token: inbox.clone(),
                received_at: NOW,
                method: "POST".to_owned(),
                headers: vec![],
                body: b"{}".to_vec(),
            },
            cdhooks_server::domain::inbox::INBOX_KEEP,
        )
        .await
        .unwrap();
    store
        .create_portal_session(&account.id, &digest("cdhs_gone"), false, NOW + 60_000, NOW)
        .await
        .unwrap();
    assert!(store
        .portal_session(&digest("cdhs_gone").hash)
        .await
        .unwrap()
        .is_some());

    let hashes = store.delete_account(&account.id).await.unwrap().unwrap();
    let expected: HashSet<String> = ["cdh_gone", "cdh_gone_2", "cdhs_gone"]
        .iter()
        .map(|k| digest(k).hash)
        .collect();
    assert_eq!(hashes.into_iter().collect::<HashSet<_>>(), expected);
    assert!(matches!(
        store.account(&account.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.account_record(&account.id).await,
        Err(StoreError::NotFound)
    ));
    for key in ["cdh_gone", "cdh_gone_2"] {
        assert_eq!(store.account_key(&digest(key).hash).await.unwrap(), None);
    }
    assert!(store
        .portal_session(&digest("cdhs_gone").hash)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.get_webhook(&account, &hooks[0]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_event(&account, "evt_gone0").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_delivery(&account, &delivery).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.inbox_owner(&inbox).await.unwrap(), None);
    assert!(store.list_api_keys(&account).await.unwrap().is_empty());
    // Nothing of it is left to claim; the other account's delivery still is.
    let claimed = store
        .claim_due(NOW + 10, lease(1, 100, 16, NOW + 10))
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|c| c.webhook_id.as_str())
            .collect::<Vec<_>>(),
        [kept_hooks[0].as_str()]
    );
    // Deleting again is no error and finds nothing.
    assert_eq!(store.delete_account(&account.id).await.unwrap(), None);
    assert!(store.get_event(&kept, "evt_kept0").await.is_ok());
}

/// Platform keys and portal sessions: found while valid, gone when revoked.
async fn platform_keys_and_portal_sessions_hold_until_revoked(opened: Opened) {
    use cdhooks_server::domain::api_key::digest;
    let store = &*opened.0;
    let (account, _) = account_with_webhooks(store, "a@example.com", &[]).await;
    let first = store
        .create_platform_key("billing", &digest("cdhp_1"), NOW)
        .await
        .unwrap();
    let second = store
        .create_platform_key("ops", &digest("cdhp_2"), NOW + 1)
        .await
        .unwrap();
    assert!(store
        .platform_key_valid(&digest("cdhp_1").hash, NOW)
        .await
        .unwrap());
    assert!(!store
        .platform_key_valid(&digest("cdhp_x").hash, NOW)
        .await
        .unwrap());
    let listed = store.list_platform_keys().await.unwrap();
    assert_eq!(
        listed.iter().map(|k| &k.id).collect::<Vec<_>>(),
        [&first.id, &second.id]
    );
    assert!(listed[0].last_used_at.is_some(), "a valid use is noted");
    assert!(matches!(
        store
            .revoke_platform_key(&first.id, Some(&digest("cdhp_1").hash), NOW)
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .revoke_platform_key(&first.id, Some(&digest("cdhp_2").hash), NOW)
            .await
            .unwrap(),
        digest("cdhp_1").hash
    );
    assert!(!store
        .platform_key_valid(&digest("cdhp_1").hash, NOW)
        .await
        .unwrap());
    assert!(matches!(
        store.revoke_platform_key(&first.id, None, NOW).await,
        Err(StoreError::NotFound)
    ));

    let session = store
        .create_portal_session(&account.id, &digest("cdhs_1"), true, NOW + 1_000, NOW)
        .await
        .unwrap();
    let (owner, found) = store
        .portal_session(&digest("cdhs_1").hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((owner, found), (account.clone(), session.clone()));
    assert!(matches!(
        store
            .create_portal_session(
                "acct_00000000000000000000000000000000",
                &digest("cdhs_2"),
                false,
                NOW + 1,
                NOW
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .revoke_portal_session("acct_00000000000000000000000000000000", &session.id, NOW)
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .revoke_portal_session(&account.id, &session.id, NOW)
        .await
        .unwrap();
    assert!(store
        .portal_session(&digest("cdhs_1").hash)
        .await
        .unwrap()
        .is_none());
}

/// Who needs attention when deliveries due before `late_before` are late: (email, why).
async fn listed(
    store: &dyn Store,
    filter: &cdhooks_server::store::model::AccountFilter,
    late_before: i64,
) -> Vec<(String, cdhooks_server::store::model::Attention)> {
    store
        .accounts_needing_attention(filter, late_before, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(a, why)| (a.email, why))
        .collect()
}

/// The operator's list: accounts with a disabled webhook or a delivery late past the given
/// time, each with why; a healthy account is never listed.
async fn accounts_needing_attention_are_those_with_a_disabled_webhook_or_late_work(opened: Opened) {
    use cdhooks_server::store::model::{AccountFilter, Attention};
    let store = &*opened.0;
    let (healthy, _) = account_with_webhooks(store, "fine@example.com", &[&["*"]]).await;
    let (waiting, _) = account_with_webhooks(store, "late@example.com", &[&["*"]]).await;
    let (broken, hooks) = account_with_webhooks(store, "off@example.com", &[&["*"], &["*"]]).await;
    set_enabled(store, &broken, &hooks[0], false, NOW).await;
    emit(store, &waiting, "evt_w", "server.started", 1).await;
    let all = AccountFilter::default();
    // The delivery fell due at NOW: not late while the cut-off is NOW, late after.
    let mut now = listed(store, &all, NOW).await;
    now.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        now,
        [(
            "off@example.com".to_owned(),
            Attention {
                disabled_webhooks: 1,
                oldest_due_at: None
            }
        )]
    );
    let mut later = listed(store, &all, NOW + 1).await;
    later.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        later,
        [
            (
                "late@example.com".to_owned(),
                Attention {
                    disabled_webhooks: 0,
                    oldest_due_at: Some(NOW)
                }
            ),
            (
                "off@example.com".to_owned(),
                Attention {
                    disabled_webhooks: 1,
                    oldest_due_at: None
                }
            ),
        ]
    );
    assert!(!later.iter().any(|(email, _)| *email == healthy.email));
    let only = AccountFilter {
        email: Some("late@example.com".to_owned()),
        external_id: None,
    };
    let filtered = store
        .accounts_needing_attention(&only, NOW + 1, None, 10)
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    // Pages by id.
    let first = store
        .accounts_needing_attention(&all, NOW + 1, None, 1)
        .await
        .unwrap();
    let rest = store
        .accounts_needing_attention(&all, NOW + 1, Some(&first[0].0.id), 10)
        .await
        .unwrap();
    assert_eq!(first.len() + rest.len(), 2);
    assert_ne!(first[0].0.id, rest[0].0.id);
}

/// Waits until `store`, at a heartbeat of its own (about every second), shares the webhooks
/// among `count` processes.
async fn processes_seen(store: &cdhooks_server::store::postgres::PgStore, count: u32) {
    support::poll::eventually(
        &format!("{count} processes seen"),
        std::time::Duration::from_secs(10),
        || store.sharing_among() == count,
    )
    .await;
}

/// Processes sharing a PostgreSQL database split the webhooks: each claims the backlog of its
/// own share only, together they claim all of it, and when one stops the other takes its share
/// over at its next heartbeat (about a second). PostgreSQL only: nothing else is shared.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_postgres_split_the_webhooks_and_take_over_a_leavers_share() {
    use cdhooks_server::store::{DeliveryQueue, Upkeep};
    let Some(url) = support::pg::fresh_database().await else {
        return;
    };
    let connect = || cdhooks_server::store::postgres::PgStore::connect(&url, 4);
    let (a, b) = (connect().await.unwrap(), connect().await.unwrap());
    let (account, webhooks) =
        account_with_webhooks(&a, "ops@example.com", &[&["*"] as &[&str]; 4]).await;
    emit(&a, &account, "evt_", "server.started", 5).await;
    // `a` started alone and learns of `b` at its next heartbeat (`b` knew of `a`).
    processes_seen(&a, 2).await;
    processes_seen(&b, 2).await;
    assert_eq!(a.queue_stats(NOW).await.unwrap().processes, 2);
    let at = NOW + 1_000;
    let by_a = a.claim_due(at, lease(1, 100, 100, at)).await.unwrap();
    let by_b = b.claim_due(at, lease(2, 100, 100, at)).await.unwrap();
    let hooks = |claimed: &[ClaimedDelivery]| -> HashSet<String> {
        claimed.iter().map(|d| d.webhook_id.clone()).collect()
    };
    assert_eq!(by_a.len() + by_b.len(), 20, "5 events × 4 webhooks");
    assert_eq!(
        (hooks(&by_a).len(), hooks(&by_b).len()),
        (2, 2),
        "an even split"
    );
    assert!(hooks(&by_a).is_disjoint(&hooks(&by_b)));
    // The share the SQL selects is the one `domain::claim::Shard` decides.
    let (share_a, share_b) = (a.shard(), b.shard());
    assert!(by_a.iter().all(|d| share_a.owns(d.webhook_seq)));
    assert!(by_b.iter().all(|d| share_b.owns(d.webhook_seq)));
    assert!(by_a.iter().all(|d| !share_b.owns(d.webhook_seq)));
    for (claimed, webhooks) in [(&by_a, hooks(&by_a)), (&by_b, hooks(&by_b))] {
        for webhook in webhooks {
            let count = claimed.iter().filter(|d| d.webhook_id == webhook).count();
            assert_eq!(count, 5, "all of {webhook}'s backlog");
        }
    }

    // `b` stops (its claims stay leased); `a` then claims for every webhook.
    b.close().await;
    emit(&a, &account, "late_", "server.started", 2).await;
    processes_seen(&a, 1).await;
    let at = NOW + 2_000;
    assert_eq!(a.queue_stats(at).await.unwrap().processes, 1);
    let by_a = a.claim_due(at, lease(3, 100, 100, at)).await.unwrap();
    assert_eq!(by_a.len(), 8, "2 events × 4 webhooks");
    assert_eq!(hooks(&by_a), webhooks.into_iter().collect());
}

async fn the_catalog_is_seeded_once_and_changed_only_as_it_was_read((store, _keep): Opened) {
    use cdhooks_server::domain::event_type::{
        subscribes_by_name, EventTypeUpdate, NewEventType, UpdateEventTypeRequest,
    };
    use cdhooks_server::store::EventTypeDeletion;
    let seed = NewEventType::seed();
    store.seed_event_types(&seed, NOW).await.unwrap();
    let types = store.event_types().await.unwrap();
    let names: Vec<&str> = types.iter().map(|t| t.name.as_str()).collect();
    let seeded: Vec<&str> = seed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, seeded, "in the docs' order");
    assert!(types.iter().all(|t| t.version == 1 && !t.deprecated));
    // A type the provider deleted is not seeded again.
    let none = |_: &[String]| false;
    assert_eq!(
        store
            .delete_event_type("server.rebooted", &none)
            .await
            .unwrap(),
        EventTypeDeletion::Deleted
    );
    store.seed_event_types(&seed, NOW + 1).await.unwrap();
    assert_eq!(store.event_types().await.unwrap().len(), 8);
    assert!(matches!(
        store.delete_event_type("server.rebooted", &none).await,
        Err(StoreError::NotFound)
    ));

    // Added after the seed, in order; a name is taken once.
    let mut dns = seed[0].clone();
    dns.name = "dns.zone.updated".to_owned();
    let created = store.create_event_type(&dns, NOW + 2).await.unwrap();
    assert_eq!(store.event_types().await.unwrap().last(), Some(&created));
    assert!(matches!(
        store.create_event_type(&dns, NOW + 3).await,
        Err(StoreError::Conflict(_))
    ));

    // A change applies only to the type as it was read.
    let change = |description: &str| UpdateEventTypeRequest {
        description: Some(description.to_owned()),
        schema: None,
        example: None,
        deprecated: Some(true),
    };
    let first = EventTypeUpdate::validate(&created, change("first")).unwrap();
    let second = EventTypeUpdate::validate(&created, change("second")).unwrap();
    let changed = store.update_event_type(&first, NOW + 4).await.unwrap();
    assert_eq!(
        (changed.description.as_str(), changed.deprecated),
        ("first", true)
    );
    assert!(matches!(
        store.update_event_type(&second, NOW + 5).await,
        Err(StoreError::Conflict(_))
    ));

    // A type a webhook names stays; patterns that cover it do not hold it.
    account_with_webhooks(
        &*store,
        "catalog@example.com",
        &[&["server.started"], &["server.*"]],
    )
    .await;
    let named = |name: &'static str| move |patterns: &[String]| subscribes_by_name(patterns, name);
    assert_eq!(
        store
            .delete_event_type("server.started", &named("server.started"))
            .await
            .unwrap(),
        EventTypeDeletion::InUse(1)
    );
    assert_eq!(
        store
            .delete_event_type("server.stopped", &named("server.stopped"))
            .await
            .unwrap(),
        EventTypeDeletion::Deleted
    );
}

async fn a_webhooks_filter_is_kept_and_decides_fan_out((store, _keep): Opened) {
    let account = store
        .create_account(
            "filter@example.com",
            &cdhooks_server::domain::api_key::digest("key-filter"),
            NOW,
        )
        .await
        .unwrap();
    let request = CreateWebhookRequest {
        url: "http://127.0.0.1:9/filtered".to_owned(),
        events: vec!["server.*".to_owned()],
        secret: None,
        description: None,
        signing: None,
        filter: Some(serde_json::json!({"data.server_id": ["srv_1"]})),
    };
    let policy = TargetPolicy {
        allowed: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
    };
    let webhook = NewWebhook::validate(request, &policy, &Catalog::seeded()).unwrap();
    let created = store.create_webhook(&account, webhook, NOW).await.unwrap();
    let read = store.get_webhook(&account, &created.id).await.unwrap();
    assert_eq!(read.filter, created.filter);
    assert_eq!(
        read.filter.map(|f| f.to_json()),
        Some(serde_json::json!({"data.server_id": ["srv_1"]}))
    );
    let emit = |id: &str, server: &str| {
        let request: EmitEventRequest = serde_json::from_value(serde_json::json!({
            "id": id, "type": "server.started",
            "data": support::valid_data("server.started", serde_json::json!({"server_id": server}))
        }))
        .unwrap();
        NewEvent::validate(
            request,
            Timestamp::from_unix(NOW / 1000).unwrap(),
            &Catalog::seeded(),
        )
        .unwrap()
    };
    let matching = store
        .insert_event(&account, emit("e1", "srv_1"), NOW, None)
        .await
        .unwrap();
    let other = store
        .insert_event(&account, emit("e2", "srv_2"), NOW, None)
        .await
        .unwrap();
    assert_eq!((matching.deliveries, other.deliveries), (1, 0));
    // Removed, it lets everything through.
    let change = WebhookChange {
        filter: Some(None),
        ..WebhookChange::default()
    };
    let changed = store
        .update_webhook_and_deliveries(&account, &created.id, change, NOW)
        .await
        .unwrap();
    assert_eq!(changed.filter, None);
    let after = store
        .insert_event(&account, emit("e3", "srv_2"), NOW, None)
        .await
        .unwrap();
    assert_eq!(after.deliveries, 1);
}

/// The whole contract, as `#[tokio::test]`s of one backend.
macro_rules! contract_suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        if let Some(opened) = $open().await {
                            super::$name(opened).await
                        }
                    }
                };
            }
            case!(fan_out_reaches_every_subscribed_webhook_and_pauses_for_disabled_ones);
            case!(a_repeated_event_id_is_refused_and_one_batch_keeps_one_copy);
            case!(a_claim_holds_until_its_lease_expires);
            case!(claims_respect_each_webhooks_limit_and_serve_webhooks_round_robin);
            case!(a_claim_over_many_webhooks_takes_all_it_may_beside_one_long_queue);
            case!(a_claim_serves_the_webhooks_waiting_longest);
            case!(the_room_a_finished_attempt_frees_is_shared_while_another_webhook_waits);
            case!(the_room_finished_attempts_free_goes_back_as_the_domain_decides);
            case!(two_claimers_at_once_never_get_the_same_delivery);
            case!(deliveries_stored_while_claims_run_are_all_claimed);
            case!(an_outcome_under_a_lost_claim_changes_nothing);
            case!(
                the_final_failure_disables_pauses_and_queues_exactly_one_email_then_enable_resumes
            );
            case!(a_retry_whose_webhook_was_disabled_meanwhile_waits_paused);
            case!(manual_retry_requeues_only_a_failed_delivery_of_an_enabled_webhook);
            case!(new_events_are_claimed_at_once_only_within_the_limit_and_in_order);
            case!(a_batch_of_outcomes_records_each_and_drops_those_whose_claim_was_lost);
            case!(the_outbox_is_claimed_under_leases_retried_and_dead_lettered);
            case!(a_writable_store_says_so);
            case!(a_released_claim_is_due_again_at_once);
            case!(a_sealed_secret_is_found_for_the_start_check);
            case!(keys_and_inboxes_stop_at_their_limits);
            case!(an_inbox_keeps_its_newest_captures_within_count_and_bytes);
            case!(queue_stats_count_pending_due_and_claimed_work_and_the_oldest_due);
            case!(api_keys_are_added_listed_used_and_revoked_but_never_the_last);
            case!(a_rotation_keeps_the_previous_secret_for_its_grace_period);
            case!(an_open_circuit_lets_one_attempt_at_a_time_and_a_success_closes_it);
            case!(a_retry_after_holds_the_whole_webhook_until_its_time);
            case!(webhooks_with_open_circuits_get_no_more_than_their_share);
            case!(a_key_rotation_gives_a_first_key_then_keeps_the_previous_for_its_grace);
            case!(pruning_removes_old_finished_events_in_batches_and_keeps_unfinished_ones);
            case!(accounts_are_found_changed_and_deleted_with_all_they_hold);
            case!(platform_keys_and_portal_sessions_hold_until_revoked);
            case!(accounts_needing_attention_are_those_with_a_disabled_webhook_or_late_work);
            case!(the_catalog_is_seeded_once_and_changed_only_as_it_was_read);
            case!(a_webhooks_filter_is_kept_and_decides_fan_out);
        }
    };
}

contract_suite!(sqlite, super::open_sqlite);
contract_suite!(postgres, super::open_postgres);
