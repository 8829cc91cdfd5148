//! Group commit: the hot writes of many requests share one transaction.
//!
//! The task waits for one operation, takes whatever else is already queued (up to
//! [`MAX_BATCH`]), applies them all in one transaction, commits, and only then answers each
//! caller. An operation's own refusal (a duplicate event id) does not affect the others; a
//! database failure fails the whole batch and every caller hears of it.

use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::super::*;
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
                tracing::error!(%error, "a batched write failed");
                let message = error.to_string();
                for answer in answers {
                    answer.fail(&message);
                }
            }
        }
    }
}

async fn apply(
    pool: &SqlitePool,
    ops: Vec<WriteOp>,
) -> Result<Vec<Pending>, (StoreError, Vec<Pending>)> {
    let mut answers = Vec::with_capacity(ops.len());
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => {
            answers.extend(ops.into_iter().map(Pending::unanswered));
            return Err((e.into(), answers));
        }
    };
    let mut ops = ops.into_iter();
    while let Some(op) = ops.next() {
        match apply_one(&mut tx, op).await {
            Ok(answer) => answers.push(answer),
            Err((error, answer)) => {
                answers.push(answer);
                answers.extend(ops.map(Pending::unanswered));
                return Err((error, answers));
            }
        }
    }
    if let Err(e) = tx.commit().await {
        return Err((e.into(), answers));
    }
    Ok(answers)
}

/// Applies one operation; a database error is returned to abort the batch, a refusal is kept
/// as that operation's answer.
async fn apply_one(
    tx: &mut Transaction<'static, Sqlite>,
    op: WriteOp,
) -> Result<Pending, (StoreError, Pending)> {
    match op {
        WriteOp::InsertEvent {
            account,
            event,
            now_ms,
            lease,
            reply,
        } => match events::insert(tx, &account, event, now_ms, lease).await {
            Err(StoreError::Database(e)) => {
                Err((e.into(), Pending::Event(reply, Err(StoreError::WriterGone))))
            }
            result => Ok(Pending::Event(reply, result)),
        },
        WriteOp::Outcome { outcome, reply } => match engine::apply_outcome(tx, &outcome).await {
            Err(StoreError::Database(e)) => Err((
                e.into(),
                Pending::Outcome(reply, Err(StoreError::WriterGone)),
            )),
            result => Ok(Pending::Outcome(reply, result)),
        },
    }
}

impl Pending {
    fn unanswered(op: WriteOp) -> Pending {
        match op {
            WriteOp::InsertEvent { reply, .. } => {
                Pending::Event(reply, Err(StoreError::WriterGone))
            }
            WriteOp::Outcome { reply, .. } => Pending::Outcome(reply, Err(StoreError::WriterGone)),
        }
    }

    fn send(self) {
        // A caller that went away (its request was cancelled) needs no answer.
        match self {
            Pending::Event(reply, result) => drop(reply.send(result)),
            Pending::Outcome(reply, result) => drop(reply.send(result)),
        }
    }

    fn fail(self, message: &str) {
        match self {
            Pending::Event(reply, _) => {
                drop(reply.send(Err(StoreError::BatchFailed(message.to_owned()))))
            }
            Pending::Outcome(reply, _) => {
                drop(reply.send(Err(StoreError::BatchFailed(message.to_owned()))))
            }
        }
    }
}
