//! Group commit of attempt results: the results that finish together share one transaction
//! (a few array statements, one commit), and the room they free is handed to the next due
//! deliveries, claimed in the same transaction — as the embedded store does, so a busy
//! engine costs the database a handful of statements per batch rather than per delivery.

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::super::*;
use super::engine;

/// The most results in one transaction.
const MAX_BATCH: usize = 256;

/// One attempt's result, and how much follow-up work to claim.
pub(super) struct OutcomeOp {
    /// The result.
    pub outcome: AttemptOutcome,
    /// The time now and the lease for follow-up claims.
    pub follow_up: Option<(i64, Lease)>,
    /// Where the answer goes.
    pub reply: oneshot::Sender<StoreResult<Vec<ClaimedDelivery>>>,
}

/// Runs until every sender is dropped.
pub(super) async fn run(pool: PgPool, mut queue: mpsc::Receiver<OutcomeOp>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        apply(&pool, std::mem::take(&mut batch)).await;
    }
}

async fn apply(pool: &PgPool, ops: Vec<OutcomeOp>) {
    let mut outcomes = Vec::with_capacity(ops.len());
    let mut replies = Vec::with_capacity(ops.len());
    let mut follow_up: Option<(i64, Lease)> = None;
    for op in ops {
        let max = op.follow_up.map_or(0, |(_, lease)| lease.max as usize);
        if let Some((now_ms, lease)) = op.follow_up {
            // One claim for the whole batch, under the first lease, as large as all.
            let (_, total) = follow_up.get_or_insert((now_ms, Lease { max: 0, ..lease }));
            total.max += lease.max;
        }
        outcomes.push(op.outcome);
        replies.push((op.reply, max));
    }
    let result = async {
        let mut tx = pool.begin().await?;
        engine::relaxed_commit(&mut tx).await?;
        engine::apply_outcomes(&mut tx, &outcomes).await?;
        let claimed = match follow_up {
            Some((now_ms, lease)) => engine::claim_in(&mut tx, now_ms, lease).await?,
            None => Vec::new(),
        };
        tx.commit().await?;
        Ok::<_, StoreError>(claimed)
    }
    .await;
    match result {
        Ok(claimed) => {
            let mut claimed = claimed.into_iter();
            for (reply, max) in replies {
                let _ = reply.send(Ok(claimed.by_ref().take(max).collect()));
            }
        }
        Err(error) => {
            tracing::error!(%error, "recording a batch of attempt results failed");
            for (reply, _) in replies {
                let _ = reply.send(Err(error.for_another_caller()));
            }
        }
    }
}
