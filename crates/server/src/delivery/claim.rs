//! The claim loop: takes due deliveries from the store whenever the engine has room.
//!
//! It reserves all free room, claims at most that (the store applies the per-webhook limits
//! and round-robin of `domain::claim`), and sleeps until the earliest due delivery (on the
//! server's clock, which tests move), a wake-up (an attempt finished, deliveries were resumed
//! or left unclaimed, or — with a shared store — another process announced new work) or at
//! most [`MAX_IDLE`] of real time, which also bounds how long an expired lease of another
//! process waits. Wake-ups within [`COALESCE`] — or, when claims are slow, within as long as
//! the last claim took (at most [`MAX_COALESCE`]) — share one claim, so a busy engine does not
//! run a claim per finished attempt, and claims never take more than about half the store's
//! time: on PostgreSQL with a thousand busy webhooks a claim reads each one's queue, and one
//! after every finished attempt kept the database busy claiming instead of recording.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use super::DeliveryEngine;
use crate::shutdown::Shutdown;

/// The longest the loop sleeps without looking.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// How long after a wake-up the loop claims, gathering further wake-ups, at least.
const COALESCE: Duration = Duration::from_millis(1);
/// The longest the loop gathers wake-ups after a slow claim.
const MAX_COALESCE: Duration = Duration::from_millis(50);
/// How soon a process sharing its store looks again at due work it could not claim.
const SHARED_RETRY: Duration = Duration::from_millis(10);
/// Pause after a store error.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);

pub(super) async fn run(engine: &Arc<DeliveryEngine>, mut shutdown: Shutdown) {
    // Another process's announcement of new due work, when the store is shared.
    let announced = engine.store.work_signal();
    while !shutdown.is_shutdown() {
        let started = tokio::time::Instant::now();
        let next = match claim_once(engine, announced.is_some()).await {
            Ok(next) => next,
            Err(error) => {
                tracing::error!(%error, "claiming due deliveries failed");
                NextClaim::after(ERROR_BACKOFF)
            }
        };
        let due = async {
            match next.due_at {
                Some(due_at) => engine.clock.sleep_until(due_at).await,
                None => std::future::pending().await,
            }
        };
        let announcement = async {
            match &announced {
                Some(signal) => signal.raised().await,
                None => std::future::pending().await,
            }
        };
        let gather = started.elapsed().clamp(COALESCE, MAX_COALESCE);
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = engine.wake.notified() => tokio::time::sleep(gather).await,
            _ = announcement => tokio::time::sleep(gather).await,
            _ = due => {}
            _ = tokio::time::sleep(next.at_most) => {}
        }
        // The claim that follows answers every wake-up so far, of either kind: one kept for
        // later would cost a claim that finds nothing and, from its gathering, delay a retry
        // falling due meanwhile (a failed attempt both wakes the loop and may have the store
        // raise its signal).
        let _ = engine.wake.notified().now_or_never();
        if let Some(signal) = &announced {
            let _ = signal.raised().now_or_never();
        }
    }
}

/// When the claim loop looks again (besides a wake-up): when the next delivery falls due on
/// the server's clock, or after a pause of real time, whichever ends first.
struct NextClaim {
    /// When the next delivery falls due (Unix ms on the server's clock), if one is known.
    due_at: Option<i64>,
    /// The longest real pause.
    at_most: Duration,
}

impl NextClaim {
    /// After a pause of real time only.
    fn after(at_most: Duration) -> Self {
        NextClaim {
            due_at: None,
            at_most,
        }
    }
}

/// Claims what is due; returns when to look again. `shared`: other processes use the store.
async fn claim_once(
    engine: &Arc<DeliveryEngine>,
    shared: bool,
) -> crate::store::StoreResult<NextClaim> {
    let reserved = engine.room.reserve(usize::MAX);
    if reserved == 0 {
        // Full: a finishing attempt wakes the loop.
        return Ok(NextClaim::after(MAX_IDLE));
    }
    let now = engine.clock.now_ms();
    let failing = engine.reserve_failing();
    let claimed = match engine
        .store
        .claim_due(now, engine.lease(now, reserved, failing))
        .await
    {
        Ok(claimed) => claimed,
        Err(error) => {
            engine.room.release(reserved);
            engine.release_failing(failing, &[]);
            return Err(error);
        }
    };
    engine.release_failing(failing, &claimed);
    engine.room.release(reserved - claimed.len());
    let room_was_filled = claimed.len() == reserved;
    engine.dispatch(claimed);
    if room_was_filled {
        // More may be due; a finishing attempt wakes the loop.
        return Ok(NextClaim::after(MAX_IDLE));
    }
    // Everything claimable was claimed: what is due now waits for a webhook's slot (an
    // attempt finishing wakes the loop); otherwise sleep until the next falls due. With a
    // shared store, a claim skips the webhooks another process is claiming for at that moment,
    // so due work is looked at again soon rather than at the next wake-up.
    Ok(match engine.store.next_due_at().await? {
        Some(due) if due > now => NextClaim {
            due_at: Some(due),
            at_most: MAX_IDLE,
        },
        Some(_) if shared => NextClaim::after(SHARED_RETRY),
        _ => NextClaim::after(MAX_IDLE),
    })
}
