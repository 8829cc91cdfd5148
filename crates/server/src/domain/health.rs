//! A webhook's health: the circuit that keeps a dead endpoint from holding the pool.
//!
//! Every attempt to an endpoint that hangs until the timeout holds a worker for that long. A
//! webhook whose recent attempts all failed is probably down, so while its `failure_streak`
//! (consecutive failed attempts, over all its deliveries) is at [`OPENS_AFTER`] or more, it may
//! hold only one attempt in flight — a probe — and its other due deliveries wait in the store
//! instead of each taking a worker of its own. A success closes the circuit again.
//!
//! The circuit changes *when* attempts happen, never how many count or any delivery's backoff:
//! the docs' rule (a delivery's 5th failed attempt disables the webhook and emails its owner
//! once) is `domain::delivery`'s and stays exact.

/// Consecutive failed attempts after which a webhook holds one attempt in flight at most.
pub const OPENS_AFTER: u32 = 3;

/// The most attempts a webhook may have in flight: `per_webhook` while its circuit is closed,
/// one (a probe) while it is open.
pub fn in_flight_limit(per_webhook: u32, failure_streak: u32) -> u32 {
    if failure_streak >= OPENS_AFTER {
        per_webhook.min(1)
    } else {
        per_webhook
    }
}

/// A webhook's circuit, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Attempts go out as fast as the per-webhook limit allows.
    Closed,
    /// The recent attempts failed: one attempt at a time, until one succeeds.
    Open,
}

impl Circuit {
    /// The circuit of a webhook with `failure_streak` consecutive failed attempts.
    pub fn of(failure_streak: u32) -> Circuit {
        if failure_streak >= OPENS_AFTER {
            Circuit::Open
        } else {
            Circuit::Closed
        }
    }

    /// `closed` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
        }
    }
}

/// How a batch of attempt results changes a webhook's failure streak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakChange {
    /// An attempt succeeded: the streak starts again from 0 (and the circuit closes).
    Reset,
    /// Only failures: the streak grows by that many.
    Add(u32),
}

/// The change the results of one webhook's attempts (`true`: succeeded) make to its streak. A
/// batch with any success resets it: the endpoint answers.
pub fn streak_change(results: impl IntoIterator<Item = bool>) -> StreakChange {
    let mut failed = 0u32;
    for succeeded in results {
        if succeeded {
            return StreakChange::Reset;
        }
        failed = failed.saturating_add(1);
    }
    StreakChange::Add(failed)
}

impl StreakChange {
    /// The streak after the change.
    pub fn apply(self, streak: u32) -> u32 {
        match self {
            StreakChange::Reset => 0,
            StreakChange::Add(n) => streak.saturating_add(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_circuit_opens_after_consecutive_failures_and_a_success_closes_it() {
        let mut streak = 0;
        for _ in 0..OPENS_AFTER - 1 {
            streak = streak_change([false]).apply(streak);
            assert_eq!(in_flight_limit(16, streak), 16);
            assert_eq!(Circuit::of(streak), Circuit::Closed);
        }
        streak = streak_change([false]).apply(streak);
        assert_eq!(in_flight_limit(16, streak), 1, "a probe at a time");
        assert_eq!(Circuit::of(streak), Circuit::Open);
        streak = streak_change([false, true, false]).apply(streak);
        assert_eq!(streak, 0);
        assert_eq!(in_flight_limit(16, streak), 16);
        assert_eq!(streak_change([false, false]), StreakChange::Add(2));
        assert_eq!(streak_change([]), StreakChange::Add(0));
        // A limit of 0 (claims that must not start anything) stays 0.
        assert_eq!(in_flight_limit(0, OPENS_AFTER), 0);
    }
}
