//! What a valid event emission is, and the envelope bytes it becomes.
//!
//! The envelope is serialised once, when the event is accepted; those bytes are stored and
//! sent (and signed) unchanged on every attempt.

use bytes::Bytes;
use cdhooks_core::event::{self as core_event, Event};
use cdhooks_core::timestamp::Timestamp;
use cdhooks_core::{catalog, pattern};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ValidationError;

/// The body of `POST /v1/events`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmitEventRequest {
    /// The event type, from the catalog.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload object, kept as the sender's JSON.
    #[schema(value_type = Object)]
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
    /// A test event for one webhook (its id): delivered to it alone, whatever it subscribes
    /// to. `None`: every subscribed webhook of the account.
    pub only_webhook: Option<String>,
}

impl NewEvent {
    /// Checks a request for a real event and builds the envelope, stamped with `now`. Ids
    /// of test events (`evt_test_…`) are not the sender's to choose.
    pub fn validate(request: EmitEventRequest, now: Timestamp) -> Result<Self, ValidationError> {
        if request.id.as_deref() == Some("batch") {
            return Err(ValidationError::new(
                "invalid_event_id",
                "`batch` names the route /v1/events/batch; choose another id",
            )
            .field("id"));
        }
        if request
            .id
            .as_deref()
            .is_some_and(core_event::is_test_event_id)
        {
            return Err(ValidationError::new(
                "invalid_event_id",
                format!(
                    "ids starting with `{}` mark test events; choose another id",
                    core_event::TEST_EVENT_ID_PREFIX
                ),
            )
            .field("id"));
        }
        Self::build(request, now, core_event::EVENT_ID_PREFIX)
    }

    /// Checks a test event's request and builds its envelope, with a fresh `evt_test_…` id.
    pub fn validate_test(
        mut request: EmitEventRequest,
        now: Timestamp,
    ) -> Result<Self, ValidationError> {
        request.id = None;
        Self::build(request, now, core_event::TEST_EVENT_ID_PREFIX)
    }

    fn build(
        request: EmitEventRequest,
        now: Timestamp,
        id_prefix: &str,
    ) -> Result<Self, ValidationError> {
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
        check_strings(&request.data).map_err(|e| {
            ValidationError::new("invalid_json", format!("`data` is not valid JSON: {e}"))
                .field("data")
        })?;
        let id = match request.id {
            Some(id) if core_event::is_valid_client_id(&id) => id,
            Some(_) => {
                return Err(ValidationError::new(
                    "invalid_event_id",
                    "`id` must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
                )
                .field("id"))
            }
            None => super::new_id(id_prefix),
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
            only_webhook: None,
        })
    }

    /// Whether the webhook `webhook_id`, subscribed to `patterns`, gets a delivery of this
    /// event: the one the test event names, or else every webhook subscribed to the type.
    pub fn reaches<'p>(
        &self,
        webhook_id: &str,
        patterns: impl IntoIterator<Item = &'p str>,
    ) -> bool {
        match &self.only_webhook {
            Some(only) => only == webhook_id,
            None => pattern::any_matches(patterns, self.event_type),
        }
    }
}

/// The body of `POST /v1/webhooks/{id}/test`: both fields optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestEventRequest {
    /// The event type; by default the first catalogued type the webhook subscribes to.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// The payload; by default the type's example from the catalog.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Box<RawValue>>,
}

impl TestEventRequest {
    /// The emission it stands for, sent to the webhook subscribed to `patterns` only.
    pub fn into_emission<'p>(
        self,
        patterns: impl IntoIterator<Item = &'p str> + Clone,
    ) -> Result<EmitEventRequest, ValidationError> {
        let event_type = match self.event_type {
            Some(name) => name,
            None => catalog::CATALOG
                .iter()
                .find(|t| pattern::any_matches(patterns.clone(), t.name))
                .unwrap_or(&catalog::CATALOG[0])
                .name
                .to_owned(),
        };
        let data = match self.data {
            Some(data) => data,
            None => {
                let example = catalog::lookup(&event_type).map_or("{}", |t| t.example_data);
                RawValue::from_string(example.to_owned())
                    .map_err(|e| ValidationError::new("invalid_data", e.to_string()))?
            }
        };
        Ok(EmitEventRequest {
            event_type,
            data,
            id: None,
        })
    }
}

/// Checks every string and key of `raw` the way a string field of a request is checked: kept
/// as raw JSON, `data` would otherwise carry escapes no parser can turn into text (a lone
/// surrogate such as `"\udc00"`), which `description` or `name` would refuse.
fn check_strings(raw: &RawValue) -> Result<(), serde_json::Error> {
    serde_json::from_str::<TextOnly>(raw.get()).map(|_| ())
}

/// A JSON value read only to prove that its strings decode; nothing of it is kept.
struct TextOnly;

impl<'de> serde::Deserialize<'de> for TextOnly {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextOnlyVisitor)
    }
}

struct TextOnlyVisitor;

impl<'de> serde::de::Visitor<'de> for TextOnlyVisitor {
    type Value = TextOnly;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    fn visit_i64<E>(self, _: i64) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    fn visit_u64<E>(self, _: u64) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    fn visit_f64<E>(self, _: f64) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    // serde_json decodes a string's escapes (and refuses lone surrogates) before this.
    fn visit_str<E>(self, _: &str) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    fn visit_unit<E>(self) -> Result<TextOnly, E> {
        Ok(TextOnly)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<TextOnly, A::Error> {
        while seq.next_element::<TextOnly>()?.is_some() {}
        Ok(TextOnly)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TextOnly, A::Error> {
        while map.next_entry::<TextOnly, TextOnly>()?.is_some() {}
        Ok(TextOnly)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(only_webhook: Option<&str>) -> NewEvent {
        let request = EmitEventRequest {
            event_type: "billing.payment.failed".into(),
            data: RawValue::from_string("{}".into()).unwrap(),
            id: None,
        };
        let mut event = NewEvent::validate(request, Timestamp::from_unix(0).unwrap()).unwrap();
        event.only_webhook = only_webhook.map(str::to_owned);
        event
    }

    #[test]
    fn an_event_reaches_subscribers_and_a_test_event_only_its_webhook() {
        let everyone = event(None);
        assert!(everyone.reaches("wh_a", ["billing.*"]));
        assert!(!everyone.reaches("wh_a", ["server.*"]));
        let test = event(Some("wh_a"));
        assert!(test.reaches("wh_a", ["server.*"]));
        assert!(!test.reaches("wh_b", ["*"]));
    }

    #[test]
    fn a_test_event_defaults_to_the_first_subscribed_type_and_its_example() {
        let emission = TestEventRequest::default()
            .into_emission(["server.error", "billing.*"])
            .unwrap();
        assert_eq!(emission.event_type, "server.error");
        assert_eq!(
            emission.data.get(),
            catalog::lookup("server.error").unwrap().example_data
        );
        let chosen = TestEventRequest {
            event_type: Some("server.created".into()),
            data: None,
        }
        .into_emission(["billing.*"])
        .unwrap();
        assert_eq!(chosen.event_type, "server.created");
    }
}
