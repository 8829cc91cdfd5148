//! Property tests: signing then verifying always holds, any one-byte change breaks it, and the
//! parsers never panic on arbitrary input. Each property runs at least 1,000 cases.

use cdhooks_core::legacy::{self, LegacyVerifier};
use cdhooks_core::pattern::EventPattern;
use cdhooks_core::standard::{self, SignatureEntries, StandardError, StandardVerifier};
use cdhooks_core::timestamp::Timestamp;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(1000)
}

/// Flips one byte of `bytes` at `index % len` by XOR with a non-zero `delta`.
fn flip(bytes: &mut [u8], index: usize, delta: u8) {
    let i = index % bytes.len();
    bytes[i] ^= delta.max(1);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn legacy_verify_accepts_what_sign_produced(secret in any::<Vec<u8>>(), payload in any::<Vec<u8>>()) {
        let signature = legacy::sign_hex(&secret, &payload);
        prop_assert_eq!(legacy::verify(&payload, signature.as_str().as_bytes(), &secret), Ok(()));
    }

    #[test]
    fn legacy_one_byte_change_of_payload_fails(secret in any::<Vec<u8>>(), mut payload in prop::collection::vec(any::<u8>(), 1..512), i in any::<usize>(), d in any::<u8>()) {
        let signature = legacy::sign_hex(&secret, &payload);
        flip(&mut payload, i, d);
        prop_assert!(legacy::verify(&payload, signature.as_str().as_bytes(), &secret).is_err());
    }

    #[test]
    fn legacy_one_byte_change_of_signature_fails(secret in any::<Vec<u8>>(), payload in any::<Vec<u8>>(), i in any::<usize>(), d in any::<u8>()) {
        let mut signature = legacy::sign_hex(&secret, &payload).as_str().as_bytes().to_vec();
        flip(&mut signature, i, d);
        prop_assert!(legacy::verify(&payload, &signature, &secret).is_err());
    }

    #[test]
    fn legacy_matches_exact_hex_comparison_on_arbitrary_signatures(secret in any::<Vec<u8>>(), payload in any::<Vec<u8>>(), signature in any::<Vec<u8>>()) {
        // The docs' snippet accepts exactly the bytes of the lowercase hex MAC.
        let expected = legacy::sign_hex(&secret, &payload);
        let verifier = LegacyVerifier::new(&secret);
        prop_assert_eq!(verifier.verify(&payload, &signature).is_ok(), signature == expected.as_str().as_bytes());
    }

    #[test]
    fn standard_verify_accepts_what_sign_produced(secret in "[ -~]{1,64}", id in "[a-zA-Z0-9_]{1,40}", ts in 0u64..=999_999_999_999, payload in any::<Vec<u8>>()) {
        let verifier = StandardVerifier::new(&secret);
        prop_assume!(verifier.is_ok());
        let verifier = verifier.unwrap();
        let header = verifier.sign_header(&id, ts, &payload);
        prop_assert_eq!(verifier.verify(&id, &ts.to_string(), header.as_str(), &payload, ts, 0), Ok(ts));
    }

    #[test]
    fn standard_one_byte_change_anywhere_fails(
        id in "[a-zA-Z0-9_]{1,40}", ts in 1_000_000_000u64..2_000_000_000, payload in prop::collection::vec(any::<u8>(), 1..512),
        which in 0..4usize, i in any::<usize>(), d in any::<u8>(),
    ) {
        let verifier = StandardVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let header = verifier.sign_header(&id, ts, &payload);
        let (mut id, mut ts_text, mut header, mut payload) =
            (id.into_bytes(), ts.to_string().into_bytes(), header.as_str().as_bytes().to_vec(), payload);
        match which {
            0 => flip(&mut id, i, d),
            1 => flip(&mut ts_text, i, d),
            2 => flip(&mut header, i, d),
            _ => flip(&mut payload, i, d),
        }
        let (Ok(id), Ok(ts_text), Ok(header)) = (String::from_utf8(id), String::from_utf8(ts_text), String::from_utf8(header)) else {
            // A flip into invalid UTF-8 cannot reach a header value; nothing to check.
            return Ok(());
        };
        let result = verifier.verify(&id, &ts_text, &header, &payload, ts, u64::MAX);
        prop_assert!(result.is_err(), "changed part {} still verified", which);
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,80}", bytes in any::<Vec<u8>>(), now in any::<u64>(), tol in any::<u64>()) {
        let _ = standard::parse_timestamp(&text);
        let _ = SignatureEntries::new(&text).count();
        let _ = StandardVerifier::new(&text);
        let _ = EventPattern::parse(&text);
        let _ = Timestamp::parse(&text);
        let verifier = StandardVerifier::new("k").unwrap();
        let _ = verifier.verify(&text, &text, &text, &bytes, now, tol);
        let _ = legacy::verify(&bytes, &bytes, &bytes);
    }

    #[test]
    fn whsec_secrets_use_the_decoded_key(key in prop::collection::vec(any::<u8>(), 1..100)) {
        use base64::Engine as _;
        let encoded = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(&key));
        let a = StandardVerifier::new(&encoded).unwrap().sign("id", 1, b"p");
        let b = StandardVerifier::from_key(&key).unwrap().sign("id", 1, b"p");
        prop_assert_eq!(a, b);
    }

    #[test]
    fn timestamps_round_trip(seconds in -62_167_219_200i64..=253_402_300_799) {
        let t = Timestamp::from_unix(seconds).unwrap();
        prop_assert_eq!(Timestamp::parse(&t.to_string()), Ok(t));
    }
}

#[test]
fn too_old_is_reported_before_the_signature() {
    let verifier = StandardVerifier::new("k").unwrap();
    let header = verifier.sign_header("id", 0, b"p");
    assert_eq!(
        verifier.verify("id", "0", header.as_str(), b"p", 301, 300),
        Err(StandardError::TimestampTooOld)
    );
}

/// Standard Webhooks `v1a` (Ed25519): a signature verifies with its key's public key for its
/// own message only; another key, a changed id, timestamp or body, or a changed signature
/// byte are refused. (Fewer cases: each signs and verifies on the curve.)
#[cfg(feature = "ed25519")]
mod v1a {
    use cdhooks_core::asymmetric::WebhookSigningKey;
    use cdhooks_core::standard::StandardError;
    use proptest::prelude::*;

    const NOW: u64 = 1_736_937_000;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn a_v1a_signature_verifies_for_its_message_and_key_only(
            seed in any::<[u8; 32]>(),
            other in any::<[u8; 32]>(),
            id in "[a-z0-9_]{1,24}",
            skew in 0u64..300,
            payload in prop::collection::vec(any::<u8>(), 0..512),
            i in any::<usize>(),
            d in 1u8..=255,
        ) {
            prop_assume!(seed != other);
            let key = WebhookSigningKey::from_seed(&seed);
            let public = key.public_key();
            let ts = NOW - skew;
            let entry = key.sign_entry(&id, ts, &payload);
            let timestamp = ts.to_string();
            prop_assert_eq!(public.verify(&id, &timestamp, &entry, &payload, NOW, 300), Ok(ts));
            let mismatch = Err(StandardError::SignatureMismatch);
            let stranger = WebhookSigningKey::from_seed(&other).public_key();
            prop_assert_eq!(stranger.verify(&id, &timestamp, &entry, &payload, NOW, 300), mismatch);
            prop_assert_eq!(public.verify(&format!("{id}x"), &timestamp, &entry, &payload, NOW, 300), mismatch);
            prop_assert_eq!(public.verify(&id, &(ts - 1).to_string(), &entry, &payload, NOW, 301), mismatch);
            let mut changed = payload.clone();
            if changed.is_empty() {
                changed.push(d);
            } else {
                let at = i % changed.len();
                changed[at] ^= d;
            }
            prop_assert_eq!(public.verify(&id, &timestamp, &entry, &changed, NOW, 300), mismatch);
            // One byte of the signature changed (its base64 text re-encoded).
            use base64::Engine as _;
            let engine = base64::engine::general_purpose::STANDARD;
            let mut bytes = engine.decode(&entry[4..]).unwrap();
            let at = i % bytes.len();
            bytes[at] ^= d;
            let altered = format!("v1a,{}", engine.encode(&bytes));
            prop_assert_eq!(public.verify(&id, &timestamp, &altered, &payload, NOW, 300), mismatch);
        }
    }
}
