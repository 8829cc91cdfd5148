//! The email an account owner gets when a webhook is disabled.

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
    /// The webhook's URL.
    pub url: &'a str,
    /// The type of the event whose delivery failed last.
    pub event_type: &'a str,
    /// How many attempts failed.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: &'a str,
}

/// Composes the email sent when a webhook is disabled after repeated failures.
pub fn webhook_disabled(d: &DisabledWebhook<'_>) -> Email {
    Email {
        recipient: d.recipient.to_owned(),
        subject: format!(
            "Webhook {} disabled after {} failed attempts",
            d.webhook_id, d.attempts
        ),
        // Short lines (at most 76 characters but for the URL) keep the email 7-bit clean.
        body: format!(
            "Your webhook {id} has been disabled.\n\
             URL: {url}\n\
             \n\
             A delivery of a {event_type} event failed {attempts} times in a row.\n\
             Last error: {last_error}\n\
             \n\
             Deliveries to this webhook are paused, not lost. Once the endpoint\n\
             works again, re-enable the webhook and they resume:\n\
             \n\
             PATCH /v1/webhooks/{id}\n\
             {{\"enabled\":true}}\n\
             \n\
             The failed delivery itself can be sent again with\n\
             POST /v1/deliveries/<delivery id>/retry.\n",
            id = d.webhook_id,
            url = d.url,
            event_type = d.event_type,
            attempts = d.attempts,
            last_error = d.last_error,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_everything_the_owner_needs() {
        let email = webhook_disabled(&DisabledWebhook {
            recipient: "ops@example.com",
            webhook_id: "wh_1",
            url: "https://yourapp.com/hook",
            event_type: "server.error",
            attempts: 5,
            last_error: "HTTP 500",
        });
        assert!(email.subject.contains("wh_1"));
        for needle in [
            "wh_1",
            "https://yourapp.com/hook",
            "server.error",
            "HTTP 500",
            "re-enable",
            "\"enabled\":true",
        ] {
            assert!(email.body.contains(needle), "{needle}");
        }
    }
}
