//! The server's clock: the one place that reads the system time and waits on it, behind a
//! trait so that tests control time instead of sleeping on it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// A wait on a [`Clock`], owning what it needs.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of the current time, and of waits measured in it.
pub trait Clock: Send + Sync + 'static {
    /// Unix milliseconds now.
    fn now_ms(&self) -> i64;

    /// Ends once this clock reads `at_ms` or later: the background tasks' timers (the claim
    /// loop's wait for the next due delivery, the mailer's and retention's rounds), so that a
    /// test moving the clock moves them too. An end, not a length: a wait set up after the
    /// clock moved past it ends at once.
    fn sleep_until(&self, at_ms: i64) -> Sleep;
}

/// The shared clock handle the server's parts hold.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }

    fn sleep_until(&self, at_ms: i64) -> Sleep {
        let left = at_ms.saturating_sub(now_ms()).max(0);
        Box::pin(tokio::time::sleep(Duration::from_millis(left as u64)))
    }
}

/// A clock that moves only when told to: for tests that must say "nothing happens before
/// time T" exactly. Its waits end when [`ManualClock::advance`] moves it past their end,
/// never on their own.
#[derive(Debug)]
pub struct ManualClock(watch::Sender<i64>);

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn at(now_ms: i64) -> Arc<Self> {
        Arc::new(ManualClock(watch::Sender::new(now_ms)))
    }

    /// Moves the clock forward by `ms`, ending the waits it moves past.
    pub fn advance(&self, ms: i64) {
        self.0.send_modify(|now| *now += ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        *self.0.borrow()
    }

    fn sleep_until(&self, at_ms: i64) -> Sleep {
        let mut moved = self.0.subscribe();
        Box::pin(async move {
            if moved.wait_for(|now| *now >= at_ms).await.is_err() {
                // The clock is gone, and with it whoever would move it.
                std::future::pending::<()>().await;
            }
        })
    }
}

/// Unix milliseconds now, from the system clock.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix seconds now, from the system clock.
pub fn now_seconds() -> i64 {
    now_ms().div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clocks_wait_ends_when_it_is_moved_past_its_end_and_not_before() {
        let clock = ManualClock::at(1_000);
        let mut wait = clock.sleep_until(1_250);
        let pending = |wait: &mut Sleep| {
            let waker = futures_util::task::noop_waker();
            let mut context = std::task::Context::from_waker(&waker);
            wait.as_mut().poll(&mut context).is_pending()
        };
        assert!(pending(&mut wait));
        clock.advance(249);
        assert!(pending(&mut wait));
        clock.advance(1);
        assert!(!pending(&mut wait));
        assert_eq!(clock.now_ms(), 1_250);
        // Set up after the clock passed its end: over at once.
        assert!(!pending(&mut clock.sleep_until(1_000)));
    }
}
