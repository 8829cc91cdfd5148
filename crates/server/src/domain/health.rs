//! A webhook's health: the circuit that keeps a dead endpoint from holding the pool.
//!
//! Every attempt to an endpoint that hangs until the timeout holds a worker for that long. A
//! webhook whose recent attempts all failed is probably down, so while its `failure_streak`
//! (consecutive failed attempts, over all its deliveries) is at [`OPENS_AFTER`] or more, it may
//! hold only one attempt in flight — a probe — and its other due deliveries wait in the store
//! instead of each taking a worker of its own. A success closes the circuit again.
//!
//! An endpoint may also say when to come back: a `429` or `503` with `Retry-After` holds the
//! whole webhook (not only the delivery that got it) until the time its delivery's retry was
//! set to — the asked delay, within the retry rules' 4× cap ([`hold_until`]).
//!
//! Neither changes how many attempts count or any delivery's backoff, only *when* attempts
//! happen: the docs' rule (a delivery's 5th failed attempt disables the webhook and emails its
//! owner once) is `domain::delivery`'s and stays exact.

/// Consecutive failed attempts after which a webhook holds one attempt in flight at most.
pub const OPENS_AFTER: u32 = 3;

/// What the store keeps of a webhook's health.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    /// Consecutive failed attempts, over all its deliveries.
    pub failure_streak: u32,
    /// Until when (Unix ms) its endpoint asked to be sent nothing.
    pub held_until: Option<i64>,
}

/// The most attempts a webhook may have in flight at `now_ms`: none while its endpoint's
/// `Retry-After` holds it, one (a probe) while its circuit is open, else `per_webhook`.
pub fn in_flight_limit(per_webhook: u32, health: Health, now_ms: i64) -> u32 {
    if health.held_until.is_some_and(|until| until > now_ms) {
        0
    } else if health.failure_streak >= OPENS_AFTER {
        per_webhook.min(1)
    } else {
        per_webhook
    }
}

/// Until when an attempt's result holds its whole webhook: when the endpoint asked to wait
/// (`retry_after`, from a 429 or 503) and the delivery is retried, until that retry (which the
/// retry rules set from the asked delay, at most 4× the scheduled one).
pub fn hold_until(
    next: crate::domain::delivery::AfterAttempt,
    retry_after: Option<std::time::Duration>,
) -> Option<i64> {
    match (next, retry_after) {
        (crate::domain::delivery::AfterAttempt::RetryAt(at), Some(_)) => Some(at),
        _ => None,
    }
}

/// Whether a webhook's new deliveries may be claimed at once when their event is stored: not
/// while its circuit is open — a failing webhook's deliveries go through the claim, which
/// keeps them within their share of the room ([`failing_share`]).
pub fn may_start_at_once(health: Health) -> bool {
    !is_open(health.failure_streak)
}

/// Whether a webhook with `failure_streak` consecutive failed attempts has its circuit open
/// (one attempt in flight at most).
pub fn is_open(failure_streak: u32) -> bool {
    failure_streak >= OPENS_AFTER
}

/// The share of a process's attempts in flight that webhooks with an open circuit may hold,
/// in percent of `--workers`: the rest is always there for endpoints that answer.
pub const FAILING_SHARE_PERCENT: u32 = 25;

/// How many of `workers` attempts in flight may go to webhooks with an open circuit (at
/// least one, so that probes still go out).
pub fn failing_share(workers: u32) -> u32 {
    (workers.saturating_mul(FAILING_SHARE_PERCENT) / 100).max(1)
}

/// A webhook's circuit, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Attempts go out as fast as the per-webhook limit allows.
    Closed,
    /// The recent attempts failed: one attempt at a time, until one succeeds; none is in
    /// flight now (the next waits for its retry time, or for room).
    Open,
    /// The circuit is open and its one attempt — the probe — is in flight now.
    Probing,
}

impl Circuit {
    /// The circuit of a webhook with `failure_streak` consecutive failed attempts and
    /// `attempts_in_flight` attempts in flight now.
    pub fn of(failure_streak: u32, attempts_in_flight: u32) -> Circuit {
        match (is_open(failure_streak), attempts_in_flight) {
            (false, _) => Circuit::Closed,
            (true, 0) => Circuit::Open,
            (true, _) => Circuit::Probing,
        }
    }

    /// `closed`, `open` or `probing`.
    pub fn as_str(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::Probing => "probing",
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

    fn streak(failure_streak: u32) -> Health {
        Health {
            failure_streak,
            held_until: None,
        }
    }

    #[test]
    fn the_circuit_opens_after_consecutive_failures_and_a_success_closes_it() {
        let mut n = 0;
        for _ in 0..OPENS_AFTER - 1 {
            n = streak_change([false]).apply(n);
            assert_eq!(in_flight_limit(16, streak(n), 0), 16);
            assert_eq!(Circuit::of(n, 5), Circuit::Closed);
        }
        n = streak_change([false]).apply(n);
        assert_eq!(in_flight_limit(16, streak(n), 0), 1, "a probe at a time");
        assert_eq!(Circuit::of(n, 0), Circuit::Open);
        assert_eq!(Circuit::of(n, 1), Circuit::Probing, "its probe in flight");
        n = streak_change([false, true, false]).apply(n);
        assert_eq!(n, 0);
        assert_eq!(in_flight_limit(16, streak(n), 0), 16);
        assert_eq!(streak_change([false, false]), StreakChange::Add(2));
        assert_eq!(streak_change([]), StreakChange::Add(0));
        // A limit of 0 (claims that must not start anything) stays 0.
        assert_eq!(in_flight_limit(0, streak(OPENS_AFTER), 0), 0);
    }

    #[test]
    fn failing_webhooks_start_nothing_at_once_and_share_a_quarter_of_the_room() {
        assert!(!may_start_at_once(streak(OPENS_AFTER)));
        assert!(may_start_at_once(streak(0)));
        assert_eq!(failing_share(64), 16);
        assert_eq!(failing_share(2), 1, "probes still go out");
    }

    #[test]
    fn a_retry_after_holds_the_whole_webhook_until_the_retry() {
        use crate::domain::delivery::AfterAttempt;
        use std::time::Duration;
        let asked = Some(Duration::from_secs(30));
        assert_eq!(hold_until(AfterAttempt::RetryAt(5_000), asked), Some(5_000));
        assert_eq!(hold_until(AfterAttempt::RetryAt(5_000), None), None);
        assert_eq!(hold_until(AfterAttempt::Succeeded, asked), None);
        assert_eq!(
            hold_until(
                AfterAttempt::GiveUp {
                    attempts_in_round: 5
                },
                asked
            ),
            None
        );
        let held = Health {
            failure_streak: 0,
            held_until: Some(5_000),
        };
        assert_eq!(in_flight_limit(16, held, 4_999), 0);
        assert_eq!(in_flight_limit(16, held, 5_000), 16, "over at its time");
    }
}
