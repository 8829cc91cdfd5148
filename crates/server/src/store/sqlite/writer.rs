//! Group commit: the hot writes of many requests share one transaction.
//!
//! The task waits for one operation, takes whatever else is already queued (up to
//! [`MAX_BATCH`]), applies them in two transactions — the attempt results first, then the
//! events, each with multi-row statements, since every statement is a round trip to SQLite's
//! own thread — and answers each caller once its transaction is committed. An operation's own
//! refusal (a duplicate event id) does not affect the others; a database failure fails its
//! whole transaction and every caller in it hears of it.
//!
//! Attempt results may ask to claim follow-up work in their transaction: the room a finished
//! attempt frees is handed straight to the next due delivery (chosen fairly, as any claim),
//! so a busy engine needs no separate claim per finished attempt.

use rand::Rng;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::super::*;
use super::events::QueuedEvent;
use super::{engine, events, results};

/// The most operations in one transaction.
const MAX_BATCH: usize = 512;

/// One queued write.
pub(super) enum WriteOp {
    /// Store an event and its deliveries.
    InsertEvent {
        account: Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
        reply: oneshot::Sender<StoreResult<InsertedEvent>>,
    },
    /// Record an attempt's result, and claim up to `follow_up.max` due deliveries.
    Outcome {
        outcome: AttemptOutcome,
        follow_up: Option<(i64, Lease)>,
        reply: oneshot::Sender<StoreResult<Vec<ClaimedDelivery>>>,
    },
}

type EventReply = oneshot::Sender<StoreResult<InsertedEvent>>;
type OutcomeReply = oneshot::Sender<StoreResult<Vec<ClaimedDelivery>>>;

/// Runs until every sender is dropped.
pub(super) async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<WriteOp>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        apply(&pool, std::mem::take(&mut batch)).await;
    }
}

/// Applies one batch and answers every caller.
async fn apply(pool: &SqlitePool, ops: Vec<WriteOp>) {
    let mut events = Vec::new();
    let mut event_replies: Vec<EventReply> = Vec::new();
    let mut outcomes = Vec::new();
    let mut outcome_replies: Vec<(OutcomeReply, usize)> = Vec::new();
    let mut follow_up: Option<(i64, Lease)> = None;
    for op in ops {
        match op {
            WriteOp::InsertEvent {
                account,
                event,
                now_ms,
                lease,
                reply,
            } => {
                events.push(QueuedEvent {
                    account,
                    event,
                    now_ms,
                    lease,
                });
                event_replies.push(reply);
            }
            WriteOp::Outcome {
                outcome,
                follow_up: wanted,
                reply,
            } => {
                outcomes.push(outcome);
                let max = wanted.map_or(0, |(_, lease)| lease.max as usize);
                outcome_replies.push((reply, max));
                // One claim for the whole batch, under the first lease, as large as all.
                if let Some((now_ms, lease)) = wanted {
                    let (_, total) = follow_up.get_or_insert((now_ms, Lease { max: 0, ..lease }));
                    total.max += lease.max;
                }
            }
        }
    }
    // Attempt results first, in a transaction of their own: their callers are attempts
    // waiting to hand their room on, so a large batch of events does not hold them up (in a
    // burst to one webhook, the deliveries kept pace with the events only so).
    if !outcome_replies.is_empty() {
        let result = async {
            let mut tx = pool.begin().await?;
            results::apply_outcomes(&mut tx, &outcomes).await?;
            let claimed = match follow_up {
                Some((now_ms, lease)) => {
                    let rotation = rand::rng().random::<u32>() as usize;
                    engine::claim_in(&mut tx, now_ms, lease, rotation).await?
                }
                None => Vec::new(),
            };
            tx.commit().await?;
            Ok::<_, StoreError>(claimed)
        }
        .await;
        match result {
            Ok(claimed) => {
                let mut claimed = claimed.into_iter();
                for (reply, max) in outcome_replies {
                    let _ = reply.send(Ok(claimed.by_ref().take(max).collect()));
                }
            }
            Err(error) => {
                tracing::error!(%error, "batched attempt results failed; nothing of them was stored");
                for (reply, _) in outcome_replies {
                    let _ = reply.send(Err(error.for_another_caller()));
                }
            }
        }
    }
    if event_replies.is_empty() {
        return;
    }
    let result = async {
        let mut tx = pool.begin().await?;
        let inserted = events::insert_batch(&mut tx, &events).await?;
        tx.commit().await?;
        Ok::<_, StoreError>(inserted)
    }
    .await;
    match result {
        // A caller that went away (its request was cancelled) needs no answer.
        Ok(inserted) => {
            for (reply, result) in event_replies.into_iter().zip(inserted) {
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            tracing::error!(%error, "a batch of events failed; nothing of it was stored");
            for reply in event_replies {
                let _ = reply.send(Err(error.for_another_caller()));
            }
        }
    }
}
