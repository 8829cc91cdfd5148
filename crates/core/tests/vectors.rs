//! The shared vectors in `tests/vectors/signatures.json`, which the npm package checks too.

use cdhooks_core::event::Event;
use cdhooks_core::legacy::{self, LegacyVerifier};
use cdhooks_core::standard::StandardVerifier;
use cdhooks_core::timestamp::Timestamp;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/signatures.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vectors file"))
        .expect("vectors JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {v}"))
}

#[test]
fn legacy_vectors_give_the_expected_answer() {
    let all = vectors();
    let cases = all["legacy"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let (secret, payload, signature) =
            (s(case, "secret"), s(case, "payload"), s(case, "signature"));
        let valid = case["valid"].as_bool().unwrap();
        let answer = legacy::verify(payload.as_bytes(), signature.as_bytes(), secret.as_bytes());
        assert_eq!(answer.is_ok(), valid, "{}", s(case, "name"));
        let keyed =
            LegacyVerifier::new(secret.as_bytes()).verify(payload.as_bytes(), signature.as_bytes());
        assert_eq!(keyed, answer, "{}", s(case, "name"));
        if valid {
            assert_eq!(
                legacy::sign_hex(secret.as_bytes(), payload.as_bytes()).as_str(),
                signature
            );
        }
    }
}

#[test]
fn standard_vectors_give_the_expected_answer() {
    let all = vectors();
    let cases = all["standard"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let name = s(case, "name");
        let expected = case["error"].as_str();
        let result = StandardVerifier::new(s(case, "secret")).and_then(|v| {
            v.verify(
                s(case, "id"),
                s(case, "timestamp"),
                s(case, "signature"),
                s(case, "payload").as_bytes(),
                case["now"].as_u64().unwrap(),
                case["tolerance"].as_u64().unwrap(),
            )
        });
        assert_eq!(result.err().map(|e| e.code()), expected, "{name}");
        if expected.is_none() && !s(case, "signature").contains(' ') {
            let verifier = StandardVerifier::new(s(case, "secret")).unwrap();
            let ts: u64 = s(case, "timestamp").parse().unwrap();
            let header = verifier.sign_header(s(case, "id"), ts, s(case, "payload").as_bytes());
            assert_eq!(header.as_str(), s(case, "signature"), "{name}");
        }
    }
}

#[test]
fn docs_example_event_serialises_in_the_docs_key_order() {
    let event = Event {
        id: "evt_abc123".to_owned(),
        event_type: "server.started".to_owned(),
        created_at: Timestamp::parse("2025-01-15T10:30:00Z").unwrap(),
        data: serde_json::json!({
            "server_id": "srv_abc123", "name": "production-web-01",
            "status": "running", "ip": "192.168.1.100"
        }),
    };
    let body = serde_json::to_string(&event).unwrap();
    assert!(body.starts_with(
        r#"{"id":"evt_abc123","type":"server.started","created_at":"2025-01-15T10:30:00Z","data":{"#
    ));
    // The docs-example vector signs exactly these bytes.
    let all = vectors();
    let case = all["legacy"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docs example event")
        .unwrap();
    let docs_body: Value = serde_json::from_str(s(case, "payload")).unwrap();
    assert_eq!(serde_json::to_value(&event).unwrap(), docs_body);
    let back: Event<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(back, event);
    assert!(serde_json::from_str::<Event<Value>>(
        r#"{"id":"e","type":"t","created_at":"2025-01-15T10:30:00+01:00","data":{}}"#
    )
    .is_err());
}
