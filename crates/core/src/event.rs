//! The event envelope every delivery carries, and the ids of cdhooks objects.
//!
//! A delivery body is `{"id","type","created_at","data"}` in exactly that key order (the docs'
//! example). The struct's field order fixes the key order under serde, so the bytes a sender
//! signs and stores are the same however they are produced.

use alloc::string::String;

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Id prefix of events (`evt_…`).
pub const EVENT_ID_PREFIX: &str = "evt_";
/// Id prefix of test events (`evt_test_…`): sent by a customer to its own webhook to try it,
/// never by the provider. The id is in the signed body (and in `webhook-id`), so a receiver
/// can tell a test from a real event under either signature scheme.
pub const TEST_EVENT_ID_PREFIX: &str = "evt_test_";
/// Id prefix of platform keys (the id names a key; it is not the key).
pub const PLATFORM_KEY_ID_PREFIX: &str = "pk_";
/// Id prefix of portal sessions.
pub const PORTAL_SESSION_ID_PREFIX: &str = "ps_";
/// Id prefix of webhooks (`wh_…`).
pub const WEBHOOK_ID_PREFIX: &str = "wh_";
/// Id prefix of deliveries (`dlv_…`).
pub const DELIVERY_ID_PREFIX: &str = "dlv_";
/// Prefix of API key ids (the id names a key; it is not the key).
pub const API_KEY_ID_PREFIX: &str = "key_";
/// Id prefix of accounts (`acct_…`).
pub const ACCOUNT_ID_PREFIX: &str = "acct_";
/// Id prefix of inboxes (`inb_…`).
pub const INBOX_ID_PREFIX: &str = "inb_";

/// The longest id a client may choose for an event.
pub const MAX_CLIENT_ID_LEN: usize = 64;

/// The envelope of one event, generic over its `data` (e.g. `serde_json::Value`, or a raw
/// JSON value that keeps the sender's bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event<D> {
    /// The event id, `evt_…` or chosen by the sender.
    pub id: String,
    /// The event type, one of the [catalog](crate::catalog).
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened, RFC 3339 UTC.
    pub created_at: Timestamp,
    /// The event's payload object.
    pub data: D,
}

/// Formats an id: `prefix` then the 16 random bytes as 32 lowercase hex digits.
///
/// The caller supplies the randomness (the core has no RNG).
pub fn format_id(prefix: &str, random: &[u8; 16]) -> String {
    let mut hex = [0u8; 32];
    let digits = base16ct::lower::encode_str(random, &mut hex).unwrap_or_default();
    let mut id = String::with_capacity(prefix.len() + digits.len());
    id.push_str(prefix);
    id.push_str(digits);
    id
}

/// Whether an event id marks a test event ([`TEST_EVENT_ID_PREFIX`]).
pub fn is_test_event_id(id: &str) -> bool {
    id.starts_with(TEST_EVENT_ID_PREFIX)
}

/// Whether a client-chosen event id is acceptable: 1 to 64 of `A-Z a-z 0-9 _ -`.
///
/// Ids travel in the `webhook-id` header and in URLs, so they are kept to a safe alphabet.
pub fn is_valid_client_id(id: &str) -> bool {
    (1..=MAX_CLIENT_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(
            format_id(EVENT_ID_PREFIX, &[0xab; 16]),
            "evt_abababababababababababababababab"
        );
        assert!(is_valid_client_id("evt_abc-123"));
        for bad in ["", "a b", "a.b", "é", &"x".repeat(65)] {
            assert!(!is_valid_client_id(bad), "{bad}");
        }
    }
}
