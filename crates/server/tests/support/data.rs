//! Event payloads the seeded catalog accepts.

use serde_json::Value;

/// `data` a seeded type's schema accepts (it requires every field of the type's example):
/// the example, with the fields of `fields` added or put over it.
pub fn valid_data(event_type: &str, fields: Value) -> Value {
    let example = cdhooks_core::catalog::lookup(event_type).map_or("{}", |info| info.example_data);
    let mut data: Value = serde_json::from_str(example).unwrap();
    if let (Some(data), Value::Object(fields)) = (data.as_object_mut(), fields) {
        data.extend(fields);
    }
    data
}
