//! A webhook as fan-out reads it, shared by both stores' event writers: each reads the same
//! columns of `webhooks` (its own SQL around them) and builds the same value from the row.

use super::PreviousSecret;
use crate::domain::filter::EventFilter;
use crate::domain::health::Health;
use crate::domain::webhook::WebhookSecret;

/// A webhook of an account, as fan-out needs it.
pub(crate) struct Subscriber {
    /// The webhook's key.
    pub seq: i64,
    /// `wh_…`.
    pub id: String,
    /// Where its deliveries go.
    pub url: String,
    /// Its signing secret, as stored.
    pub secret: WebhookSecret,
    /// Secrets still in their grace period.
    pub previous_secrets: Vec<PreviousSecret>,
    /// The event types it subscribes to (patterns).
    pub patterns: Vec<String>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its circuit and hold (`domain::health`).
    pub health: Health,
    /// Conditions on `data` (`domain::filter`).
    pub filter: Option<EventFilter>,
}

/// Builds a [`Subscriber`] from a row holding the webhook's `seq`, `id`, `url`, `secret`,
/// `previous_secrets`, `events` and `filter` columns, with `health` read by the store (whose
/// column types differ). A macro, since the rows of the two stores are different types.
macro_rules! subscriber_from_row {
    ($row:expr, $health:expr) => {{
        let row = $row;
        $crate::store::subscriber::Subscriber {
            seq: row.get("seq"),
            id: row.get("id"),
            url: row.get("url"),
            secret: $crate::domain::webhook::WebhookSecret::from_stored(row.get("secret")),
            previous_secrets: $crate::store::PreviousSecret::list_from_stored(
                row.get("previous_secrets"),
            ),
            patterns: serde_json::from_str(row.get("events")).unwrap_or_default(),
            enabled: row.get("enabled"),
            health: $health,
            filter: $crate::domain::filter::EventFilter::from_stored(
                row.get::<Option<String>, _>("filter").as_deref(),
            ),
        }
    }};
}
pub(crate) use subscriber_from_row;
