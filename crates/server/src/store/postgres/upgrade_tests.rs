//! Upgrades of a PostgreSQL database whose migrations move data: the previous schema is built
//! with the migrations before it, filled as a running server would have left it, and the
//! store then starts on it. They need the test cluster (`scripts/with-postgres`); without it
//! they skip, except under `CI=true`.

use sqlx::{Connection, Executor, PgConnection, Row};

use super::PgStore;
use crate::store::migrations::{migrator, POSTGRES};
use crate::store::{AccountKeys, DeliveryQueue, Lease, Upkeep, Webhooks};

/// A new, empty database on the test cluster, or `None` when there is none.
pub(super) async fn fresh_database() -> Option<String> {
    let Ok(admin) = std::env::var("CDHOOKS_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests (scripts/with-postgres)"
        );
        eprintln!("skipped: no PostgreSQL (CDHOOKS_TEST_DATABASE_URL is unset)");
        return None;
    };
    let name = format!("cdhooks_upgrade_{:016x}", rand::random::<u64>());
    let mut conn = PgConnection::connect(&admin).await.unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    Some(format!("{base}/{name}"))
}

/// SQL that adds the account `acc_1` with the webhooks `wh_1` … `wh_{webhooks}` (keys 1 on,
/// every event type, a closed port on loopback) and its events `evt_1` … `evt_{events}` (keys
/// 1 on, event `e` created at `e`), for tests that then add deliveries as they need them.
pub(super) fn account_with_webhooks_and_events(webhooks: i64, events: i64) -> String {
    format!(
        "INSERT INTO accounts (id, email, api_key_hash, created_at)
         VALUES ('acc_1', 'a@example.com', 'h', 0);
         INSERT INTO webhooks (id, account_id, url, events, secret, created_at, updated_at)
         SELECT 'wh_' || w, 'acc_1', 'http://127.0.0.1:9/', '[\"*\"]',
                'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 0, 0
         FROM generate_series(1, {webhooks}) w;
         INSERT INTO events (id, account_id, type, created_at, body)
         SELECT 'evt_' || e, 'acc_1', 'server.created', e, '\\x7b7d'
         FROM generate_series(1, {events}) e;"
    )
}

/// Applies `migrations` (the first of the store's list) to the database on `conn`.
pub(super) async fn migrate(
    conn: &mut PgConnection,
    migrations: &'static [(i64, &'static str, &'static str)],
) {
    migrator(migrations).await.unwrap().run(conn).await.unwrap();
}

#[tokio::test]
async fn moving_leases_to_their_own_table_keeps_every_claim_in_flight() {
    let Some(url) = fresh_database().await else {
        return;
    };
    // The schema before leases had their table (migrations 1–4), with an account, a webhook,
    // an event and three deliveries: one claimed (token 77 until 5000), one waiting, one done.
    let before: &'static [_] = &POSTGRES[..4];
    assert_eq!(before.last().map(|m| m.1), Some("retention"));
    let mut conn = PgConnection::connect(&url).await.unwrap();
    migrate(&mut conn, before).await;
    conn.execute(
        "INSERT INTO accounts (id, email, api_key_hash, created_at) VALUES ('acc_1', 'a@example.com', 'h', 0);
         INSERT INTO webhooks (id, account_id, url, events, secret, created_at, updated_at)
         VALUES ('wh_1', 'acc_1', 'http://127.0.0.1:9/', '[\"*\"]', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 0, 0);
         INSERT INTO events (id, account_id, type, created_at, body)
         VALUES ('evt_1', 'acc_1', 'server.created', 0, '\\x7b7d');
         INSERT INTO deliveries (id, account_id, event_seq, webhook_seq, status, next_attempt_at,
                                 claim_token, claimed_until, created_at, updated_at)
         VALUES ('dlv_claimed', 'acc_1', 1, 1, 'pending', 1000, 77, 5000, 1000, 1000),
                ('dlv_waiting', 'acc_1', 1, 1, 'pending', 1000, NULL, NULL, 1000, 1000),
                ('dlv_done', 'acc_1', 1, 1, 'succeeded', NULL, NULL, NULL, 1000, 1000);",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();

    // The store migrates the rest at start-up.
    let store = PgStore::connect(&url, 4).await.unwrap();
    let leases = sqlx::query(
        "SELECT d.id, l.token, l.until_ms FROM leases l JOIN deliveries d ON d.seq = l.delivery_seq",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    let leases: Vec<(String, i64, i64)> = leases
        .iter()
        .map(|row| (row.get("id"), row.get("token"), row.get("until_ms")))
        .collect();
    assert_eq!(leases, [("dlv_claimed".to_owned(), 77, 5000)]);

    // While the lease runs only the waiting delivery can be claimed; once it has run out,
    // the one that was in flight can be claimed again.
    let lease = |token, now| Lease {
        token,
        until_ms: now + 30_000,
        max: 10,
        per_webhook: 16,
        max_failing: 10,
    };
    let ids = |claimed: Vec<crate::store::ClaimedDelivery>| -> Vec<String> {
        claimed.into_iter().map(|d| d.id).collect()
    };
    let now = 2000;
    assert_eq!(
        ids(store.claim_due(now, lease(1, now)).await.unwrap()),
        ["dlv_waiting"]
    );
    let later = 5001;
    assert_eq!(
        ids(store.claim_due(later, lease(2, later)).await.unwrap()),
        ["dlv_claimed"]
    );
    store.close().await;
}

#[tokio::test]
async fn a_webhooks_previous_secret_becomes_the_first_of_its_previous_secrets() {
    let Some(url) = fresh_database().await else {
        return;
    };
    // The schema before several previous secrets (migrations 1–7): one webhook mid-rotation.
    let before: &'static [_] = &POSTGRES[..7];
    assert_eq!(before.last().map(|m| m.1), Some("attempt_url"));
    let mut conn = PgConnection::connect(&url).await.unwrap();
    migrate(&mut conn, before).await;
    conn.execute(
        "INSERT INTO accounts (id, email, api_key_hash, created_at) VALUES ('acc_1', 'a@example.com', 'h', 0);
         INSERT INTO webhooks (id, account_id, url, events, secret, created_at, updated_at,
                               previous_secret, previous_secret_until)
         VALUES ('wh_1', 'acc_1', 'http://127.0.0.1:9/', '[\"*\"]', 'new_secret_0123456789', 0, 0,
                 'your_webhook_secret', 5000),
                ('wh_2', 'acc_1', 'http://127.0.0.1:9/', '[\"*\"]', 'plain_secret_0123456789', 0, 0,
                 NULL, NULL);",
    )
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = PgStore::connect(&url, 4).await.unwrap();
    let account = store.account("acc_1").await.unwrap();
    let rotating = store.get_webhook(&account, "wh_1").await.unwrap();
    assert_eq!(rotating.previous_secrets.len(), 1);
    assert_eq!(
        rotating.previous_secrets[0].secret.expose(),
        "your_webhook_secret"
    );
    assert_eq!(rotating.previous_secrets[0].until_ms, 5000);
    let plain = store.get_webhook(&account, "wh_2").await.unwrap();
    assert!(plain.previous_secrets.is_empty());
    store.close().await;
}
