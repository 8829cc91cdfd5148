//! What an account may hold of the small, self-service objects — API keys and inboxes — and
//! how much an inbox keeps. Inboxes take requests from anyone who knows their token, so what
//! they keep is bounded per inbox, and captures may never take the room that events need.

/// The most API keys (not revoked) an account holds at once.
pub const MAX_API_KEYS: u32 = 100;

/// The most inboxes an account holds.
pub const MAX_INBOXES: u32 = 20;

/// What one inbox keeps of the requests it captured: the newest, up to both bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxKeep {
    /// The most requests kept.
    pub requests: i64,
    /// The most body bytes kept, over all kept requests (the newest is always kept).
    pub bytes: i64,
}

/// What every inbox keeps: its latest 100 requests, at most 1 MiB of bodies.
pub const INBOX_KEEP: InboxKeep = InboxKeep {
    requests: 100,
    bytes: 1024 * 1024,
};

/// The share of a capped database (`--max-database-mb`) that inbox captures may fill: past
/// it a capture is refused as storage full, so the rest stays for events and deliveries.
pub const CAPTURE_SHARE_PERCENT: u64 = 80;

/// Whether a capture may be stored when `used_bytes` of a database capped at `cap_bytes`
/// are in use (no cap: always).
pub fn may_capture(used_bytes: u64, cap_bytes: Option<u64>) -> bool {
    cap_bytes.is_none_or(|cap| {
        used_bytes.saturating_mul(100) < cap.saturating_mul(CAPTURE_SHARE_PERCENT)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_stop_short_of_the_cap() {
        assert!(may_capture(u64::MAX, None));
        assert!(may_capture(0, Some(100)));
        assert!(may_capture(79, Some(100)));
        assert!(!may_capture(80, Some(100)));
        assert!(!may_capture(100, Some(100)));
        assert!(!may_capture(u64::MAX, Some(u64::MAX)));
    }
}
