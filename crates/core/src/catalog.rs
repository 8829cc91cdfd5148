//! The catalog of event types a hosting provider emits, as the docs list them.
//!
//! The catalog is the one source of truth for which `type` values exist: the server refuses
//! events and subscriptions naming anything else, `GET /v1/event-types` serves it, and the
//! browser tool fills its example payloads from it.

/// One event type: its name, the docs' description, and an example `data` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeInfo {
    /// The `type` value, e.g. `server.started`.
    pub name: &'static str,
    /// The docs' one-line description, e.g. `Server powered on`.
    pub description: &'static str,
    /// An example `data` object as JSON, in the style of the docs' example event.
    pub example_data: &'static str,
}

/// Every event type, in the docs' order.
pub const CATALOG: [EventTypeInfo; 9] = [
    EventTypeInfo {
        name: "server.created",
        description: "New server provisioned",
        example_data: r#"{"server_id":"srv_abc123","name":"production-web-01","status":"provisioning","region":"fra1","plan":"cx21"}"#,
    },
    EventTypeInfo {
        name: "server.started",
        description: "Server powered on",
        example_data: r#"{"server_id":"srv_abc123","name":"production-web-01","status":"running","ip":"192.168.1.100"}"#,
    },
    EventTypeInfo {
        name: "server.stopped",
        description: "Server powered off",
        example_data: r#"{"server_id":"srv_abc123","name":"production-web-01","status":"stopped"}"#,
    },
    EventTypeInfo {
        name: "server.rebooted",
        description: "Server rebooted",
        example_data: r#"{"server_id":"srv_abc123","name":"production-web-01","status":"running"}"#,
    },
    EventTypeInfo {
        name: "server.error",
        description: "Server encountered an error",
        example_data: r#"{"server_id":"srv_abc123","name":"production-web-01","status":"error","error":"disk_full","message":"Root volume is 100% full"}"#,
    },
    EventTypeInfo {
        name: "server.backup.completed",
        description: "Backup finished",
        example_data: r#"{"server_id":"srv_abc123","backup_id":"bak_abc123","size_bytes":2147483648}"#,
    },
    EventTypeInfo {
        name: "billing.payment.succeeded",
        description: "Payment processed",
        example_data: r#"{"payment_id":"pay_abc123","amount":1999,"currency":"EUR","invoice_id":"inv_abc123"}"#,
    },
    EventTypeInfo {
        name: "billing.payment.failed",
        description: "Payment failed",
        example_data: r#"{"payment_id":"pay_abc123","amount":1999,"currency":"EUR","reason":"card_declined"}"#,
    },
    EventTypeInfo {
        name: "billing.subscription.cancelled",
        description: "Subscription cancelled",
        example_data: r#"{"subscription_id":"sub_abc123","plan":"cx21","cancelled_at":"2025-01-15T10:30:00Z"}"#,
    },
];

/// Looks an event type up by its exact name.
pub fn lookup(name: &str) -> Option<&'static EventTypeInfo> {
    CATALOG.iter().find(|info| info.name == name)
}

/// Whether `name` is a syntactically valid event type name: `^[a-z0-9_]+(\.[a-z0-9_]+)*$`.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_valid_and_found() {
        for (i, info) in CATALOG.iter().enumerate() {
            assert!(is_valid_name(info.name), "{}", info.name);
            assert_eq!(lookup(info.name), Some(&CATALOG[i]));
        }
        assert_eq!(lookup("server.foo"), None);
    }

    #[test]
    fn name_syntax() {
        for ok in ["a", "server.backup.completed", "a_1.b2"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "A", "a-b", "a.*", "*", "a b", "é",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
