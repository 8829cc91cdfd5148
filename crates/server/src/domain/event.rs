//! What a valid event emission is, and the envelope bytes it becomes.
//!
//! The envelope is serialised once, when the event is accepted; those bytes are stored and
//! sent (and signed) unchanged on every attempt.

use bytes::Bytes;
use cdhooks_core::event::{self as core_event, Event};
use cdhooks_core::timestamp::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::event_type::Catalog;
use super::filter::EventFilter;
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
    pub event_type: String,
    /// `data`, parsed (what a webhook's filter is matched against).
    pub data: Value,
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
    /// Checks a request for a real event against `catalog` (its type, and `data` against the
    /// type's schema) and builds the envelope, stamped with `now`. Ids of test events
    /// (`evt_test_…`) are not the sender's to choose.
    pub fn validate(
        request: EmitEventRequest,
        now: Timestamp,
        catalog: &Catalog,
    ) -> Result<Self, ValidationError> {
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
        Self::build(request, now, core_event::EVENT_ID_PREFIX, catalog)
    }

    /// Checks a test event's request and builds its envelope, with a fresh `evt_test_…` id.
    pub fn validate_test(
        mut request: EmitEventRequest,
        now: Timestamp,
        catalog: &Catalog,
    ) -> Result<Self, ValidationError> {
        request.id = None;
        Self::build(request, now, core_event::TEST_EVENT_ID_PREFIX, catalog)
    }

    fn build(
        request: EmitEventRequest,
        now: Timestamp,
        id_prefix: &str,
        catalog: &Catalog,
    ) -> Result<Self, ValidationError> {
        let event_type = catalog.known(&request.event_type)?;
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
        if !request.data.get().trim_start().starts_with('{') {
            return Err(
                ValidationError::new("invalid_data", "`data` must be a JSON object").field("data"),
            );
        }
        // Parsing also proves that every string decodes: kept as raw JSON, `data` could
        // otherwise carry escapes no parser can turn into text (a lone surrogate such as
        // `"\udc00"`), which `description` or `name` would refuse.
        let data: Value = serde_json::from_str(request.data.get()).map_err(|e| {
            ValidationError::new("invalid_json", format!("`data` is not valid JSON: {e}"))
                .field("data")
        })?;
        catalog.check_data(event_type, &data)?;
        let event_type = event_type.record.name.clone();
        let envelope = Event {
            id,
            event_type: event_type.clone(),
            created_at: now,
            data: request.data,
        };
        let body = serde_json::to_vec(&envelope)
            .map_err(|e| ValidationError::new("invalid_data", e.to_string()))?;
        Ok(NewEvent {
            id: envelope.id,
            event_type,
            data,
            created_at: now,
            body: Bytes::from(body),
            only_webhook: None,
        })
    }

    /// Whether the webhook `webhook_id`, subscribed to `patterns` with `filter`, gets a
    /// delivery of this event: the one the test event names (whatever its filter), or else
    /// every webhook subscribed to the type whose filter the event's `data` passes.
    pub fn reaches<'p>(
        &self,
        webhook_id: &str,
        patterns: impl IntoIterator<Item = &'p str>,
        filter: Option<&EventFilter>,
    ) -> bool {
        match &self.only_webhook {
            Some(only) => only == webhook_id,
            None => super::filter::receives(patterns, filter, &self.event_type, &self.data),
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
    /// The emission it stands for, sent to the webhook subscribed to `patterns` only: by
    /// default the first type of `catalog` they cover (or the catalog's first), with its example.
    pub fn into_emission(
        self,
        patterns: &[String],
        catalog: &Catalog,
    ) -> Result<EmitEventRequest, ValidationError> {
        let event_type = match self.event_type {
            Some(name) => name,
            None => catalog
                .covered(patterns)
                .next()
                .or_else(|| catalog.entries().first())
                .map_or_else(String::new, |entry| entry.record.name.clone()),
        };
        let data = match self.data {
            Some(data) => data,
            None => {
                let example = catalog
                    .get(&event_type)
                    .map_or("{}", |entry| entry.record.example.as_str());
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::event_type::tests::seeded;
    use cdhooks_core::catalog;

    fn event(only_webhook: Option<&str>) -> NewEvent {
        let request = EmitEventRequest {
            event_type: "billing.payment.failed".into(),
            data: RawValue::from_string(
                catalog::lookup("billing.payment.failed")
                    .unwrap()
                    .example_data
                    .into(),
            )
            .unwrap(),
            id: None,
        };
        let mut event =
            NewEvent::validate(request, Timestamp::from_unix(0).unwrap(), &seeded()).unwrap();
        event.only_webhook = only_webhook.map(str::to_owned);
        event
    }

    #[test]
    fn an_event_reaches_subscribers_and_a_test_event_only_its_webhook() {
        let everyone = event(None);
        assert!(everyone.reaches("wh_a", ["billing.*"], None));
        assert!(!everyone.reaches("wh_a", ["server.*"], None));
        let test = event(Some("wh_a"));
        assert!(test.reaches("wh_a", ["server.*"], None));
        assert!(!test.reaches("wh_b", ["*"], None));
    }

    #[test]
    fn a_filter_lets_through_only_the_events_it_matches() {
        let filter = |value: serde_json::Value| EventFilter::parse(&value).unwrap().unwrap();
        let everyone = event(None);
        let eur = filter(serde_json::json!({"data.currency": ["EUR", "USD"]}));
        let gbp = filter(serde_json::json!({"data.currency": "GBP"}));
        assert!(everyone.reaches("wh_a", ["billing.*"], Some(&eur)));
        assert!(!everyone.reaches("wh_a", ["billing.*"], Some(&gbp)));
        // A test event is for its webhook, whatever the filter.
        assert!(event(Some("wh_a")).reaches("wh_a", ["billing.*"], Some(&gbp)));
    }

    #[test]
    fn a_test_event_defaults_to_the_first_subscribed_type_and_its_example() {
        let emission = TestEventRequest::default()
            .into_emission(&["server.error".into(), "billing.*".into()], &seeded())
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
        .into_emission(&["billing.*".into()], &seeded())
        .unwrap();
        assert_eq!(chosen.event_type, "server.created");
    }
}
