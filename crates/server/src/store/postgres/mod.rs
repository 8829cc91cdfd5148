//! The PostgreSQL store: the same contract as the embedded one, for several server processes
//! on one database.
//!
//! - Claims lock the webhooks they claim for (`FOR NO KEY UPDATE SKIP LOCKED`) inside the
//!   transaction that writes the lease, so two processes never claim for one webhook at the
//!   same moment: its in-flight count, and so `--per-webhook-concurrency`, holds over every
//!   process, and no delivery is handed to two of them. (A claim in autocommit would release
//!   its locks at once — the classic way to send a webhook twice.)
//! - The processes split the webhooks between them (`members.rs`, `domain::claim::Shard`): each
//!   claims the backlogs and retries of its own share, so one busy webhook is not contended
//!   for by every process (each claim skipping it while another held its lock, in batches a
//!   third as large). New deliveries of an idle webhook are still claimed at once by the process
//!   that accepted their event, whatever the share.
//! - The hot writes go through group commit (`writer.rs`): events accepted together are
//!   written by one statement, and so are attempt results (with the follow-up claims of the
//!   room they free), each on its own writer task. Events commit synchronously, so a `202` is
//!   durable, as does everything an operator changes. Claims and attempt results commit with
//!   `synchronous_commit = off`: they hold a webhook's lock, so waiting for a disk flush there
//!   would serialise every delivery of that webhook behind it, and losing one of them in a
//!   database crash only means a delivery is sent once more (at-least-once), never lost.
//! - A claim is a row in `leases` (delivery, webhook, token, until), not a rewrite of the
//!   delivery: a delivery row has seven index entries to rewrite, a lease two. Recording a
//!   result deletes the lease (if its token still matches), moves the delivery on and records
//!   the attempt in one statement. A webhook's attempts in flight are its unexpired leases.
//! - The delivery tables are vacuumed and analysed after heavy churn or growth (`upkeep.rs`,
//!   by one process at a time) rather than at autovacuum's next round (once a minute).
//! - New work left for another process's share is announced with `NOTIFY cdhooks_due`
//!   (`announce.rs`: coalesced, at most one per [`ANNOUNCE_EVERY`] per process, outside the
//!   transactions, naming the webhooks concerned); every process listens and the claimers of
//!   those webhooks pick the work up at once without polling hard (the store's
//!   `WorkSignal`).
//! - Migrations run at start-up under sqlx's advisory lock: instances starting together
//!   migrate once.

mod announce;
mod engine;
mod events;
mod inboxes;
mod lifecycle;
mod members;
mod results;
mod upkeep;
mod webhooks;
mod writer;

#[cfg(test)]
mod hand_on_tests;
#[cfg(test)]
mod plan_tests;
#[cfg(test)]
mod upgrade_tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use super::*;

/// The channel new due work is announced on.
pub(crate) const DUE_CHANNEL: &str = "cdhooks_due";

/// The channel live events are relayed on between instances (and on which an instance with
/// dashboards connected says so, as `{"kind": "watching"}`).
pub const LIVE_CHANNEL: &str = "cdhooks_live";

pub use announce::ANNOUNCE_EVERY;

/// The PostgreSQL implementation of [`Store`].
#[derive(Clone)]
pub struct PgStore {
    /// The connection pool.
    pool: PgPool,
    /// This process among the others on the database, and its share of the webhooks.
    membership: Arc<members::Membership>,
    /// Raised when any process announces new due work.
    due: WorkSignal,
    /// New due work this process is to announce.
    announce: Arc<announce::Announcements>,
    /// Queue of the group commit.
    batch: tokio::sync::mpsc::Sender<writer::WriteOp>,
    /// Queue of the group commit of attempt results (its own writer, so that results never
    /// wait for the disk flush of accepted events).
    results: tokio::sync::mpsc::Sender<writer::WriteOp>,
    /// Live events to relay to every instance.
    live_out: tokio::sync::mpsc::Sender<String>,
    /// Live events every instance relayed.
    live_in: tokio::sync::broadcast::Sender<String>,
}

super::directory::impl_directory!(
    PgStore,
    reads: pool,
    writes: pool,
    cleanup: &["DELETE FROM leases WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE account_id = $1)"]
);
super::keys::impl_account_keys!(PgStore, sqlx::Postgres, reads: pool, writes: pool, lock: "FOR UPDATE");
super::webhooks::impl_webhooks!(
    PgStore,
    reads: pool, writes: pool, lock: "FOR UPDATE",
    lock_no_key: "FOR NO KEY UPDATE", cleanup: &["leases"],
    in_flight: webhooks::attempts_in_flight, lifecycle: lifecycle
);
super::history::impl_history!(
    PgStore,
    reads: pool, writes: pool, lock_webhook: "FOR SHARE",
    lock_delivery: "FOR SHARE OF w", lifecycle: lifecycle
);
super::inboxes::impl_inboxes!(PgStore, reads: pool, writes: pool, lock: "FOR UPDATE");
super::outbox::impl_outbox!(PgStore, reads: pool, writes: pool, lock: "FOR UPDATE SKIP LOCKED");
super::retention::impl_retention!(PgStore, writes: pool);
super::event_types::impl_event_types!(PgStore, reads: pool, writes: pool);

impl PgStore {
    /// How many server processes this one shares the webhooks with, itself included, as of
    /// its last heartbeat (it claims for its share of them only).
    pub fn sharing_among(&self) -> u32 {
        self.shard().count()
    }

    /// This process's share of the webhooks as of its last heartbeat: the one its claims and
    /// hand-backs select in SQL (`seq % count = index`), which the store contract checks
    /// against [`Shard::owns`](crate::domain::claim::Shard::owns).
    pub fn shard(&self) -> crate::domain::claim::Shard {
        self.membership.shard()
    }

    /// Connects with up to `max_connections` connections, migrates, and starts listening
    /// for announcements of due work.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(connect_options(url)?)
            .await?;
        super::migrations::migrator(super::migrations::POSTGRES)
            .await?
            .run(&pool)
            .await?;
        let membership = Arc::new(members::Membership::new());
        membership.beat(&pool).await?;
        let due = WorkSignal::default();
        let (live_in, _) = tokio::sync::broadcast::channel(1024);
        tokio::spawn(listen(
            pool.clone(),
            membership.clone(),
            due.clone(),
            live_in.clone(),
        ));
        let (live_out, relayed) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(relay_live(pool.clone(), relayed));
        let announce = Arc::new(announce::Announcements::default());
        tokio::spawn(announce::run(pool.clone(), announce.clone()));
        let writer = |writes| {
            let (sender, queue) = tokio::sync::mpsc::channel(4096);
            tokio::spawn(writer::run(
                pool.clone(),
                writes,
                queue,
                announce.clone(),
                membership.clone(),
                due.clone(),
            ));
            sender
        };
        let (batch, results) = (
            writer(writer::Writes::Events),
            writer(writer::Writes::Results),
        );
        tokio::spawn(upkeep::run(pool.clone()));
        tokio::spawn(members::run(pool.clone(), membership.clone(), due.clone()));
        Ok(PgStore {
            pool,
            membership,
            due,
            announce,
            batch,
            results,
            live_out,
            live_in,
        })
    }

    /// Queues a write for the group commit (of `queue`) and waits for its answer.
    async fn submit<T>(
        &self,
        queue: &tokio::sync::mpsc::Sender<writer::WriteOp>,
        make: impl FnOnce(tokio::sync::oneshot::Sender<StoreResult<T>>) -> writer::WriteOp,
    ) -> StoreResult<T> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue.send(make(reply)).await.map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Has every process told that new work is due (soon, coalesced).
    fn announce(&self) {
        self.announce.for_everyone();
    }
}

/// The connection options of `url`, with one setting of this store's own: prepared
/// statements keep one generic plan. The claim and result statements run thousands of times
/// a second with different times and arrays; with PostgreSQL's default the planner planned
/// most of them afresh on every run, which cost as much as running them. A plan is made for
/// the tables as they are when the statement first runs, and one made while `deliveries` or
/// `leases` were nearly empty scans them where it should probe: upkeep analyses them as soon
/// as either has doubled, which has every connection plan its statements again
/// (`upkeep.rs`, `plan_tests.rs`).
fn connect_options(url: &str) -> StoreResult<sqlx::postgres::PgConnectOptions> {
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    Ok(options.options([("plan_cache_mode", "force_generic_plan")]))
}

/// Sends the live events handed to it to every instance.
async fn relay_live(pool: PgPool, mut relayed: tokio::sync::mpsc::Receiver<String>) {
    while let Some(message) = relayed.recv().await {
        if pool.is_closed() {
            return;
        }
        let _ = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(LIVE_CHANNEL)
            .bind(message)
            .execute(&pool)
            .await;
    }
}

/// Wakes `due` on every announcement of work that concerns `membership`'s share and passes
/// relayed live events on; reconnects (after a pause) when the database goes away.
async fn listen(
    pool: PgPool,
    membership: Arc<members::Membership>,
    due: WorkSignal,
    live: tokio::sync::broadcast::Sender<String>,
) {
    loop {
        if pool.is_closed() {
            return;
        }
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for due work; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if let Err(error) = listener.listen_all([DUE_CHANNEL, LIVE_CHANNEL]).await {
            tracing::warn!(%error, "cannot listen for due work; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) if notification.channel() == LIVE_CHANNEL => {
                    let _ = live.send(notification.payload().to_owned());
                }
                Ok(Some(notification)) => {
                    if announce::concerns(notification.payload(), membership.shard()) {
                        due.raise();
                    }
                }
                // The connection was lost and re-established: work may have been announced
                // meanwhile.
                Ok(None) => due.raise(),
                Err(_) if pool.is_closed() => return,
                Err(error) => {
                    tracing::warn!(%error, "listening for due work failed; reconnecting");
                    break;
                }
            }
        }
    }
}

#[async_trait]
impl Events for PgStore {
    async fn insert_event(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
    ) -> StoreResult<InsertedEvent> {
        let queued = events::QueuedEvent {
            account: account.clone(),
            event,
            now_ms,
            lease,
        };
        self.submit(&self.batch, |reply| writer::WriteOp::InsertEvent {
            queued,
            reply,
        })
        .await
    }

    async fn insert_events_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> StoreResult<Vec<u32>> {
        use sqlx::Connection as _;
        let queued: Vec<events::QueuedEvent> = events
            .into_iter()
            .map(|(account, event)| events::QueuedEvent {
                account,
                event,
                now_ms,
                lease: None,
            })
            .collect();
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let (answers, left_for_others) =
            events::insert_batch(&mut tx, &queued, self.membership.shard()).await?;
        let counts = match InsertedEvent::all_or_none(answers) {
            Ok(counts) => counts,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused);
            }
        };
        tx.commit().await?;
        if !left_for_others.is_empty() {
            self.announce.for_webhooks(left_for_others);
        }
        Ok(counts)
    }
}

#[async_trait]
impl DeliveryQueue for PgStore {
    fn work_signal(&self) -> Option<WorkSignal> {
        Some(self.due.clone())
    }

    async fn claim_due(&self, now_ms: i64, lease: Lease) -> StoreResult<Vec<ClaimedDelivery>> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = engine::begin_relaxed(&mut conn).await?;
        let claimed = engine::claim_in(&mut tx, now_ms, lease, self.membership.shard()).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        engine::next_due_at(&self.pool, self.membership.shard()).await
    }

    async fn record_outcome_and_claim(
        &self,
        outcome: AttemptOutcome,
        follow_up: Option<(i64, Lease)>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.submit(&self.results, |reply| writer::WriteOp::Outcome {
            outcome,
            follow_up,
            reply,
        })
        .await
    }

    async fn release_claims(&self, claims: &[(i64, u64)]) -> StoreResult<u64> {
        let seqs: Vec<i64> = claims.iter().map(|(seq, _)| *seq).collect();
        let tokens: Vec<i64> = claims.iter().map(|(_, token)| *token as i64).collect();
        // The deliveries stay pending: their webhooks go back into `due_webhooks`.
        let released: i64 = sqlx::query_scalar(
            "WITH gone AS (
                 DELETE FROM leases l USING UNNEST($1::bigint[], $2::bigint[]) AS v(seq, token)
                 WHERE l.delivery_seq = v.seq AND l.token = v.token
                 RETURNING l.delivery_seq),
             due AS (
                 INSERT INTO due_webhooks AS r (webhook_seq, due_ms)
                 SELECT d.webhook_seq, MIN(d.next_attempt_at) FROM gone g
                 JOIN deliveries d ON d.seq = g.delivery_seq
                 WHERE d.status = 'pending'
                 GROUP BY d.webhook_seq ORDER BY d.webhook_seq
                 ON CONFLICT (webhook_seq) DO UPDATE SET due_ms = EXCLUDED.due_ms
                     WHERE EXCLUDED.due_ms < r.due_ms)
             SELECT COUNT(*) FROM gone",
        )
        .bind(seqs)
        .bind(tokens)
        .fetch_one(&self.pool)
        .await?;
        let released = released as u64;
        if released > 0 {
            // Due again at once: whichever process's share they are in claims them now.
            self.announce();
        }
        Ok(released)
    }
}

#[async_trait]
impl Upkeep for PgStore {
    async fn close(&self) {
        self.membership.leave(&self.pool).await;
        self.pool.close().await;
    }

    async fn check_writable(&self, now_ms: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO health_probe (at, pad) VALUES ($1, '\\x00')")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM health_probe WHERE at = $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats> {
        let (pending, due, oldest_due_at, outbox, processes): (i64, i64, Option<i64>, i64, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN d.next_attempt_at <= $1 AND l.delivery_seq IS NULL THEN 1 ELSE 0 END), 0)::BIGINT,
                    MIN(CASE WHEN d.next_attempt_at <= $1 AND l.delivery_seq IS NULL THEN d.next_attempt_at END),
                    (SELECT COUNT(*) FROM emails WHERE sent_at IS NULL AND dead_at IS NULL),
                    (SELECT COUNT(*) FROM instances WHERE live_until >= clock_timestamp())
             FROM deliveries d LEFT JOIN leases l ON l.delivery_seq = d.seq AND l.until_ms > $1
             WHERE d.status = 'pending'",
        )
        .bind(now_ms)
        .fetch_one(&self.pool)
        .await?;
        let open_circuits: i64 = sqlx::query_scalar(super::statements::OPEN_CIRCUITS)
            .bind(crate::domain::health::OPENS_AFTER as i32)
            .fetch_one(&self.pool)
            .await?;
        Ok(QueueStats {
            pending,
            due,
            oldest_due_at,
            outbox,
            open_circuits,
            processes,
        })
    }
}
