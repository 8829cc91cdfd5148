//! Group commit, as the embedded store does it: the events accepted together are stored
//! together (two reads and one write statement, one durable commit: their `202`s promise it;
//! see `events`), and the
//! attempt results that finish together are recorded together — one statement, committed
//! without waiting for the disk, that also hands the room they free straight back to their
//! webhooks' next deliveries (see `results`) — so a busy server costs the database a handful
//! of statements per batch rather than per request. Events and results have a writer each
//! (results never wait for the flush of accepted events), each on a connection of its own.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use super::super::*;
use super::events::QueuedEvent;
use super::members::Membership;
use super::announce::Announcements;
use super::{events, results};
use crate::domain::claim::Shard;

/// The most results in one transaction.
const MAX_BATCH: usize = 256;

/// One queued write.
pub(super) enum WriteOp {
    /// Store an event and its deliveries.
    InsertEvent {
        /// The event.
        queued: QueuedEvent,
        /// Where the answer goes.
        reply: oneshot::Sender<StoreResult<InsertedEvent>>,
    },
    /// Record an attempt's result, and claim up to `follow_up.max` due deliveries.
    Outcome {
        /// The result.
        outcome: AttemptOutcome,
        /// The time now and the lease for follow-up claims.
        follow_up: Option<(i64, Lease)>,
        /// Where the answer goes.
        reply: oneshot::Sender<StoreResult<Vec<ClaimedDelivery>>>,
    },
}

/// Runs until every sender is dropped, claiming for `membership`'s current share; raises
/// `announce` when a batch left deliveries waiting for another process's claim. A `relaxed`
/// writer's session does not wait for the disk on commit: it is for attempt results only —
/// events are written in autocommit on a writer that is not, since their `202`s promise the
/// disk.
pub(super) async fn run(
    pool: PgPool,
    relaxed: bool,
    mut queue: mpsc::Receiver<WriteOp>,
    announce: std::sync::Arc<Announcements>,
    membership: std::sync::Arc<Membership>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut connection = OwnConnection::new(pool, relaxed);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops = std::mem::take(&mut batch);
        let left_for_others = apply(&mut connection, ops, membership.shard()).await;
        if !left_for_others.is_empty() {
            announce.for_webhooks(left_for_others);
        }
    }
}

/// A writer's own connection, kept from batch to batch.
///
/// The pool hands out its least recently used connection, so batches taken from it one after
/// the other went round every backend of the pool (and, with several processes, of all
/// theirs), each with cold caches; kept, the writer's statements run on one warm backend —
/// a quarter to a third more events delivered per second in the burst benchmark, at less CPU
/// per event. One left idle for a while is checked before use (the database may have
/// restarted meanwhile), and one whose batch failed is closed (a new one is taken).
struct OwnConnection {
    /// Where a connection comes from.
    pool: PgPool,
    /// Whether its session commits without waiting for the disk.
    relaxed: bool,
    /// The connection and when it was last used.
    held: Option<(PoolConnection<Postgres>, Instant)>,
}

impl OwnConnection {
    /// How long a connection may sit unused before it is checked.
    const CHECK_AFTER: Duration = Duration::from_secs(1);

    fn new(pool: PgPool, relaxed: bool) -> Self {
        OwnConnection {
            pool,
            relaxed,
            held: None,
        }
    }

    /// The connection, checked if it was idle, or a new one from the pool.
    async fn get(&mut self) -> StoreResult<&mut PgConnection> {
        if let Some((connection, used)) = &mut self.held {
            if used.elapsed() >= Self::CHECK_AFTER && connection.ping().await.is_err() {
                self.release();
            }
        }
        let held = match self.held.take() {
            Some(held) => held,
            None => {
                let mut connection = self.pool.acquire().await?;
                // Every request behind a writer waits while it does: a lock wait longer than
                // this fails the batch (nothing of it stored, its callers told) rather than
                // stalling the queue.
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut *connection)
                    .await?;
                // Said either way, whatever the database's or role's default: events are
                // written in autocommit and their `202`s promise the disk.
                sqlx::query(if self.relaxed {
                    "SET synchronous_commit = off"
                } else {
                    "SET synchronous_commit = on"
                })
                .execute(&mut *connection)
                .await?;
                (connection, Instant::now())
            }
        };
        let (connection, used) = self.held.insert(held);
        *used = Instant::now();
        Ok(&mut **connection)
    }

    /// Lets go of the connection after a failure (it may be the cause) or at the end: closed,
    /// not given back, so that its session's settings never reach the pool's other users.
    fn release(&mut self) {
        if let Some((connection, _)) = self.held.take() {
            drop(connection.detach());
        }
    }
}

impl Drop for OwnConnection {
    fn drop(&mut self) {
        self.release();
    }
}

/// Applies one batch on the writer's `connection`, claiming for `shard`, and answers every
/// caller; returns the webhooks whose deliveries were left waiting for another process.
async fn apply(connection: &mut OwnConnection, ops: Vec<WriteOp>, shard: Shard) -> Vec<i64> {
    let mut events = Vec::new();
    let mut event_replies = Vec::new();
    let mut outcomes = Vec::new();
    let mut outcome_replies = Vec::new();
    let mut follow_up: Option<(i64, Lease)> = None;
    for op in ops {
        match op {
            WriteOp::InsertEvent { queued, reply } => {
                events.push(queued);
                event_replies.push(reply);
            }
            WriteOp::Outcome {
                outcome,
                follow_up: wanted,
                reply,
            } => {
                let max = wanted.map_or(0, |(_, lease)| lease.max as usize);
                if let Some((now_ms, lease)) = wanted {
                    // One claim for the whole batch, under the first lease, as large as all.
                    let (_, total) = follow_up.get_or_insert((now_ms, Lease { max: 0, ..lease }));
                    total.max += lease.max;
                }
                outcomes.push(outcome);
                outcome_replies.push((reply, max));
            }
        }
    }
    let result = async {
        let conn = connection.get().await?;
        let (inserted, left_for_others) = if events.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            events::insert_batch(conn, &events, shard).await?
        };
        let claimed = if outcomes.is_empty() {
            Vec::new()
        } else {
            results::record_and_claim(conn, &outcomes, follow_up, shard).await?
        };
        Ok::<_, StoreError>((inserted, left_for_others, claimed))
    }
    .await;
    match result {
        Ok((inserted, left_for_others, claimed)) => {
            for (reply, answer) in event_replies.into_iter().zip(inserted) {
                let _ = reply.send(answer);
            }
            let mut claimed = claimed.into_iter();
            for (reply, max) in outcome_replies {
                let _ = reply.send(Ok(claimed.by_ref().take(max).collect()));
            }
            left_for_others
        }
        Err(error) => {
            connection.release();
            tracing::error!(%error, "a batched write failed; nothing of it was stored");
            for reply in event_replies {
                let _ = reply.send(Err(error.for_another_caller()));
            }
            for (reply, _) in outcome_replies {
                let _ = reply.send(Err(error.for_another_caller()));
            }
            Vec::new()
        }
    }
}
