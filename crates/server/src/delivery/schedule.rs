//! Turns an attempt's result into the [`AttemptOutcome`] the store applies: the record of the
//! attempt, and what `domain::delivery` decides follows it (with the disabling email when the
//! delivery gives up).

use super::send::{AttemptResult, KEPT_RESPONSE_BYTES};
use crate::domain::delivery::{after_attempt, AfterAttempt, AttemptVerdict, RetryRules};
use crate::domain::email::{webhook_disabled, DisabledWebhook};
use crate::store::{AttemptOutcome, AttemptRecord, ClaimedDelivery, Disabling};

/// Builds the outcome of `result`, the attempt numbered `attempt_count + 1`, which ended at
/// `finished_ms` on the application's clock (what follows it is timed from there; its
/// duration, measured by a monotonic clock, is only recorded). `jitter_unit` is a uniform
/// number in `[0, 1)` for the retry jitter.
pub fn outcome(
    delivery: &ClaimedDelivery,
    result: AttemptResult,
    finished_ms: i64,
    rules: RetryRules,
    jitter_unit: f64,
) -> AttemptOutcome {
    let number = delivery.attempt_count + 1;
    let retry_after = result.retry_after;
    let verdict = match (&result.error, result.status) {
        (None, _) => AttemptVerdict::Succeeded,
        (Some(_), Some(410)) => AttemptVerdict::Gone,
        (Some(_), _) => AttemptVerdict::Failed {
            retry_after: result.retry_after,
        },
    };
    let gone = verdict == AttemptVerdict::Gone;
    let next = after_attempt(
        delivery.attempt_count,
        delivery.round_base,
        verdict,
        finished_ms,
        rules,
        jitter_unit,
    );
    let (error_kind, error_message) = match result.error {
        Some((kind, message)) => (Some(kind.to_owned()), Some(message)),
        None => (None, None),
    };
    let disabling = match next {
        AfterAttempt::GiveUp { attempts_in_round } => {
            let last_error = error_message.as_deref().unwrap_or("");
            Some(Disabling {
                at_ms: finished_ms,
                reason: if gone {
                    "the endpoint answered 410 Gone: it asks to be sent nothing more".to_owned()
                } else {
                    format!(
                        "{attempts_in_round} consecutive failed attempts; last error: {last_error}"
                    )
                },
                email: webhook_disabled(&DisabledWebhook {
                    recipient: &delivery.account_email,
                    webhook_id: &delivery.webhook_id,
                    delivery_id: &delivery.id,
                    url: &delivery.url,
                    event_type: &delivery.event_type,
                    attempts: attempts_in_round,
                    last_error,
                    gone,
                }),
            })
        }
        _ => None,
    };
    AttemptOutcome {
        hold_until: crate::domain::health::hold_until(next, retry_after),
        failure_streak_seen: delivery.failure_streak,
        delivery_seq: delivery.seq,
        webhook_seq: delivery.webhook_seq,
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
            url: Some(delivery.url.clone()),
        },
        next,
        disabling,
    }
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    (0..=max.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}
