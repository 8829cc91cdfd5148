//! Filters on what a webhook receives, besides its event patterns: conditions on `data`
//! fields, all of which must hold for an event to create a delivery.
//!
//! The language is small on purpose: `{"data.server_id": ["srv_1", "srv_2"],
//! "data.labels.env": "production"}` — each key a field of `data` (dot-separated names; a
//! field whose own name has a dot cannot be named), each value a string or number the field
//! must equal, or a list of them the field must be one of. A field that is missing, or is not
//! a string or number, holds no condition. At registration every field must be one that the
//! schema of some subscribed type describes (through `properties`), so a typo is an error
//! instead of a webhook that silently never fires.

use serde_json::{Map, Number, Value};

use super::event_type::CatalogEntry;
use super::ValidationError;

/// The most conditions a filter has.
pub const MAX_CONDITIONS: usize = 10;
/// The most values one condition accepts.
pub const MAX_VALUES: usize = 100;
/// The longest string value.
pub const MAX_VALUE_LEN: usize = 200;
/// The deepest field (`data.a.b.c…`).
pub const MAX_DEPTH: usize = 8;

/// A checked filter: conditions in the order given.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFilter {
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    /// As written: `data.labels.env`.
    field: String,
    /// The value, or the values, the field may have.
    accepted: Vec<Scalar>,
    /// Written as a list (kept so that the filter reads back as it was written).
    listed: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Text(String),
    Number(Number),
}

impl Scalar {
    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Scalar::Text(want), Value::String(have)) => want == have,
            (Scalar::Number(want), Value::Number(have)) => match (want.as_i64(), have.as_i64()) {
                (Some(want), Some(have)) => want == have,
                _ => want.as_f64() == have.as_f64(),
            },
            _ => false,
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Scalar::Text(text) => Value::String(text.clone()),
            Scalar::Number(number) => Value::Number(number.clone()),
        }
    }
}

/// How one condition fared against an event's `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionCheck {
    /// The field, as written.
    pub field: String,
    /// What the filter accepts there.
    pub accepted: Value,
    /// What the event has there (`None`: nothing).
    pub found: Option<Value>,
    /// Whether the condition holds.
    pub holds: bool,
}

fn invalid(message: impl Into<String>) -> ValidationError {
    ValidationError::new("invalid_filter", message).field("filter")
}

impl EventFilter {
    /// Reads a filter as a request writes it; `Ok(None)` for `{}` (no conditions).
    pub fn parse(value: &Value) -> Result<Option<Self>, ValidationError> {
        let Value::Object(fields) = value else {
            return Err(invalid(
                "`filter` must be an object of `data.<field>` keys, e.g. {\"data.server_id\": [\"srv_1\"]}",
            ));
        };
        if fields.len() > MAX_CONDITIONS {
            return Err(invalid(format!("at most {MAX_CONDITIONS} conditions")));
        }
        let mut conditions = Vec::with_capacity(fields.len());
        for (field, accepted) in fields {
            let path = Self::path_of(field).ok_or_else(|| {
                invalid(format!(
                    "`{field}` is not a field of `data`: write `data.` and the field's name, dot-separated for nested fields (at most {MAX_DEPTH} deep)"
                ))
            })?;
            debug_assert!(!path.is_empty());
            let (values, listed) = match accepted {
                Value::Array(values) => (values.as_slice(), true),
                single => (std::slice::from_ref(single), false),
            };
            if values.is_empty() || values.len() > MAX_VALUES {
                return Err(invalid(format!(
                    "`{field}` must accept 1 to {MAX_VALUES} values"
                )));
            }
            let accepted = values
                .iter()
                .map(|value| match value {
                    Value::String(text) if text.chars().count() <= MAX_VALUE_LEN => {
                        Ok(Scalar::Text(text.clone()))
                    }
                    Value::Number(number) => Ok(Scalar::Number(number.clone())),
                    _ => Err(invalid(format!(
                        "`{field}` may only be compared with strings (up to {MAX_VALUE_LEN} characters) and numbers"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            conditions.push(Condition {
                field: field.clone(),
                accepted,
                listed,
            });
        }
        Ok((!conditions.is_empty()).then_some(EventFilter { conditions }))
    }

    /// Reads a filter as the store keeps it (written by [`EventFilter::to_json`]; `None`, a
    /// NULL column: no filter).
    pub fn from_stored(text: Option<&str>) -> Option<Self> {
        let value: Value = serde_json::from_str(text?).ok()?;
        Self::parse(&value).ok().flatten()
    }

    /// The filter as written: `{"data.field": value or [values]}`.
    pub fn to_json(&self) -> Value {
        let fields: Map<String, Value> = self
            .conditions
            .iter()
            .map(|c| {
                let accepted = if c.listed {
                    Value::Array(c.accepted.iter().map(Scalar::to_json).collect())
                } else {
                    c.accepted[0].to_json()
                };
                (c.field.clone(), accepted)
            })
            .collect();
        Value::Object(fields)
    }

    /// The segments after `data.`, if `field` names a field of `data`.
    fn path_of(field: &str) -> Option<Vec<&str>> {
        let path: Vec<&str> = field.strip_prefix("data.")?.split('.').collect();
        let well_formed = path.len() <= MAX_DEPTH
            && path
                .iter()
                .all(|s| !s.is_empty() && s.chars().all(|c| !c.is_control()));
        well_formed.then_some(path)
    }

    fn found<'d>(condition: &Condition, data: &'d Value) -> Option<&'d Value> {
        let path = Self::path_of(&condition.field)?;
        path.iter()
            .try_fold(data, |value, segment| value.get(segment))
    }

    /// Whether an event with this `data` passes: every condition holds.
    pub fn matches(&self, data: &Value) -> bool {
        self.conditions.iter().all(|c| {
            Self::found(c, data).is_some_and(|value| c.accepted.iter().any(|a| a.equals(value)))
        })
    }

    /// Each condition against `data`, for people asking why an event was (not) received.
    pub fn explain(&self, data: &Value) -> Vec<ConditionCheck> {
        self.conditions
            .iter()
            .map(|c| {
                let found = Self::found(c, data);
                ConditionCheck {
                    field: c.field.clone(),
                    accepted: Value::Array(c.accepted.iter().map(Scalar::to_json).collect()),
                    found: found.cloned(),
                    holds: found.is_some_and(|value| c.accepted.iter().any(|a| a.equals(value))),
                }
            })
            .collect()
    }

    /// Checks that the schema of at least one of `subscribed` (the types a webhook's patterns
    /// cover) describes each field: `422 unknown_filter_field` otherwise.
    pub fn check_fields<'c>(
        &self,
        subscribed: impl Iterator<Item = &'c CatalogEntry> + Clone,
    ) -> Result<(), ValidationError> {
        for condition in &self.conditions {
            let path = Self::path_of(&condition.field).unwrap_or_default();
            let described = subscribed
                .clone()
                .any(|entry| schema_describes(&entry.schema, &path));
            if !described {
                return Err(ValidationError::new(
                    "unknown_filter_field",
                    format!(
                        "no event type this webhook subscribes to has the field `{}` in its schema (GET /v1/event-types lists them)",
                        condition.field
                    ),
                )
                .field("filter"));
            }
        }
        Ok(())
    }
}

/// Whether a webhook subscribed to `patterns` with `filter` receives an event of
/// `event_type` with this `data`: a pattern covers the type and the filter passes the data.
pub fn receives<'p>(
    patterns: impl IntoIterator<Item = &'p str>,
    filter: Option<&EventFilter>,
    event_type: &str,
    data: &Value,
) -> bool {
    cdhooks_core::pattern::any_matches(patterns, event_type)
        && filter.is_none_or(|filter| filter.matches(data))
}

/// Why a webhook would (not) receive an event: its patterns, and each condition of its filter.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMatch {
    /// A pattern of the webhook covers the event's type.
    pub subscribed: bool,
    /// Each condition of the filter against the event's `data` (none without a filter).
    pub conditions: Vec<ConditionCheck>,
    /// Both: it would receive the event.
    pub receives: bool,
}

impl EventMatch {
    /// How a webhook subscribed to `patterns` with `filter` meets an event.
    pub fn of(
        patterns: &[String],
        filter: Option<&EventFilter>,
        event_type: &str,
        data: &Value,
    ) -> Self {
        let patterns = patterns.iter().map(String::as_str);
        EventMatch {
            subscribed: cdhooks_core::pattern::any_matches(patterns.clone(), event_type),
            conditions: filter.map(|f| f.explain(data)).unwrap_or_default(),
            receives: receives(patterns, filter, event_type, data),
        }
    }
}

/// Whether `schema` describes the field at `path` through nested `properties`.
fn schema_describes(schema: &Value, path: &[&str]) -> bool {
    path.iter()
        .try_fold(schema, |node, segment| node.get("properties")?.get(segment))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event_type::Catalog;
    use serde_json::json;

    fn filter(value: Value) -> EventFilter {
        EventFilter::parse(&value).unwrap().unwrap()
    }

    #[test]
    fn every_condition_must_hold() {
        let production = filter(json!({
            "data.server_id": ["srv_1", "srv_2"],
            "data.labels.env": "production",
        }));
        assert!(production.matches(&json!({"server_id": "srv_2", "labels": {"env": "production"}})));
        assert!(
            !production.matches(&json!({"server_id": "srv_3", "labels": {"env": "production"}}))
        );
        assert!(!production.matches(&json!({"server_id": "srv_1", "labels": {"env": "staging"}})));
        assert!(!production.matches(&json!({"server_id": "srv_1"})));
        assert!(
            !production.matches(&json!({"server_id": ["srv_1"], "labels": {"env": "production"}}))
        );
        let amount = filter(json!({"data.amount": [1999, 2.5]}));
        assert!(amount.matches(&json!({"amount": 1999})));
        assert!(amount.matches(&json!({"amount": 2.5})));
        assert!(!amount.matches(&json!({"amount": "1999"})));
    }

    #[test]
    fn a_filter_reads_back_as_written() {
        let written = json!({"data.labels.env": "production", "data.server_id": ["srv_1"]});
        let parsed = filter(written.clone());
        assert_eq!(parsed.to_json(), written);
        assert_eq!(
            EventFilter::from_stored(Some(&written.to_string())),
            Some(parsed)
        );
        assert_eq!(EventFilter::parse(&json!({})).unwrap(), None);
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        for bad in [
            json!([]),
            json!({"server_id": "srv_1"}),
            json!({"data.": "x"}),
            json!({"data.a..b": "x"}),
            json!({"data.a": []}),
            json!({"data.a": [true]}),
            json!({"data.a": {"b": 1}}),
            json!({"data.a": null}),
            json!({"data.a.b.c.d.e.f.g.h.i": "x"}),
        ] {
            assert_eq!(
                EventFilter::parse(&bad).unwrap_err().code,
                "invalid_filter",
                "{bad}"
            );
        }
    }

    #[test]
    fn fields_must_be_in_a_subscribed_schema() {
        let catalog = Catalog::seeded();
        let events = ["server.*".to_owned()];
        assert_eq!(
            filter(json!({"data.server_id": "srv_1"})).check_fields(catalog.covered(&events)),
            Ok(())
        );
        let error = filter(json!({"data.amount": 1}))
            .check_fields(catalog.covered(&events))
            .unwrap_err();
        assert_eq!(error.code, "unknown_filter_field");
        assert!(error.message.contains("data.amount"));
        let billing = ["billing.payment.failed".to_owned()];
        assert_eq!(
            filter(json!({"data.amount": 1})).check_fields(catalog.covered(&billing)),
            Ok(())
        );
    }

    #[test]
    fn a_match_explains_what_receives_decides() {
        let patterns = ["server.*".to_owned()];
        let production = filter(json!({"data.labels.env": "production"}));
        for (event_type, data, expected) in [
            (
                "server.started",
                json!({"labels": {"env": "production"}}),
                true,
            ),
            (
                "server.started",
                json!({"labels": {"env": "staging"}}),
                false,
            ),
            (
                "billing.payment.failed",
                json!({"labels": {"env": "production"}}),
                false,
            ),
        ] {
            let found = EventMatch::of(&patterns, Some(&production), event_type, &data);
            assert_eq!(found.receives, expected, "{event_type} {data}");
            assert_eq!(
                found.receives,
                found.subscribed && found.conditions.iter().all(|c| c.holds)
            );
        }
    }

    #[test]
    fn explain_says_which_condition_failed() {
        let checks = filter(json!({"data.server_id": "srv_1", "data.status": "running"}))
            .explain(&json!({"server_id": "srv_1", "status": "stopped"}));
        let held: Vec<(&str, bool)> = checks.iter().map(|c| (c.field.as_str(), c.holds)).collect();
        assert_eq!(held, [("data.server_id", true), ("data.status", false)]);
        assert_eq!(checks[1].found, Some(json!("stopped")));
    }
}
