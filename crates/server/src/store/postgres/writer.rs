//! Group commit, as the embedded store does it: the events accepted together are stored
//! together (one read and one write statement, one durable commit: their `202`s promise it; see
//! `events`), and the attempt results that finish together are recorded together — one
//! statement, committed without waiting for the disk, that also hands the room they free
//! straight back to their webhooks' next deliveries (see `results`) — so a busy server costs
//! the database a handful of statements per batch rather than per request. Events and results
//! have a writer each (results never wait for the flush of accepted events), each on a
//! connection of its own.

use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use super::super::*;
use super::announce::Announcements;
use super::events::QueuedEvent;
use super::members::Membership;
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

/// What a writer writes, which decides how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Writes {
    /// Accepted events: committed durably (their `202`s promise the disk; they are written in
    /// autocommit, so the session says so), gathered a little longer under load.
    Events,
    /// Attempt results: committed without waiting for the disk (see the store's doc).
    Results,
}

/// How many events a batch gathers under load before it is written, at most…
const GATHER_TARGET: usize = 32;
/// …and for at most how long (tokio's timers tick in milliseconds: up to one more).
const GATHER_WINDOW: Duration = Duration::from_millis(2);

/// Runs until every sender is dropped, claiming for `membership`'s current share; has
/// `announce` tell the other processes about deliveries left waiting for their claim, and
/// raises `look_again` (this process's claim loop's signal) when a claim after recorded
/// results took nothing — it skips webhooks other transactions hold, so that is no proof
/// that nothing waits.
///
/// Events under load are gathered a little longer before they are written: when a batch of
/// several was written and more were waiting by then, the next one waits up to
/// [`GATHER_WINDOW`] for [`GATHER_TARGET`] events. A batch costs the database and this
/// process a fixed amount besides its events, and several processes behind a load balancer
/// split the same load into batches as many times smaller: without the gather, three processes
/// spent a third more CPU per event than one. A trickle of events never waits (its batches
/// hold one).
pub(super) async fn run(
    pool: PgPool,
    writes: Writes,
    mut queue: mpsc::Receiver<WriteOp>,
    announce: std::sync::Arc<Announcements>,
    membership: std::sync::Arc<Membership>,
    look_again: WorkSignal,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The store's close waits for every connection checked out of the pool: the writer lets
    // go of its own (kept between batches) as soon as the pool closes, and ends; what is
    // still queued then is answered as the store shutting down.
    let mut closed = std::pin::pin!(pool.close_event());
    let mut connection = OwnConnection::new(pool, writes);
    let mut under_load = false;
    loop {
        let received = tokio::select! {
            received = queue.recv_many(&mut batch, MAX_BATCH) => received,
            () = &mut closed => 0,
        };
        if received == 0 {
            break;
        }
        if writes == Writes::Events && under_load {
            gather(&mut queue, &mut batch).await;
        }
        let written = batch.len();
        let ops = std::mem::take(&mut batch);
        let left_for_others = apply(&mut connection, ops, membership.shard(), &look_again).await;
        if !left_for_others.is_empty() {
            announce.for_webhooks(left_for_others);
        }
        under_load = written > 1 && !queue.is_empty();
    }
}

/// Adds to `batch` what arrives within [`GATHER_WINDOW`], until it holds [`GATHER_TARGET`].
async fn gather<T>(queue: &mut mpsc::Receiver<T>, batch: &mut Vec<T>) {
    let deadline = tokio::time::Instant::now() + GATHER_WINDOW;
    while batch.len() < GATHER_TARGET {
        let room = MAX_BATCH - batch.len();
        // `recv_many` is cancel-safe: what it did not return stays queued.
        match tokio::time::timeout_at(deadline, queue.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
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
    /// What it writes (which decides its session's durability).
    writes: Writes,
    /// The connection and when it was last used.
    held: Option<(PoolConnection<Postgres>, Instant)>,
}

impl OwnConnection {
    /// How long a connection may sit unused before it is checked.
    const CHECK_AFTER: Duration = Duration::from_secs(1);

    fn new(pool: PgPool, writes: Writes) -> Self {
        OwnConnection {
            pool,
            writes,
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
                // Said either way, whatever the database's or role's default.
                sqlx::query(match self.writes {
                    Writes::Events => "SET synchronous_commit = on",
                    Writes::Results => "SET synchronous_commit = off",
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
async fn apply(
    connection: &mut OwnConnection,
    ops: Vec<WriteOp>,
    shard: Shard,
    look_again: &WorkSignal,
) -> Vec<i64> {
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
            let handed_on = results::record_and_claim(conn, &outcomes, follow_up, shard).await?;
            if handed_on.look_again {
                look_again.raise();
            }
            handed_on.claimed
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    #[tokio::test(start_paused = true)]
    async fn a_batch_gathers_until_its_target_without_waiting_when_enough_are_queued() {
        let (sender, mut queue) = mpsc::channel(MAX_BATCH);
        for n in 0..GATHER_TARGET + 8 {
            sender.send(n).await.unwrap();
        }
        let mut batch = vec![];
        queue.recv_many(&mut batch, 2).await;
        let started = Instant::now();
        gather(&mut queue, &mut batch).await;
        assert_eq!(batch, (0..GATHER_TARGET + 8).collect::<Vec<_>>());
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_for_more_at_most_its_window() {
        let (sender, mut queue) = mpsc::channel(MAX_BATCH);
        sender.send(0).await.unwrap();
        let late = sender.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            late.send(1).await.unwrap();
        });
        let mut batch = vec![];
        queue.recv_many(&mut batch, MAX_BATCH).await;
        let started = Instant::now();
        gather(&mut queue, &mut batch).await;
        assert_eq!(
            batch,
            [0, 1],
            "what came within the window joined the batch"
        );
        assert_eq!(started.elapsed(), GATHER_WINDOW);
        // A closed queue ends the wait at once.
        drop(sender);
        let started = Instant::now();
        gather(&mut queue, &mut batch).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
