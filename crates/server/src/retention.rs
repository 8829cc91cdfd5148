//! Retention in the background: old finished data is removed in batches of
//! [`domain::retention::BATCH`](crate::domain::retention::BATCH) events, with a (real) pause
//! between batches so deliveries never wait long on the store; once at start, then every
//! [`EVERY_MS`] on the server's clock. The space is reused by later writes (SQLite keeps freed pages for new rows;
//! PostgreSQL's autovacuum does the same).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::retention;
use crate::shutdown::Shutdown;
use crate::store::Retention;

/// How often retention runs (ms on the server's clock).
pub const EVERY_MS: i64 = 600_000;
/// The pause between two batches.
const PAUSE: Duration = Duration::from_millis(50);

/// Prunes until shutdown; `days == 0` keeps everything.
pub async fn run(store: Arc<dyn Retention>, clock: SharedClock, days: u32, mut shutdown: Shutdown) {
    while !shutdown.is_shutdown() {
        let began = clock.now_ms();
        if let Some(cutoff) = retention::cutoff_ms(began, days) {
            let mut removed = 0;
            loop {
                match store.prune(cutoff, retention::BATCH).await {
                    Ok(n) => {
                        removed += n;
                        if n < u64::from(retention::BATCH) {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "retention: removing old data failed; will retry");
                        break;
                    }
                }
                tokio::select! {
                    () = shutdown.wait() => return,
                    () = tokio::time::sleep(PAUSE) => {}
                }
            }
            if removed > 0 {
                tracing::info!(
                    events = removed,
                    days,
                    "retention: removed old finished events"
                );
            }
        }
        tokio::select! {
            () = shutdown.wait() => return,
            () = clock.sleep_until(began + EVERY_MS) => {}
        }
    }
}
