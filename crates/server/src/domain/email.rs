//! The email an account owner gets when a webhook is disabled, and how the outbox retries
//! sending it.
//!
//! - [`webhook_disabled`] composes the email; it names the failed delivery, so the retry
//!   instruction in it can be pasted as it is.
//! - [`after_send_failure`]: a failed send is tried again after 30 s, 1, 2, 4 … minutes; after
//!   [`MAX_EMAIL_TRIES`] tries the email is dead-lettered, so a few undeliverable emails never
//!   hold up the rest of the outbox.

/// An email ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The account's address.
    pub recipient: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// What the disabling email needs to say.
#[derive(Debug, Clone)]
pub struct DisabledWebhook<'a> {
    /// The account's address.
    pub recipient: &'a str,
    /// The webhook's id.
    pub webhook_id: &'a str,
    /// The delivery whose final attempt failed.
    pub delivery_id: &'a str,
    /// The webhook's URL.
    pub url: &'a str,
    /// The type of the event whose delivery failed last.
    pub event_type: &'a str,
    /// How many attempts failed.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: &'a str,
    /// The endpoint answered `410 Gone` (disabled at once, not after repeated failures).
    pub gone: bool,
}

/// Composes the email sent when a webhook is disabled after repeated failures, or at once
/// because its endpoint answered `410 Gone`.
pub fn webhook_disabled(d: &DisabledWebhook<'_>) -> Email {
    let (subject, what) = if d.gone {
        (
            format!(
                "Webhook {} disabled: its endpoint answered 410 Gone",
                d.webhook_id
            ),
            format!(
                "The endpoint answered a {} event with 410 Gone, which asks\n\
                 to be sent nothing more.",
                d.event_type
            ),
        )
    } else {
        (
            format!(
                "Webhook {} disabled after {} failed attempts",
                d.webhook_id, d.attempts
            ),
            format!(
                "A delivery of a {} event failed {} times in a row.",
                d.event_type, d.attempts
            ),
        )
    };
    Email {
        recipient: d.recipient.to_owned(),
        subject,
        // Short lines (at most 76 characters but for the URL) keep the email 7-bit clean.
        body: format!(
            "Your webhook {id} has been disabled.\n\
             URL: {url}\n\
             \n\
             {what}\n\
             Last error: {last_error}\n\
             \n\
             Deliveries to this webhook are paused, not lost. Once the endpoint\n\
             works again, re-enable the webhook and they resume:\n\
             \n\
             PATCH /v1/webhooks/{id}\n\
             {{\"enabled\":true}}\n\
             \n\
             The failed delivery itself can be sent again with\n\
             POST /v1/deliveries/{delivery_id}/retry\n",
            id = d.webhook_id,
            delivery_id = d.delivery_id,
            url = d.url,
            last_error = d.last_error,
        ),
    }
}

/// Sending tries after which an email is dead-lettered.
pub const MAX_EMAIL_TRIES: u32 = 8;
/// The delay after the first failed try; it doubles with each further one.
pub const EMAIL_RETRY_BASE_MS: i64 = 30_000;

/// What follows a failed sending try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailNext {
    /// Try again at this Unix ms.
    RetryAt(i64),
    /// Give up: keep the email, dead-lettered, for an operator to look at.
    Dead,
}

/// Decides what follows the `failed_tries`-th failed try (1-based), at `now_ms`.
pub fn after_send_failure(failed_tries: u32, now_ms: i64) -> EmailNext {
    if failed_tries >= MAX_EMAIL_TRIES {
        return EmailNext::Dead;
    }
    let factor = 1i64 << failed_tries.saturating_sub(1).min(20);
    EmailNext::RetryAt(now_ms.saturating_add(EMAIL_RETRY_BASE_MS.saturating_mul(factor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_sends_back_off_then_dead_letter() {
        let delays: Vec<EmailNext> = (1..MAX_EMAIL_TRIES)
            .map(|n| after_send_failure(n, 0))
            .collect();
        let expected: Vec<EmailNext> = [30, 60, 120, 240, 480, 960, 1920]
            .iter()
            .map(|s| EmailNext::RetryAt(s * 1000))
            .collect();
        assert_eq!(delays, expected);
        assert_eq!(after_send_failure(MAX_EMAIL_TRIES, 0), EmailNext::Dead);
        assert_eq!(after_send_failure(u32::MAX, 0), EmailNext::Dead);
        assert_eq!(after_send_failure(0, 5), EmailNext::RetryAt(30_005));
        assert_eq!(
            after_send_failure(1, i64::MAX),
            EmailNext::RetryAt(i64::MAX)
        );
    }

    /// The email for webhook `wh_1`, disabled after `attempts` (the last `last_error`).
    fn disabled(attempts: u32, last_error: &str, gone: bool) -> Email {
        webhook_disabled(&DisabledWebhook {
            recipient: "ops@example.com",
            webhook_id: "wh_1",
            delivery_id: "dlv_9",
            url: "https://yourapp.com/hook",
            event_type: "server.error",
            attempts,
            last_error,
            gone,
        })
    }

    #[test]
    fn names_everything_the_owner_needs() {
        let email = disabled(5, "HTTP 500", false);
        assert!(email.subject.contains("wh_1"));
        assert!(email.body.contains("failed 5 times in a row"));
        for needle in [
            "wh_1",
            "https://yourapp.com/hook",
            "server.error",
            "HTTP 500",
            "re-enable",
            "\"enabled\":true",
            "POST /v1/deliveries/dlv_9/retry",
        ] {
            assert!(email.body.contains(needle), "{needle}");
        }
    }

    #[test]
    fn a_gone_endpoint_is_named_as_such() {
        let email = disabled(1, "HTTP 410", true);
        assert!(email.subject.contains("410 Gone"), "{}", email.subject);
        assert!(email.body.contains("410 Gone"));
        assert!(!email.body.contains("times in a row"));
        assert!(email
            .body
            .lines()
            .all(|l| l.len() <= 76 || l.starts_with("URL:")));
    }
}
