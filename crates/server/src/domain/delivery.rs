//! The delivery lifecycle, as pure decisions: given where a delivery stands and what just
//! happened (an attempt's verdict, or an operator's action), what comes next.
//!
//! - [`after_attempt`]: succeeded; retry at a time (the backoff of [`super::retry`], never
//!   shortened by a `Retry-After`); or give up — the delivery fails, its webhook is disabled,
//!   the webhook's other deliveries pause, and the owner gets one email. A receiver that
//!   answers `410 Gone` asks for nothing more (the Standard Webhooks recommendation): it is
//!   given up at once, whatever the attempt's number.
//! - [`settle`]: the status an attempt leaves a delivery in, given whether its webhook is
//!   still enabled (a retry of a webhook disabled meanwhile waits, paused).
//! - [`on_webhook_disabled`] / [`on_webhook_enabled`]: what disabling (by the owner or after
//!   the final failure) and re-enabling do to a webhook's deliveries.
//! - [`manual_retry`]: whether a delivery may be sent again by hand, and how.
//! - [`new_delivery`]: the state fan-out gives a new delivery.
//!
//! Nothing here reads a clock or touches a database: time is an argument, and the stores
//! apply the decisions as narrow conditional writes.

use std::time::Duration;

use super::retry;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx arrived.
    Succeeded,
    /// Every attempt of its round failed.
    Failed,
    /// Its webhook is disabled; it resumes when the webhook is enabled.
    Paused,
}

impl DeliveryStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Paused => "paused",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => DeliveryStatus::Pending,
            "succeeded" => DeliveryStatus::Succeeded,
            "failed" => DeliveryStatus::Failed,
            "paused" => DeliveryStatus::Paused,
            _ => return None,
        })
    }
}

/// The rules of a server: how long to wait between attempts, and how many to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRules {
    /// Delay after the first failure of a round.
    pub base: Duration,
    /// Failed attempts in a round after which the delivery fails and its webhook is disabled.
    pub max_attempts: u32,
}

/// How an attempt ended, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// The receiver answered 2xx in time.
    Succeeded,
    /// Anything else.
    Failed {
        /// The receiver's `Retry-After`, if it sent one with a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// The receiver answered `410 Gone`: the endpoint is gone for good.
    Gone,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// The delivery is done.
    Succeeded,
    /// Try again at this Unix ms.
    RetryAt(i64),
    /// The round's last attempt failed: the delivery fails, its webhook is disabled, the
    /// webhook's other pending deliveries pause, and one email goes to the owner.
    GiveUp {
        /// The failed attempts of this round (the email says how many).
        attempts_in_round: u32,
    },
}

/// Decides what follows attempt number `attempt_count + 1` of a delivery whose current
/// round began after `round_base` attempts. `finished_ms` is when the attempt ended and
/// `jitter_unit` a uniform random number in `[0, 1)`.
pub fn after_attempt(
    attempt_count: u32,
    round_base: u32,
    verdict: AttemptVerdict,
    finished_ms: i64,
    rules: RetryRules,
    jitter_unit: f64,
) -> AfterAttempt {
    let in_round = (attempt_count + 1).saturating_sub(round_base);
    let retry_after = match verdict {
        AttemptVerdict::Succeeded => return AfterAttempt::Succeeded,
        AttemptVerdict::Gone => {
            return AfterAttempt::GiveUp {
                attempts_in_round: in_round,
            }
        }
        AttemptVerdict::Failed { retry_after } => retry_after,
    };
    if retry::is_final(in_round, rules.max_attempts) {
        return AfterAttempt::GiveUp {
            attempts_in_round: in_round,
        };
    }
    let scheduled = retry::with_jitter(retry::scheduled_delay(rules.base, in_round), jitter_unit);
    let delay = retry::honour_retry_after(scheduled, retry_after);
    let delay_ms = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
    AfterAttempt::RetryAt(finished_ms.saturating_add(delay_ms))
}

/// The status and due time an attempt leaves its delivery in. A delivery of a disabled
/// webhook is never pending: a retry whose webhook was disabled while the attempt ran waits,
/// paused, for the webhook to be enabled.
pub fn settle(after: AfterAttempt, webhook_enabled: bool) -> (DeliveryStatus, Option<i64>) {
    match after {
        AfterAttempt::Succeeded => (DeliveryStatus::Succeeded, None),
        AfterAttempt::GiveUp { .. } => (DeliveryStatus::Failed, None),
        AfterAttempt::RetryAt(at) if webhook_enabled => (DeliveryStatus::Pending, Some(at)),
        AfterAttempt::RetryAt(_) => (DeliveryStatus::Paused, None),
    }
}

/// The state fan-out gives a new delivery: due at once, or paused when its webhook is
/// disabled.
pub fn new_delivery(webhook_enabled: bool, now_ms: i64) -> (DeliveryStatus, Option<i64>) {
    if webhook_enabled {
        (DeliveryStatus::Pending, Some(now_ms))
    } else {
        (DeliveryStatus::Paused, None)
    }
}

/// A change to every delivery of one webhook that is in one status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkChange {
    /// Only deliveries in this status change.
    pub from: DeliveryStatus,
    /// Their new status.
    pub to: DeliveryStatus,
    /// Their new due time (`None`: not due).
    pub due_at: Option<i64>,
    /// Whether a new round of attempts begins (the retry count starts again).
    pub new_round: bool,
}

/// Disabling a webhook — by its owner, or after a delivery's final failure — pauses its
/// pending deliveries. They are not lost.
pub fn on_webhook_disabled() -> BulkChange {
    BulkChange {
        from: DeliveryStatus::Pending,
        to: DeliveryStatus::Paused,
        due_at: None,
        new_round: false,
    }
}

/// Enabling a webhook again resumes its paused deliveries now, each with a fresh round of
/// attempts.
pub fn on_webhook_enabled(now_ms: i64) -> BulkChange {
    BulkChange {
        from: DeliveryStatus::Paused,
        to: DeliveryStatus::Pending,
        due_at: Some(now_ms),
        new_round: true,
    }
}

/// Recovering a webhook's failed deliveries (a receiver that was down wants them again):
/// each starts a fresh round of attempts now, or waits paused while the webhook is disabled
/// (enabling it resumes them, as it resumes every paused delivery).
pub fn recover_failed(webhook_enabled: bool, now_ms: i64) -> BulkChange {
    BulkChange {
        from: DeliveryStatus::Failed,
        to: if webhook_enabled {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::Paused
        },
        due_at: webhook_enabled.then_some(now_ms),
        new_round: true,
    }
}

/// Why a delivery cannot be retried by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRefused {
    /// Only a failed delivery can be retried; others are done or still being tried.
    NotFailed,
    /// Its webhook is disabled; enabling it resumes deliveries.
    WebhookDisabled,
}

impl RetryRefused {
    /// What the API says.
    pub fn message(self) -> &'static str {
        match self {
            RetryRefused::NotFailed => "only a failed delivery can be retried",
            RetryRefused::WebhookDisabled => {
                "the webhook is disabled; enable it first (PATCH {\"enabled\":true})"
            }
        }
    }
}

/// A manual retry: a failed delivery of an enabled webhook is due now, in a new round.
pub fn manual_retry(
    status: DeliveryStatus,
    webhook_enabled: bool,
    now_ms: i64,
) -> Result<BulkChange, RetryRefused> {
    if status != DeliveryStatus::Failed {
        return Err(RetryRefused::NotFailed);
    }
    if !webhook_enabled {
        return Err(RetryRefused::WebhookDisabled);
    }
    Ok(BulkChange {
        from: DeliveryStatus::Failed,
        to: DeliveryStatus::Pending,
        due_at: Some(now_ms),
        new_round: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use AfterAttempt::{GiveUp, RetryAt};
    use DeliveryStatus::{Failed, Paused, Pending};

    const RULES: RetryRules = RetryRules {
        base: Duration::from_secs(60),
        max_attempts: 5,
    };
    const FAIL: AttemptVerdict = AttemptVerdict::Failed { retry_after: None };
    const NOW: i64 = 1_000_000;

    fn after(count: u32, base: u32, verdict: AttemptVerdict) -> AfterAttempt {
        // jitter 0.5 is the unjittered delay
        after_attempt(count, base, verdict, NOW, RULES, 0.5)
    }

    #[test]
    fn a_410_gives_up_at_once_whatever_the_attempt() {
        for (count, base) in [(0, 0), (2, 0), (6, 5)] {
            assert_eq!(
                after(count, base, AttemptVerdict::Gone),
                GiveUp {
                    attempts_in_round: count + 1 - base
                }
            );
        }
    }

    #[test]
    fn a_success_is_final_whatever_came_before() {
        for count in [0, 3, 4, 99] {
            assert_eq!(
                after(count, 0, AttemptVerdict::Succeeded),
                AfterAttempt::Succeeded
            );
        }
    }

    #[test]
    fn failures_follow_the_published_schedule_then_give_up_on_the_fifth() {
        let minutes: Vec<AfterAttempt> = (0..4).map(|count| after(count, 0, FAIL)).collect();
        assert_eq!(
            minutes,
            [1, 4, 16, 64].map(|m| RetryAt(NOW + m * 60_000)).to_vec()
        );
        assert_eq!(
            after(4, 0, FAIL),
            GiveUp {
                attempts_in_round: 5
            }
        );
    }

    #[test]
    fn a_new_round_counts_from_its_start() {
        // 5 attempts failed, then a manual retry began a round at 5.
        assert_eq!(after(5, 5, FAIL), RetryAt(NOW + 60_000));
        assert_eq!(after(8, 5, FAIL), RetryAt(NOW + 64 * 60_000));
        assert_eq!(
            after(9, 5, FAIL),
            GiveUp {
                attempts_in_round: 5
            }
        );
    }

    #[test]
    fn retry_after_lengthens_within_the_cap_and_never_shortens() {
        let with = |secs: u64| {
            after(
                0,
                0,
                AttemptVerdict::Failed {
                    retry_after: Some(Duration::from_secs(secs)),
                },
            )
        };
        assert_eq!(with(0), RetryAt(NOW + 60_000));
        assert_eq!(with(30), RetryAt(NOW + 60_000));
        assert_eq!(with(120), RetryAt(NOW + 120_000));
        assert_eq!(with(u64::MAX), RetryAt(NOW + 240_000));
    }

    #[test]
    fn jitter_spreads_retries_by_twenty_percent() {
        let at = |unit| after_attempt(0, 0, FAIL, NOW, RULES, unit);
        assert_eq!(at(0.0), RetryAt(NOW + 48_000));
        assert_eq!(at(1.0), RetryAt(NOW + 72_000));
    }

    #[test]
    fn the_due_time_saturates_instead_of_overflowing() {
        let rules = RetryRules {
            base: Duration::MAX,
            max_attempts: 5,
        };
        assert_eq!(
            after_attempt(0, 0, FAIL, i64::MAX - 5, rules, 0.5),
            RetryAt(i64::MAX)
        );
    }

    #[test]
    fn a_single_attempt_rule_gives_up_at_once() {
        let rules = RetryRules {
            base: Duration::from_secs(1),
            max_attempts: 1,
        };
        assert_eq!(
            after_attempt(0, 0, FAIL, NOW, rules, 0.5),
            GiveUp {
                attempts_in_round: 1
            }
        );
    }

    #[test]
    fn settling_pauses_a_retry_of_a_disabled_webhook() {
        assert_eq!(settle(RetryAt(7), true), (Pending, Some(7)));
        assert_eq!(settle(RetryAt(7), false), (Paused, None));
        for enabled in [true, false] {
            assert_eq!(
                settle(AfterAttempt::Succeeded, enabled),
                (DeliveryStatus::Succeeded, None)
            );
            assert_eq!(
                settle(
                    GiveUp {
                        attempts_in_round: 5
                    },
                    enabled
                ),
                (Failed, None)
            );
        }
    }

    #[test]
    fn new_deliveries_are_due_now_or_paused() {
        assert_eq!(new_delivery(true, NOW), (Pending, Some(NOW)));
        assert_eq!(new_delivery(false, NOW), (Paused, None));
    }

    #[test]
    fn disabling_pauses_pending_and_enabling_resumes_paused_in_a_new_round() {
        let off = on_webhook_disabled();
        assert_eq!(
            (off.from, off.to, off.due_at, off.new_round),
            (Pending, Paused, None, false)
        );
        let on = on_webhook_enabled(NOW);
        assert_eq!(
            (on.from, on.to, on.due_at, on.new_round),
            (Paused, Pending, Some(NOW), true)
        );
    }

    #[test]
    fn only_a_failed_delivery_of_an_enabled_webhook_is_retried_by_hand() {
        for status in [Pending, DeliveryStatus::Succeeded, Paused] {
            for enabled in [true, false] {
                assert_eq!(
                    manual_retry(status, enabled, NOW),
                    Err(RetryRefused::NotFailed)
                );
            }
        }
        assert_eq!(
            manual_retry(Failed, false, NOW),
            Err(RetryRefused::WebhookDisabled)
        );
        let change = manual_retry(Failed, true, NOW).unwrap();
        assert_eq!(
            (change.from, change.to, change.due_at, change.new_round),
            (Failed, Pending, Some(NOW), true)
        );
    }

    #[test]
    fn status_names_round_trip() {
        for status in [Pending, DeliveryStatus::Succeeded, Failed, Paused] {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(DeliveryStatus::parse("done"), None);
    }
}
