//! The SQLite store's group commit: operations queued together share one transaction and a
//! few multi-row statements, yet each keeps its own answer — a duplicate id in the same batch
//! is refused alone, and an attempt result under a lost claim changes nothing.

use cdhooks_core::timestamp::Timestamp;
use cdhooks_server::domain::event::{EmitEventRequest, NewEvent};
use cdhooks_server::domain::target::TargetPolicy;
use cdhooks_server::domain::webhook::{CreateWebhookRequest, NewWebhook};
use cdhooks_server::store::model::{
    Account, AttemptOutcome, AttemptRecord, DeliveryStatus, InsertedEvent, Lease, NextStep,
};
use cdhooks_server::store::sqlite::SqliteStore;
use cdhooks_server::store::{Store, StoreError};
use futures_util::future::join_all;

const NOW_MS: i64 = 1_764_000_000_000;

async fn store_with_webhooks(
    dir: &std::path::Path,
    patterns: &[&[&str]],
) -> (SqliteStore, Account) {
    let store = SqliteStore::open(dir).await.unwrap();
    let account = store
        .create_account("ops@example.com", "hash")
        .await
        .unwrap();
    let policy = TargetPolicy {
        allowed: vec!["127.0.0.0/8".parse().unwrap()],
        allow_http: true,
    };
    for (i, events) in patterns.iter().enumerate() {
        let request = CreateWebhookRequest {
            url: format!("http://127.0.0.1:9/{i}"),
            events: events.iter().map(|p| p.to_string()).collect(),
            secret: None,
            description: None,
        };
        let webhook = NewWebhook::validate(request, &policy).unwrap();
        store
            .create_webhook(&account, webhook, NOW_MS)
            .await
            .unwrap();
    }
    (store, account)
}

fn event(id: &str, event_type: &str, n: usize) -> NewEvent {
    let request: EmitEventRequest = serde_json::from_value(serde_json::json!({
        "id": id, "type": event_type, "data": {"n": n}
    }))
    .unwrap();
    NewEvent::validate(request, Timestamp::from_unix(NOW_MS / 1000).unwrap()).unwrap()
}

fn lease(token: u64, max: u32) -> Option<Lease> {
    Some(Lease {
        token,
        until_ms: NOW_MS + 60_000,
        max,
    })
}

/// Emits `count` `server.started` events (`evt_0`, `evt_1`, …) queued together, each under
/// `lease`, and returns their answers in order.
async fn emit_together(
    store: &SqliteStore,
    account: &Account,
    count: usize,
    lease: Option<Lease>,
) -> Vec<InsertedEvent> {
    let inserts = (0..count).map(|n| {
        let event = event(&format!("evt_{n}"), "server.started", n);
        store.insert_event(account, event, NOW_MS, lease)
    });
    join_all(inserts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn one_batch_keeps_one_copy_of_repeated_ids_and_fans_out_each_event() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account) = store_with_webhooks(
        dir.path(),
        &[&["server.started"], &["server.*"], &["billing.*"]],
    )
    .await;
    // Queued together, so they form few batches: 100 ids, each twice (usually in the same
    // batch), of two types.
    let inserts = (0..200).map(|n| {
        let event_type = if n % 4 < 2 {
            "server.started"
        } else {
            "billing.payment.succeeded"
        };
        let id = format!("evt_{}", n / 2);
        store.insert_event(&account, event(&id, event_type, n), NOW_MS, lease(7, 30))
    });
    let answers: Vec<Result<InsertedEvent, StoreError>> = join_all(inserts).await;
    for pair in 0..100 {
        // Exactly one copy of each id is stored (whichever was queued first).
        let copies = [2 * pair, 2 * pair + 1];
        let stored: Vec<usize> = copies.into_iter().filter(|&n| answers[n].is_ok()).collect();
        assert_eq!(
            stored.len(),
            1,
            "evt_{pair}: {:?}",
            copies.map(|n| &answers[n])
        );
        let n = stored[0];
        let other = copies[0] + copies[1] - n;
        assert!(
            matches!(answers[other], Err(StoreError::Conflict(_))),
            "{n}"
        );
        let inserted = answers[n].as_ref().unwrap();
        let server = n % 4 < 2;
        assert_eq!(inserted.deliveries, if server { 2 } else { 1 }, "{n}");
        for claimed in &inserted.claimed {
            assert_eq!(claimed.event_id, format!("evt_{pair}"));
            assert_eq!(claimed.claim_token, 7);
            let body: serde_json::Value = serde_json::from_slice(&claimed.body).unwrap();
            assert_eq!(body["data"]["n"], n, "the stored copy's own body");
        }
    }
    store.close().await;
}

#[tokio::test]
async fn a_batch_claims_at_most_the_room_one_request_saw() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account) =
        store_with_webhooks(dir.path(), &[&["server.started"], &["server.*"]]).await;
    // 24 requests polled at once are all queued before the writer runs: one batch.
    let inserted = emit_together(&store, &account, 24, lease(5, 10)).await;
    assert!(inserted.iter().all(|i| i.deliveries == 2));
    // Each request saw room for 10; together they claim 10, not 10 each. The other 38
    // deliveries stay in the store, pending and unclaimed, for the claim loop.
    let claimed: usize = inserted.iter().map(|i| i.claimed.len()).sum();
    assert_eq!(claimed, 10);
    let due = store
        .claim_due(NOW_MS, lease(6, 100).unwrap())
        .await
        .unwrap();
    assert_eq!(due.len(), 48 - 10);
    store.close().await;
}

#[tokio::test]
async fn one_batch_of_outcomes_records_each_and_drops_those_whose_claim_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (store, account) = store_with_webhooks(dir.path(), &[&["server.started"]]).await;
    let claimed: Vec<_> = emit_together(&store, &account, 70, lease(9, 70))
        .await
        .into_iter()
        .map(|mut inserted| inserted.claimed.remove(0))
        .collect();
    // 70 outcomes queued together (so batched, in multi-row statements): successes, retries,
    // and results presented under a token that does not hold the claim.
    let outcomes = claimed.iter().enumerate().map(|(n, delivery)| {
        let next = if n % 3 == 1 {
            NextStep::RetryAt(NOW_MS + 5_000)
        } else {
            NextStep::Succeeded
        };
        store.record_outcome(AttemptOutcome {
            delivery_seq: delivery.seq,
            claim_token: if n % 3 == 2 { 10 } else { 9 },
            attempt: AttemptRecord {
                number: 1,
                started_at: NOW_MS,
                duration_ms: 3,
                status_code: Some(if n % 3 == 1 { 500 } else { 200 }),
                error_kind: (n % 3 == 1).then(|| "http_status".to_owned()),
                error_message: (n % 3 == 1).then(|| "HTTP 500".to_owned()),
                response_body: None,
            },
            next,
        })
    });
    for answer in join_all(outcomes).await {
        answer.unwrap();
    }
    for (n, delivery) in claimed.iter().enumerate() {
        let record = store.get_delivery(&account, &delivery.id).await.unwrap();
        let (status, attempts, next) = match n % 3 {
            0 => (DeliveryStatus::Succeeded, 1, None),
            1 => (DeliveryStatus::Pending, 1, Some(NOW_MS + 5_000)),
            _ => (DeliveryStatus::Pending, 0, Some(NOW_MS)),
        };
        assert_eq!(record.status, status, "{n}");
        assert_eq!(record.attempt_count, attempts, "{n}");
        assert_eq!(record.next_attempt_at, next, "{n}");
        let error = (n % 3 == 1).then(|| "HTTP 500".to_owned());
        assert_eq!(record.last_error, error, "{n}");
    }
    store.close().await;
}
