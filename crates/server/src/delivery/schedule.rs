//! What follows an attempt: success, a retry at a time, or giving up (which disables the
//! webhook and queues the owner's email). The decision itself is in `domain::retry`; this
//! module turns it into the [`AttemptOutcome`] the store applies.

use std::time::Duration;

use super::send::{AttemptResult, KEPT_RESPONSE_BYTES};
use crate::domain::email::{webhook_disabled, DisabledWebhook};
use crate::domain::retry;
use crate::store::{AttemptOutcome, AttemptRecord, ClaimedDelivery, NextStep};

/// The rules the schedule follows.
#[derive(Debug, Clone, Copy)]
pub struct RetryRules {
    /// Delay after the first failure.
    pub base: Duration,
    /// Failed attempts in a round after which the delivery fails.
    pub max_attempts: u32,
}

/// Builds the outcome of `result`, the attempt numbered `attempt_count + 1`.
/// `unit_random` is a uniform number in `[0, 1)` for the jitter.
pub fn outcome(
    delivery: &ClaimedDelivery,
    result: AttemptResult,
    rules: RetryRules,
    unit_random: f64,
) -> AttemptOutcome {
    let number = delivery.attempt_count + 1;
    let finished_ms = result.started_at_ms + result.duration.as_millis() as i64;
    let next = match &result.error {
        None => NextStep::Succeeded,
        Some((_, message)) => {
            let in_round = number.saturating_sub(delivery.round_base);
            if retry::is_final(in_round, rules.max_attempts) {
                let email = webhook_disabled(&DisabledWebhook {
                    recipient: &delivery.account_email,
                    webhook_id: &delivery.webhook_id,
                    url: &delivery.url,
                    event_type: &delivery.event_type,
                    attempts: in_round,
                    last_error: message,
                });
                NextStep::GiveUp {
                    webhook_seq: delivery.webhook_seq,
                    reason: format!(
                        "{in_round} consecutive failed attempts; last error: {message}"
                    ),
                    email,
                }
            } else {
                let scheduled =
                    retry::with_jitter(retry::scheduled_delay(rules.base, in_round), unit_random);
                let delay = retry::honour_retry_after(scheduled, result.retry_after);
                NextStep::RetryAt(
                    finished_ms.saturating_add(delay.as_millis().min(i64::MAX as u128) as i64),
                )
            }
        }
    };
    let (error_kind, error_message) = match result.error {
        Some((kind, message)) => (Some(kind.to_owned()), Some(message)),
        None => (None, None),
    };
    AttemptOutcome {
        delivery_seq: delivery.seq,
        claim_token: delivery.claim_token,
        attempt: AttemptRecord {
            number,
            started_at: result.started_at_ms,
            duration_ms: result.duration.as_millis() as i64,
            status_code: result.status,
            error_kind,
            error_message,
            response_body: result.response_body.map(|mut body| {
                body.truncate(floor_char_boundary(&body, KEPT_RESPONSE_BYTES));
                body
            }),
        },
        next,
    }
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}
