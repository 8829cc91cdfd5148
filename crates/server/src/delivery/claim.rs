//! The claim loop: takes due deliveries from the store whenever the engine has room.
//!
//! It sleeps until the earliest due delivery, a wake-up (a retry was scheduled, room freed,
//! deliveries resumed) or at most [`MAX_IDLE`], which also bounds how long an expired lease
//! of another process waits.

use std::sync::Arc;
use std::time::Duration;

use super::DeliveryEngine;
use crate::clock::now_ms;
use crate::shutdown::Shutdown;

/// The longest the loop sleeps without looking.
const MAX_IDLE: Duration = Duration::from_secs(1);
/// Pause after a store error.
const ERROR_BACKOFF: Duration = Duration::from_millis(500);

pub(super) async fn run(engine: &Arc<DeliveryEngine>, mut shutdown: Shutdown) {
    while !shutdown.is_shutdown() {
        let sleep = match claim_once(engine).await {
            Ok(Some(sleep)) => sleep,
            Ok(None) => continue,
            Err(error) => {
                tracing::error!(%error, "claiming due deliveries failed");
                ERROR_BACKOFF
            }
        };
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = engine.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Claims what is due; `Ok(None)` means "look again at once", `Ok(Some(d))` "sleep up to d".
async fn claim_once(engine: &Arc<DeliveryEngine>) -> crate::store::StoreResult<Option<Duration>> {
    let now = now_ms();
    let Some(lease) = engine.lease(now) else {
        // Full: a finishing delivery wakes the loop.
        return Ok(Some(MAX_IDLE));
    };
    let claimed = engine.store.claim_due(now, lease).await?;
    let full_batch = claimed.len() as u32 == lease.max;
    engine.dispatch(claimed);
    if full_batch {
        return Ok(None);
    }
    let sleep = match engine.store.next_due_at().await? {
        Some(due) if due <= now => Duration::from_millis(50),
        Some(due) => Duration::from_millis((due - now) as u64).min(MAX_IDLE),
        None => MAX_IDLE,
    };
    Ok(Some(sleep))
}
