//! The npm package's generated TypeScript (`pkg/events.d.ts`): the event types with their
//! `data` shapes, from the catalog, and the verification error codes, from the core. It is
//! committed so that it can be read and reviewed; this test fails when it no longer matches
//! what the core says (`make types` rewrites it).

use cdhooks_core::catalog::CATALOG;
use cdhooks_core::standard::StandardError;
use serde_json::Value;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pkg/events.d.ts");

/// The codes only the JavaScript layer produces (after a verified signature, the body is not
/// JSON), after the core's own.
const PACKAGE_CODES: [&str; 1] = ["invalid_payload"];

/// `server.backup.completed` → `ServerBackupCompleted`.
fn type_name(event: &str) -> String {
    event
        .split(['.', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The TypeScript type of an example value.
fn ts_type(value: &Value, indent: &str) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(_) => "number".into(),
        Value::String(_) => "string".into(),
        Value::Array(items) => match items.first() {
            Some(first) => format!("Array<{}>", ts_type(first, indent)),
            None => "unknown[]".into(),
        },
        Value::Object(fields) => {
            let inner = format!("{indent}  ");
            let mut out = String::from("{\n");
            for (name, value) in fields {
                out += &format!("{inner}{name}: {};\n", ts_type(value, &inner));
            }
            out + indent + "}"
        }
    }
}

fn render() -> String {
    let mut out = String::from(
        "// Generated from the Rust core (the event catalog and the error codes) by\n\
         // crates/core/tests/typescript.rs; `make types` rewrites it. Do not edit.\n\n",
    );
    for info in CATALOG {
        let example: Value = serde_json::from_str(info.example_data).expect("example is JSON");
        out += &format!(
            "/** `data` of `{}`: {}. */\nexport interface {}Data {}\n\n",
            info.name,
            info.description,
            type_name(info.name),
            ts_type(&example, "")
        );
    }
    out += "/** Every event a cdhooks server delivers, told apart by `type`. */\nexport type CdhooksEvent =\n";
    for info in CATALOG {
        out += &format!(
            "  | {{ id: string; type: '{}'; created_at: string; data: {}Data }}\n",
            info.name,
            type_name(info.name)
        );
    }
    out.pop();
    out += ";\n\n/** The event type names. */\nexport type EventType = CdhooksEvent['type'];\n\n";
    out += "/** The event of one type, e.g. `EventOf<'billing.payment.failed'>`. */\n\
            export type EventOf<T extends EventType> = Extract<CdhooksEvent, { type: T }>;\n\n";
    out += "/** Stable codes of `WebhookVerificationError`. */\nexport type WebhookErrorCode =\n";
    let codes: Vec<&str> = StandardError::ALL
        .iter()
        .map(StandardError::code)
        .chain(PACKAGE_CODES)
        .collect();
    for code in &codes {
        out += &format!("  | '{code}'\n");
    }
    out.pop();
    out += ";\n";
    out
}

#[test]
fn the_generated_typescript_matches_the_core() {
    let expected = render();
    if std::env::var_os("CDHOOKS_UPDATE_TYPES").is_some() {
        std::fs::write(PATH, &expected).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == expected,
        "pkg/events.d.ts is stale: run `make types` and commit it"
    );
}
