//! Group commit: the hot writes of many requests share one transaction.
//!
//! The task waits for one operation, takes whatever else is already queued (up to
//! [`MAX_BATCH`]), applies them all in one transaction — with multi-row statements, since
//! every statement is a round trip to SQLite's own thread — commits, and only then answers
//! each caller. An operation's own refusal (a duplicate event id) does not affect the
//! others; a database failure fails the whole batch and every caller hears of it.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::super::*;
use super::events::QueuedEvent;
use super::{engine, events};

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
    /// Record an attempt's result.
    Outcome {
        outcome: AttemptOutcome,
        reply: oneshot::Sender<StoreResult<()>>,
    },
}

/// The answer owed to one operation once the batch commits.
enum Pending {
    Event(
        oneshot::Sender<StoreResult<InsertedEvent>>,
        StoreResult<InsertedEvent>,
    ),
    Outcome(oneshot::Sender<StoreResult<()>>, StoreResult<()>),
}

/// Runs until every sender is dropped.
pub(super) async fn run(pool: SqlitePool, mut queue: mpsc::Receiver<WriteOp>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let ops = std::mem::take(&mut batch);
        match apply(&pool, ops).await {
            Ok(answers) => answers.into_iter().for_each(Pending::send),
            Err((error, answers)) => {
                tracing::error!(%error, "a batched write failed; nothing of it was stored");
                for answer in answers {
                    answer.fail(&error);
                }
            }
        }
    }
}

async fn apply(
    pool: &SqlitePool,
    ops: Vec<WriteOp>,
) -> Result<Vec<Pending>, (StoreError, Vec<Pending>)> {
    let mut events = Vec::new();
    let mut event_replies = Vec::new();
    let mut outcomes = Vec::new();
    let mut outcome_replies = Vec::new();
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
            WriteOp::Outcome { outcome, reply } => {
                outcomes.push(outcome);
                outcome_replies.push(reply);
            }
        }
    }
    let unanswered = |event_replies: Vec<_>, outcome_replies: Vec<_>| -> Vec<Pending> {
        let events = event_replies
            .into_iter()
            .map(|reply| Pending::Event(reply, Err(writer_gone())));
        let outcomes = outcome_replies
            .into_iter()
            .map(|reply| Pending::Outcome(reply, Err(writer_gone())));
        events.chain(outcomes).collect()
    };
    let result = async {
        let mut tx = pool.begin().await?;
        let inserted = if events.is_empty() {
            Vec::new()
        } else {
            events::insert_batch(&mut tx, &events).await?
        };
        if !outcomes.is_empty() {
            engine::apply_outcomes(&mut tx, &outcomes).await?;
        }
        tx.commit().await?;
        Ok::<_, StoreError>(inserted)
    }
    .await;
    match result {
        Ok(inserted) => {
            let events = event_replies
                .into_iter()
                .zip(inserted)
                .map(|(reply, result)| Pending::Event(reply, result));
            let outcomes = outcome_replies
                .into_iter()
                .map(|reply| Pending::Outcome(reply, Ok(())));
            Ok(events.chain(outcomes).collect())
        }
        Err(error) => Err((error, unanswered(event_replies, outcome_replies))),
    }
}

impl Pending {
    fn send(self) {
        // A caller that went away (its request was cancelled) needs no answer.
        match self {
            Pending::Event(reply, result) => drop(reply.send(result)),
            Pending::Outcome(reply, result) => drop(reply.send(result)),
        }
    }

    fn fail(self, error: &StoreError) {
        match self {
            Pending::Event(reply, _) => drop(reply.send(Err(error.for_another_caller()))),
            Pending::Outcome(reply, _) => drop(reply.send(Err(error.for_another_caller()))),
        }
    }
}
