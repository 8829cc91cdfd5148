//! Event types as data: what a valid event type is, the JSON Schema its `data` must satisfy,
//! and the catalog a server checks emissions and subscriptions against.
//!
//! The provider manages the catalog at run time (platform keys); a store starts it with the
//! docs' nine types (`cdhooks_core::catalog`), each with a schema derived from its example that
//! requires the fields the example carries. Schemas are JSON Schema draft 2020-12, compiled
//! once per catalog load; a schema is never accepted unless its type's example satisfies it.

use std::collections::HashMap;
use std::sync::Arc;

use cdhooks_core::catalog::{self, CATALOG};
use cdhooks_core::pattern::{EventPattern, PatternError};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::ValidationError;
use crate::store::EventTypeRecord;

/// The longest event type name.
pub const MAX_NAME_LEN: usize = 100;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// The largest schema or example, as JSON text.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// How many problems an `invalid_data` answer lists at most.
pub const MAX_REPORTED_ERRORS: usize = 10;
/// The draft every schema is read as.
pub const SCHEMA_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The body of `POST /v1/event-types`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventTypeRequest {
    /// The `type` value: lowercase words separated by dots, e.g. `dns.zone.updated`.
    pub name: String,
    /// What happened, for people.
    pub description: String,
    /// A JSON Schema (draft 2020-12) for `data`, of `"type": "object"`; derived from the example
    /// when absent (every field of the example required, others allowed).
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Box<RawValue>>,
    /// An example `data` object; the schema must accept it.
    #[schema(value_type = Object)]
    pub example: Box<RawValue>,
}

/// The body of `PATCH /v1/event-types/{name}`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEventTypeRequest {
    /// A new description.
    pub description: Option<String>,
    /// A new schema for `data` (a new version); it must accept the type's example (the new
    /// one, if given).
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Box<RawValue>>,
    /// A new example; the schema (the new one, if given) must accept it.
    #[schema(value_type = Option<Object>)]
    pub example: Option<Box<RawValue>>,
    /// `true` marks the type deprecated (it can still be emitted and subscribed to); `false`
    /// takes the mark away.
    pub deprecated: Option<bool>,
}

/// A checked event type, ready to be stored: the JSON texts as given (key order kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEventType {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// The schema's JSON text.
    pub schema: String,
    /// The example's JSON text.
    pub example: String,
}

impl NewEventType {
    /// Checks a request to create an event type.
    pub fn validate(request: CreateEventTypeRequest) -> Result<Self, ValidationError> {
        check_name(&request.name)?;
        let description = check_description(request.description)?;
        let example = check_example(&request.example)?;
        let schema = match &request.schema {
            Some(raw) => raw.get().to_owned(),
            None => schema_of_example(&example).to_string(),
        };
        accepts_example(&compile(&schema)?, &example)?;
        Ok(NewEventType {
            name: request.name,
            description,
            schema,
            example: request.example.get().to_owned(),
        })
    }

    /// The record a store keeps of this type, added at `now_ms` (version 1, current).
    pub fn stored_at(self, now_ms: i64) -> EventTypeRecord {
        EventTypeRecord {
            name: self.name,
            description: self.description,
            schema: self.schema,
            example: self.example,
            version: 1,
            deprecated: false,
            created_at: now_ms,
            updated_at: now_ms,
        }
    }

    /// The docs' nine types, in the docs' order, each with the schema of its example.
    pub fn seed() -> Vec<NewEventType> {
        CATALOG
            .iter()
            .map(|info| {
                let example: Value =
                    serde_json::from_str(info.example_data).expect("the catalog's examples parse");
                NewEventType {
                    name: info.name.to_owned(),
                    description: info.description.to_owned(),
                    schema: schema_of_example(&example).to_string(),
                    example: info.example_data.to_owned(),
                }
            })
            .collect()
    }
}

/// A checked change of an event type, to be written only if the type is still as it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeUpdate {
    /// The type as it was read (its `version` and `updated_at` make the write conditional).
    pub name: String,
    /// The description after the change.
    pub description: String,
    /// The schema after the change.
    pub schema: String,
    /// The example after the change.
    pub example: String,
    /// The version after the change: one more when the schema changed.
    pub version: i64,
    /// Deprecated after the change.
    pub deprecated: bool,
    /// `version` as read.
    pub read_version: i64,
    /// `updated_at` as read.
    pub read_updated_at: i64,
}

impl EventTypeUpdate {
    /// Checks a change of `current`: the resulting schema must accept the resulting example.
    pub fn validate(
        current: &EventTypeRecord,
        request: UpdateEventTypeRequest,
    ) -> Result<Self, ValidationError> {
        let description = match request.description {
            Some(description) => check_description(description)?,
            None => current.description.clone(),
        };
        let (example, example_value) = match &request.example {
            Some(raw) => (raw.get().to_owned(), check_example(raw)?),
            None => (
                current.example.clone(),
                serde_json::from_str(&current.example)
                    .map_err(|e| ValidationError::new("invalid_example", e.to_string()))?,
            ),
        };
        // A schema sent again as it stands (same JSON, any spacing) is no new version.
        let (schema, schema_changed) = match &request.schema {
            Some(raw) => (
                raw.get().to_owned(),
                parse(raw.get())? != parse(&current.schema).unwrap_or(Value::Null),
            ),
            None => (current.schema.clone(), false),
        };
        accepts_example(&compile(&schema)?, &example_value)?;
        Ok(EventTypeUpdate {
            name: current.name.clone(),
            description,
            schema,
            example,
            version: current.version + i64::from(schema_changed),
            deprecated: request.deprecated.unwrap_or(current.deprecated),
            read_version: current.version,
            read_updated_at: current.updated_at,
        })
    }
}

/// Whether `patterns` subscribe to `name` by name (not through `*` or a prefix): such a
/// subscription would be left naming nothing, so the type may not be deleted under it.
pub fn subscribes_by_name(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|pattern| pattern == name)
}

/// A JSON Schema requiring what `example` carries: the type of every value, every field of
/// every object (others allowed; listed in name order), the items of an array as its first
/// item is.
pub fn schema_of_example(example: &Value) -> Value {
    let mut schema = shape_of(example);
    if let Value::Object(object) = &mut schema {
        object.insert("$schema".to_owned(), Value::from(SCHEMA_DIALECT));
    }
    schema
}

fn shape_of(value: &Value) -> Value {
    let mut schema = Map::new();
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(items) => {
            if let Some(first) = items.first() {
                schema.insert("items".to_owned(), shape_of(first));
            }
            "array"
        }
        Value::Object(fields) => {
            let properties: Map<String, Value> = fields
                .iter()
                .map(|(key, value)| (key.clone(), shape_of(value)))
                .collect();
            let required: Vec<Value> = fields.keys().cloned().map(Value::from).collect();
            schema.insert("properties".to_owned(), Value::Object(properties));
            schema.insert("required".to_owned(), Value::Array(required));
            "object"
        }
    };
    schema.insert("type".to_owned(), Value::from(kind));
    schema.into_iter().collect::<Map<String, Value>>().into()
}

fn check_name(name: &str) -> Result<(), ValidationError> {
    if name.len() > MAX_NAME_LEN || !catalog::is_valid_name(name) {
        return Err(ValidationError::new(
            "invalid_event_type_name",
            format!(
                "an event type name is up to {MAX_NAME_LEN} characters of lowercase words \
                 (a-z, 0-9, _) separated by dots, e.g. `dns.zone.updated`"
            ),
        )
        .field("name"));
    }
    Ok(())
}

fn check_description(description: String) -> Result<String, ValidationError> {
    let length = description.trim().chars().count();
    if length == 0 || description.chars().count() > MAX_DESCRIPTION_LEN {
        return Err(ValidationError::new(
            "invalid_description",
            format!("the description must be 1 to {MAX_DESCRIPTION_LEN} characters"),
        )
        .field("description"));
    }
    Ok(description)
}

fn check_example(raw: &RawValue) -> Result<Value, ValidationError> {
    let invalid =
        |message: String| ValidationError::new("invalid_example", message).field("example");
    if raw.get().len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "the example is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    match serde_json::from_str(raw.get()) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(invalid(
            "the example must be a JSON object, as `data` is".to_owned(),
        )),
        Err(e) => Err(invalid(format!("the example is not valid JSON: {e}"))),
    }
}

fn parse(schema: &str) -> Result<Value, ValidationError> {
    serde_json::from_str(schema).map_err(|e| {
        ValidationError::new(
            "invalid_schema",
            format!("the schema is not valid JSON: {e}"),
        )
        .field("schema")
    })
}

/// Compiles a schema text as draft 2020-12: an object, at most [`MAX_DOCUMENT_BYTES`], of
/// `"type": "object"` (as `data` is), valid against the meta-schema, referring to nothing
/// outside itself.
pub fn compile(schema: &str) -> Result<jsonschema::Validator, ValidationError> {
    let invalid = |message: String| ValidationError::new("invalid_schema", message).field("schema");
    if schema.len() > MAX_DOCUMENT_BYTES {
        return Err(invalid(format!(
            "the schema is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    let value = parse(schema)?;
    if value.get("type") != Some(&Value::from("object")) {
        return Err(invalid(
            "the schema must be a JSON object with \"type\": \"object\", as `data` is an object"
                .to_owned(),
        ));
    }
    jsonschema::draft202012::new(&value).map_err(|e| {
        invalid(format!(
            "the schema is not a valid JSON Schema (draft 2020-12): {e}"
        ))
    })
}

fn accepts_example(
    validator: &jsonschema::Validator,
    example: &Value,
) -> Result<(), ValidationError> {
    match validator.iter_errors(example).next() {
        None => Ok(()),
        Some(error) => Err(ValidationError::new(
            "example_rejected",
            format!(
                "the schema does not accept the example: {}",
                describe(error.instance_path().as_str(), &error.to_string())
            ),
        )
        .field("example")),
    }
}

/// One problem, in plain words: where in `data`, and what was expected there.
fn describe(pointer: &str, message: &str) -> String {
    let at = if pointer.is_empty() {
        "data".to_owned()
    } else {
        format!("data{}", pointer.replace('/', "."))
    };
    format!("at `{at}`: {message}")
}

/// One event type of a loaded catalog, with its schema compiled.
pub struct CatalogEntry {
    /// The type as stored.
    pub record: EventTypeRecord,
    /// The schema, parsed.
    pub schema: Value,
    /// The schema, compiled (`None` for a stored schema that no longer compiles, which a
    /// catalog refuses emissions of, and says so in the log).
    validator: Option<jsonschema::Validator>,
}

/// The event types as one store read them: what emissions and subscriptions are checked
/// against until the next read.
#[derive(Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    /// A catalog of `records` (in the store's order), compiling each schema.
    pub fn new(records: Vec<EventTypeRecord>) -> Self {
        let mut catalog = Catalog::default();
        for record in records {
            let schema = serde_json::from_str(&record.schema).unwrap_or(Value::Null);
            let validator = match compile(&record.schema) {
                Ok(validator) => Some(validator),
                Err(error) => {
                    tracing::error!(event_type = %record.name, %error, "a stored schema does not compile; emissions of the type are refused");
                    None
                }
            };
            catalog
                .by_name
                .insert(record.name.clone(), catalog.entries.len());
            catalog.entries.push(CatalogEntry {
                record,
                schema,
                validator,
            });
        }
        catalog
    }

    /// The docs' nine types as a store seeds them (version 1, never changed).
    pub fn seeded() -> Self {
        Catalog::new(
            NewEventType::seed()
                .into_iter()
                .map(|new| new.stored_at(0))
                .collect(),
        )
    }

    /// Every type, in the store's order.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    /// One type by name.
    pub fn get(&self, name: &str) -> Option<&CatalogEntry> {
        self.by_name.get(name).map(|&i| &self.entries[i])
    }

    /// Every type's name.
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.entries.iter().map(|entry| entry.record.name.as_str())
    }

    /// The type named `name`, or the error emitting an unknown type gets.
    pub fn known(&self, name: &str) -> Result<&CatalogEntry, ValidationError> {
        self.get(name).ok_or_else(|| {
            ValidationError::new(
                "unknown_event_type",
                format!("unknown event type `{name}`; GET /v1/event-types lists them"),
            )
            .field("type")
        })
    }

    /// Checks `data` against the schema of its type: `invalid_data` naming where and what.
    pub fn check_data(&self, entry: &CatalogEntry, data: &Value) -> Result<(), ValidationError> {
        let Some(validator) = &entry.validator else {
            return Err(ValidationError::new(
                "invalid_data",
                format!(
                    "the stored schema of `{}` cannot be used; the provider must fix it",
                    entry.record.name
                ),
            )
            .field("data"));
        };
        if validator.is_valid(data) {
            return Ok(());
        }
        let problems: Vec<String> = validator
            .iter_errors(data)
            .take(MAX_REPORTED_ERRORS)
            .map(|error| describe(error.instance_path().as_str(), &error.to_string()))
            .collect();
        Err(ValidationError::new(
            "invalid_data",
            format!(
                "`data` does not match the schema of `{}` (version {}): {}",
                entry.record.name,
                entry.record.version,
                problems.join("; ")
            ),
        )
        .field("data"))
    }

    /// Checks, deduplicates and keeps the order of subscription patterns: each must cover a
    /// type of this catalog.
    pub fn check_patterns(&self, patterns: &[String]) -> Result<(), ValidationError> {
        for pattern in patterns {
            if let Err(e) = EventPattern::parse_in(pattern, self.names()) {
                let code = match e {
                    PatternError::Unknown(_) => "unknown_event_type",
                    _ => "invalid_event_pattern",
                };
                return Err(ValidationError::new(code, e.to_string()).field("events"));
            }
        }
        Ok(())
    }

    /// The types `patterns` cover.
    pub fn covered<'c, 'p>(
        &'c self,
        patterns: &'p [String],
    ) -> impl Iterator<Item = &'c CatalogEntry> + Clone + use<'c, 'p> {
        self.entries.iter().filter(move |entry| {
            cdhooks_core::pattern::any_matches(
                patterns.iter().map(String::as_str),
                &entry.record.name,
            )
        })
    }
}

/// A catalog shared by the use cases, replaced whole when reloaded.
pub type SharedCatalog = Arc<Catalog>;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    fn raw(value: Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    fn record(new: NewEventType) -> EventTypeRecord {
        new.stored_at(0)
    }

    /// The docs' nine types, as a store seeds them.
    pub(crate) fn seeded() -> Catalog {
        Catalog::seeded()
    }

    #[test]
    fn the_seed_accepts_its_examples_and_requires_their_fields() {
        let catalog = seeded();
        assert_eq!(catalog.entries().len(), 9);
        for info in CATALOG {
            let entry = catalog.get(info.name).unwrap();
            let example: Value = serde_json::from_str(info.example_data).unwrap();
            assert_eq!(catalog.check_data(entry, &example), Ok(()), "{}", info.name);
            for field in example.as_object().unwrap().keys() {
                let mut missing = example.clone();
                missing.as_object_mut().unwrap().remove(field);
                let error = catalog.check_data(entry, &missing).unwrap_err();
                assert_eq!(error.code, "invalid_data");
                assert!(error.message.contains(field.as_str()), "{}", error.message);
            }
            // Fields of its own are the provider's to add.
            let mut more = example.clone();
            more.as_object_mut()
                .unwrap()
                .insert("labels".into(), json!({"env": "production"}));
            assert_eq!(catalog.check_data(entry, &more), Ok(()));
        }
    }

    #[test]
    fn invalid_data_names_the_path_and_the_expectation() {
        let catalog = seeded();
        let entry = catalog.get("billing.payment.failed").unwrap();
        let error = catalog
            .check_data(
                entry,
                &json!({"payment_id": "pay_1", "amonut": "12", "amount": "12", "currency": "EUR", "reason": "x"}),
            )
            .unwrap_err();
        assert!(
            error.message.contains("at `data.amount`"),
            "{}",
            error.message
        );
        assert!(error.message.contains("integer"), "{}", error.message);
    }

    #[test]
    fn a_new_type_is_checked_whole() {
        let ok = CreateEventTypeRequest {
            name: "dns.zone.updated".into(),
            description: "A DNS zone changed".into(),
            schema: None,
            example: raw(json!({"zone": "example.com", "serial": 7})),
        };
        let made = NewEventType::validate(ok).unwrap();
        let schema: Value = serde_json::from_str(&made.schema).unwrap();
        assert_eq!(schema["required"], json!(["serial", "zone"]));
        let cases = [
            (
                json!({"name": "DNS.Zone", "description": "x", "example": {}}),
                "invalid_event_type_name",
            ),
            (
                json!({"name": "a.b", "description": " ", "example": {}}),
                "invalid_description",
            ),
            (
                json!({"name": "a.b", "description": "x", "example": [1]}),
                "invalid_example",
            ),
            (
                json!({"name": "a.b", "description": "x", "example": {}, "schema": {"type": "array"}}),
                "invalid_schema",
            ),
            (
                json!({"name": "a.b", "description": "x", "example": {}, "schema": {"type": "object", "minProperties": -1}}),
                "invalid_schema",
            ),
            (
                json!({"name": "a.b", "description": "x", "example": {}, "schema": {"type": "object", "$ref": "https://example.com/s.json"}}),
                "invalid_schema",
            ),
            (
                json!({"name": "a.b", "description": "x", "example": {"n": "1"}, "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}),
                "example_rejected",
            ),
        ];
        for (body, code) in cases {
            let request: CreateEventTypeRequest = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(
                NewEventType::validate(request).unwrap_err().code,
                code,
                "{body}"
            );
        }
    }

    #[test]
    fn a_change_keeps_schema_and_example_agreeing_and_counts_versions() {
        let current = record(NewEventType::seed().remove(0));
        let describe_only = UpdateEventTypeRequest {
            description: Some("Provisioned".into()),
            schema: None,
            example: None,
            deprecated: Some(true),
        };
        let update = EventTypeUpdate::validate(&current, describe_only).unwrap();
        assert_eq!((update.version, update.deprecated), (1, true));
        let stricter = UpdateEventTypeRequest {
            description: None,
            schema: Some(raw(json!({"type": "object", "required": ["owner"]}))),
            example: None,
            deprecated: None,
        };
        assert_eq!(
            EventTypeUpdate::validate(&current, stricter)
                .unwrap_err()
                .code,
            "example_rejected"
        );
        let with_example = UpdateEventTypeRequest {
            description: None,
            schema: Some(raw(json!({"type": "object", "required": ["owner"]}))),
            example: Some(raw(json!({"owner": "acc_1"}))),
            deprecated: None,
        };
        let update = EventTypeUpdate::validate(&current, with_example).unwrap();
        assert_eq!(update.version, 2);
    }

    #[test]
    fn patterns_are_checked_against_the_loaded_types() {
        let mut records: Vec<EventTypeRecord> =
            NewEventType::seed().into_iter().map(record).collect();
        records.push(record(NewEventType {
            name: "dns.zone.updated".into(),
            description: "x".into(),
            schema: r#"{"type":"object"}"#.into(),
            example: "{}".into(),
        }));
        let catalog = Catalog::new(records);
        assert_eq!(
            catalog.check_patterns(&["dns.*".into(), "server.started".into()]),
            Ok(())
        );
        assert_eq!(
            catalog.check_patterns(&["ssl.*".into()]).unwrap_err().code,
            "unknown_event_type"
        );
        assert_eq!(
            catalog.check_patterns(&["Dns".into()]).unwrap_err().code,
            "invalid_event_pattern"
        );
        let covered: Vec<&str> = catalog
            .covered(&["server.backup.*".into(), "dns.*".into()])
            .map(|e| e.record.name.as_str())
            .collect();
        assert_eq!(covered, ["server.backup.completed", "dns.zone.updated"]);
    }

    #[test]
    fn only_an_exact_name_holds_a_type() {
        let patterns = vec!["server.*".to_owned(), "dns.zone.updated".to_owned()];
        assert!(subscribes_by_name(&patterns, "dns.zone.updated"));
        assert!(!subscribes_by_name(&patterns, "server.started"));
    }
}
