//! What a valid event emission is, and the envelope bytes it becomes.
//!
//! The envelope is serialised once, when the event is accepted; those bytes are stored and
//! sent (and signed) unchanged on every attempt.

use bytes::Bytes;
use cdhooks_core::catalog;
use cdhooks_core::event::{self as core_event, Event};
use cdhooks_core::timestamp::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ValidationError;

/// The body of `POST /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitEventRequest {
    /// The event type, from the catalog.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload object, kept as the sender's JSON.
    pub data: Box<RawValue>,
    /// An id chosen by the sender, for idempotency; generated when absent.
    pub id: Option<String>,
}

/// A checked event, ready to be stored.
#[derive(Debug)]
pub struct NewEvent {
    /// `evt_…` or the sender's id.
    pub id: String,
    /// The catalogued type.
    pub event_type: &'static str,
    /// When it was accepted.
    pub created_at: Timestamp,
    /// The envelope bytes every attempt sends (shared, not copied, by the answer to the
    /// request and the deliveries claimed with it).
    pub body: Bytes,
}

impl NewEvent {
    /// Checks a request and builds the envelope, stamped with `now`.
    pub fn validate(request: EmitEventRequest, now: Timestamp) -> Result<Self, ValidationError> {
        let event_type = match catalog::lookup(&request.event_type) {
            Some(info) => info.name,
            None => {
                return Err(ValidationError::new(
                    "unknown_event_type",
                    format!(
                        "unknown event type `{}`; GET /v1/event-types lists them",
                        request.event_type
                    ),
                )
                .field("type"))
            }
        };
        if !request.data.get().trim_start().starts_with('{') {
            return Err(
                ValidationError::new("invalid_data", "`data` must be a JSON object").field("data"),
            );
        }
        let id = match request.id {
            Some(id) if core_event::is_valid_client_id(&id) => id,
            Some(_) => {
                return Err(ValidationError::new(
                    "invalid_event_id",
                    "`id` must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
                )
                .field("id"))
            }
            None => super::new_id(core_event::EVENT_ID_PREFIX),
        };
        let envelope = Event {
            id,
            event_type: event_type.to_owned(),
            created_at: now,
            data: request.data,
        };
        let body = serde_json::to_vec(&envelope)
            .map_err(|e| ValidationError::new("invalid_data", e.to_string()))?;
        Ok(NewEvent {
            id: envelope.id,
            event_type,
            created_at: now,
            body: Bytes::from(body),
        })
    }
}
