//! The `v1a` (Ed25519) vectors in `tests/vectors/v1a.json`, which the npm package checks with
//! its wasm and with Node's native Ed25519 (`pkg/test/ed25519.test.mjs`): valid deliveries,
//! tampering, and the signatures where a plain RFC 8032 verifier and a strict one disagree
//! (`S + L`, a small-order `R` under a mixed-order key), so that both paths must refuse them.
//!
//! The vectors are generated here, deterministically, and committed so they can be read; this
//! test fails when the file no longer matches (`CDHOOKS_UPDATE_VECTORS=1` rewrites it), and
//! checks every expectation against the core.
#![cfg(feature = "ed25519")]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cdhooks_core::asymmetric::{WebhookPublicKey, WebhookSigningKey};
use cdhooks_core::standard::StandardError;
use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use curve25519_dalek::edwards::CompressedEdwardsY;
use curve25519_dalek::Scalar;
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/vectors/v1a.json");
const NOW: u64 = 1_736_937_000;
const TIMESTAMP: &str = "1736937000";

fn whpk(bytes: &[u8; 32]) -> String {
    format!("whpk_{}", STANDARD.encode(bytes))
}

fn entry(signature: &[u8]) -> String {
    format!("v1a,{}", STANDARD.encode(signature))
}

fn signed(id: &str, payload: &str) -> Vec<u8> {
    format!("{id}.{TIMESTAMP}.{payload}").into_bytes()
}

/// A vector: the key, the delivery, the expected code (`null` when it verifies), and whether
/// the plain RFC 8032 equation holds (where it holds but the answer is a refusal, only the
/// strict checks refuse it).
#[allow(clippy::too_many_arguments)]
fn case(
    name: &str,
    key: &str,
    id: &str,
    timestamp: &str,
    signature: &str,
    payload: &str,
    error: Option<StandardError>,
    equation_holds: bool,
) -> Value {
    json!({
        "name": name, "public_key": key, "id": id, "timestamp": timestamp,
        "signature": signature, "payload": payload, "now": NOW,
        "error": error.map(|e| e.code()), "equation_holds": equation_holds,
    })
}

/// `S + L`: the same signature to a verifier that does not check `S` is canonical.
fn malleate(signature: &[u8; 64]) -> [u8; 64] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = *signature;
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(out[32 + i]) + u16::from(L[i]) + carry;
        out[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// A key `a·B + T` (T of order 8) and a signature with a small-order `R` that satisfies the
/// cofactorless equation: `R = T·j` where `h + j ≡ 0 (mod 8)`, `S = h·a`. Lax verifiers
/// (OpenSSL, Node) accept it; strict ones must not.
fn small_order_r(id: &str) -> (String, String, String) {
    let a = Scalar::from_bytes_mod_order([42; 32]);
    let key = (ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[1]).compress();
    for n in 0.. {
        let payload = format!("{{\"n\":{n}}}");
        for (j, torsion) in EIGHT_TORSION.iter().enumerate() {
            let r = torsion.compress();
            let mut hash = Sha512::new();
            hash.update(r.as_bytes());
            hash.update(key.as_bytes());
            hash.update(signed(id, &payload));
            let h = Scalar::from_hash(hash);
            // h·T = (h mod 8)·T; the equation holds when (h mod 8) + j ≡ 0 (mod 8).
            if (h.as_bytes()[0] as usize + j).is_multiple_of(8) && j != 0 {
                let s = h * a;
                let mut signature = [0u8; 64];
                signature[..32].copy_from_slice(r.as_bytes());
                signature[32..].copy_from_slice(s.as_bytes());
                return (whpk(key.as_bytes()), entry(&signature), payload);
            }
        }
    }
    unreachable!()
}

/// A point whose `y` has a second, non-canonical encoding (`y + p` fits in 255 bits only for
/// `y < 19`), encoded that way.
fn non_canonical_key() -> String {
    for y in 2u8..19 {
        let mut bytes = [0xff; 32];
        bytes[0] = 0xed + y; // p = 2^255 - 19: its low byte is 0xed
        bytes[31] = 0x7f;
        if let Some(point) = CompressedEdwardsY(bytes).decompress() {
            if !point.is_small_order() {
                return whpk(&bytes);
            }
        }
    }
    unreachable!("some y below 19 is on the curve")
}

fn generate() -> Value {
    let mut cases = Vec::new();
    let payloads = [
        r#"{"id":"evt_1","type":"server.created","created_at":"2026-01-01T00:00:00Z","data":{"server_id":"srv_1"}}"#,
        "",
        "{\"name\":\"café ✓ 日本\"}",
        "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
    ];
    for (i, payload) in payloads.iter().enumerate() {
        let key = WebhookSigningKey::from_seed(&[i as u8 + 1; 32]);
        let public = key.public_key().encode();
        let id = format!("msg_{i}");
        let good = key.sign_entry(&id, NOW, payload.as_bytes());
        cases.push(case(
            &format!("valid {i}"),
            &public,
            &id,
            TIMESTAMP,
            &good,
            payload,
            None,
            true,
        ));
        let mismatch = Some(StandardError::SignatureMismatch);
        let tampered = format!("{payload} ");
        cases.push(case(
            &format!("body changed {i}"),
            &public,
            &id,
            TIMESTAMP,
            &good,
            &tampered,
            mismatch,
            false,
        ));
        cases.push(case(
            &format!("id changed {i}"),
            &public,
            "msg_x",
            TIMESTAMP,
            &good,
            payload,
            mismatch,
            false,
        ));
        cases.push(case(
            &format!("timestamp changed {i}"),
            &public,
            &id,
            "1736937001",
            &good,
            payload,
            mismatch,
            false,
        ));
        let other = WebhookSigningKey::from_seed(&[100 + i as u8; 32])
            .public_key()
            .encode();
        cases.push(case(
            &format!("another key {i}"),
            &other,
            &id,
            TIMESTAMP,
            &good,
            payload,
            mismatch,
            false,
        ));
        let mut bytes = [0u8; 64];
        STANDARD.decode_slice(&good[4..], &mut bytes).unwrap();
        cases.push(case(
            &format!("S + L {i}"),
            &public,
            &id,
            TIMESTAMP,
            &entry(&malleate(&bytes)),
            payload,
            mismatch,
            false,
        ));
        let both = format!("v1,AAAA {} {good}", entry(&malleate(&bytes)));
        cases.push(case(
            &format!("a good entry after bad ones {i}"),
            &public,
            &id,
            TIMESTAMP,
            &both,
            payload,
            None,
            true,
        ));
    }
    let key = WebhookSigningKey::from_seed(&[9; 32]);
    let public = key.public_key().encode();
    let good = key.sign_entry("msg_9", NOW, b"{}");
    cases.push(case(
        "only v1 entries",
        &public,
        "msg_9",
        TIMESTAMP,
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "{}",
        Some(StandardError::NoSupportedSignature),
        false,
    ));
    cases.push(case(
        "no readable entry",
        &public,
        "msg_9",
        TIMESTAMP,
        "v1a",
        "{}",
        Some(StandardError::MalformedSignature),
        false,
    ));
    cases.push(case(
        "too old",
        &public,
        "msg_9",
        "1736936000",
        &good,
        "{}",
        Some(StandardError::TimestampTooOld),
        false,
    ));
    let mut trailing = good.clone();
    trailing.pop(); // "=" → the text is no longer canonical base64
    trailing.push('A');
    cases.push(case(
        "not canonical base64",
        &public,
        "msg_9",
        TIMESTAMP,
        &trailing,
        "{}",
        Some(StandardError::SignatureMismatch),
        false,
    ));
    let (mixed, small_r, payload) = small_order_r("msg_8");
    cases.push(case(
        "small-order R under a mixed-order key",
        &mixed,
        "msg_8",
        TIMESTAMP,
        &small_r,
        &payload,
        Some(StandardError::SignatureMismatch),
        true,
    ));
    let mut identity = [0u8; 32];
    identity[0] = 1;
    cases.push(case(
        "small-order key",
        &whpk(&identity),
        "msg_9",
        TIMESTAMP,
        &good,
        "{}",
        Some(StandardError::InvalidSecret),
        false,
    ));
    cases.push(case(
        "non-canonical key",
        &non_canonical_key(),
        "msg_9",
        TIMESTAMP,
        &good,
        "{}",
        Some(StandardError::InvalidSecret),
        false,
    ));
    json!({ "note": "Generated by crates/core/tests/v1a_vectors.rs; do not edit.", "v1a": cases })
}

#[test]
fn the_committed_vectors_are_the_generated_ones_and_the_core_agrees() {
    let vectors = generate();
    let text = serde_json::to_string_pretty(&vectors).unwrap() + "\n";
    if std::env::var_os("CDHOOKS_UPDATE_VECTORS").is_some() {
        std::fs::write(PATH, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(PATH).unwrap_or_default(),
        text,
        "tests/vectors/v1a.json is out of date: CDHOOKS_UPDATE_VECTORS=1 cargo test -p cdhooks-core --features ed25519 --test v1a_vectors"
    );
    let cases = vectors["v1a"].as_array().unwrap();
    assert!(
        cases
            .iter()
            .filter(|c| c["equation_holds"] == true && !c["error"].is_null())
            .count()
            >= 1
    );
    for c in cases {
        let s = |k: &str| c[k].as_str().unwrap();
        let answer = WebhookPublicKey::parse(s("public_key")).and_then(|key| {
            key.verify(
                s("id"),
                s("timestamp"),
                s("signature"),
                s("payload").as_bytes(),
                NOW,
                300,
            )
        });
        assert_eq!(
            answer.err().map(|e| e.code()),
            c["error"].as_str(),
            "{}",
            s("name")
        );
    }
}
