//! The event object built in wasm: `serde_json` parses the body and `serde-wasm-bindgen`
//! makes the JavaScript object, for `make bench-js` to compare with `JSON.parse` in
//! JavaScript (what the package does).

use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Parses a JSON body into a plain JavaScript object (objects, not `Map`s).
#[wasm_bindgen]
pub fn parse_event(body: &[u8]) -> Result<JsValue, JsValue> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| JsValue::from_str(&e.to_string()))?;
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(Into::into)
}
