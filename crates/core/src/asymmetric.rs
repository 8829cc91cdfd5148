//! Standard Webhooks `v1a`: Ed25519 signatures that only the sender can make.
//!
//! An HMAC proves that the sender knew the secret, and every receiver knows it too: whoever
//! holds a webhook's secret can make deliveries that verify. With `v1a` the sender signs
//! `{webhook-id}.{webhook-timestamp}.{body}` with a private key and receivers hold only the
//! public key (`whpk_` + base64 of its 32 bytes), which verifies but cannot sign. Entries travel
//! in `webhook-signature` beside `v1` ones: `v1a,<base64 of the 64-byte signature>`.
//!
//! Verification is strict (RustCrypto's `ed25519-dalek`, `verify_strict`): non-canonical
//! signatures, small-order `R` and small-order or non-canonically encoded keys are refused, so
//! one message has one valid signature per key and a signature cannot be altered into another
//! that still verifies.
//!
//! The checks `verify_strict` makes beyond the RFC 8032 equation are also available on their
//! own ([`WebhookPublicKey::verify_with`], [`strict_precheck`]), so that a runtime with a faster
//! native Ed25519 (Node's `crypto.verify`, OpenSSL) gives exactly the answers of this module:
//! the key is parsed here, each signature passes [`strict_precheck`] here, and only the curve
//! equation (cofactorless, `R` compared as bytes — as both implement it) runs natively.

use alloc::string::String;
use alloc::vec::Vec;

use base64ct::{Base64, Encoding as _};
use curve25519_dalek::Scalar;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::standard::{check_headers, no_match, SignatureEntries, StandardError};

/// Prefix of public keys.
pub const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// Prefix of signing keys (base64 of the 32-byte seed).
pub const SIGNING_KEY_PREFIX: &str = "whsk_";
/// The version tag of Ed25519 entries in `webhook-signature`.
pub const VERSION: &str = "v1a";

/// The signed message: `{id}.{timestamp}.{payload}`.
fn message(id: &str, timestamp: u64, payload: &[u8]) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let timestamp = crate::standard::format_decimal(timestamp, &mut digits);
    let mut message = Vec::with_capacity(id.len() + timestamp.len() + payload.len() + 2);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp);
    message.push(b'.');
    message.extend_from_slice(payload);
    message
}

/// The encodings of the eight points of small order (the torsion subgroup), in the order of
/// `curve25519_dalek::constants::EIGHT_TORSION` (a test checks them against it). A signature
/// whose `R` is one of them is refused. (Other encodings of these points cannot pass: the
/// equation's `R` is compared as canonical bytes.)
const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        199, 23, 106, 112, 61, 77, 216, 79, 186, 60, 11, 118, 13, 16, 103, 15, 42, 32, 83, 250, 44,
        57, 204, 198, 78, 199, 253, 119, 146, 172, 3, 122,
    ],
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 128,
    ],
    [
        38, 232, 149, 143, 194, 178, 39, 176, 69, 195, 244, 137, 242, 239, 152, 240, 213, 223, 172,
        5, 211, 198, 51, 57, 177, 56, 2, 136, 109, 83, 252, 5,
    ],
    [
        236, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 127,
    ],
    [
        38, 232, 149, 143, 194, 178, 39, 176, 69, 195, 244, 137, 242, 239, 152, 240, 213, 223, 172,
        5, 211, 198, 51, 57, 177, 56, 2, 136, 109, 83, 252, 133,
    ],
    [0; 32],
    [
        199, 23, 106, 112, 61, 77, 216, 79, 186, 60, 11, 118, 13, 16, 103, 15, 42, 32, 83, 250, 44,
        57, 204, 198, 78, 199, 253, 119, 146, 172, 3, 250,
    ],
];

/// The checks strict verification makes on a 64-byte signature before the curve equation:
/// `S` is canonical (below the group order, so `S + L` is not a second signature) and `R` is
/// not a point of small order. A signature that fails them is refused whatever the equation
/// says; one that passes is valid exactly when the RFC 8032 equation holds.
pub fn strict_precheck(signature: &[u8; 64]) -> bool {
    let (r, s) = signature.split_at(32);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(s);
    bool::from(Scalar::from_canonical_bytes(s_bytes).is_some())
        && !SMALL_ORDER_ENCODINGS.iter().any(|point| point[..] == *r)
}

/// A sender's Ed25519 key: signs `v1a` entries.
pub struct WebhookSigningKey(SigningKey);

impl core::fmt::Debug for WebhookSigningKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("WebhookSigningKey(…)")
    }
}

impl WebhookSigningKey {
    /// The key of a 32-byte seed (from a CSPRNG, or stored).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        WebhookSigningKey(SigningKey::from_bytes(seed))
    }

    /// Reads `whsk_` + base64 of the 32-byte seed.
    pub fn parse(text: &str) -> Result<Self, StandardError> {
        let encoded = text
            .strip_prefix(SIGNING_KEY_PREFIX)
            .ok_or(StandardError::InvalidSecret)?;
        let mut seed = [0u8; 32];
        match Base64::decode(encoded, &mut seed) {
            Ok(decoded) if decoded.len() == 32 => Ok(Self::from_seed(&seed)),
            _ => Err(StandardError::InvalidSecret),
        }
    }

    /// The seed, for storing.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public key receivers verify with, `whpk_…`.
    pub fn public_key(&self) -> WebhookPublicKey {
        WebhookPublicKey(self.0.verifying_key())
    }

    /// The `v1a,<base64>` entry for `{id}.{timestamp}.{payload}`.
    pub fn sign_entry(&self, id: &str, timestamp: u64, payload: &[u8]) -> String {
        let signature = self.0.sign(&message(id, timestamp, payload));
        let mut entry = String::from("v1a,");
        entry.push_str(&Base64::encode_string(&signature.to_bytes()));
        entry
    }
}

/// A receiver's public key: verifies `v1a` entries, cannot make them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookPublicKey(VerifyingKey);

impl WebhookPublicKey {
    /// Reads `whpk_` + base64 of the 32-byte key; refuses small-order (weak) keys and keys
    /// whose encoding is not canonical (a coordinate at or above the field's prime).
    pub fn parse(text: &str) -> Result<Self, StandardError> {
        let encoded = text
            .strip_prefix(PUBLIC_KEY_PREFIX)
            .ok_or(StandardError::InvalidSecret)?;
        let mut bytes = [0u8; 32];
        let key = match Base64::decode(encoded, &mut bytes) {
            Ok(decoded) if decoded.len() == 32 => {
                VerifyingKey::from_bytes(&bytes).map_err(|_| StandardError::InvalidSecret)?
            }
            _ => return Err(StandardError::InvalidSecret),
        };
        if key.is_weak() || key.to_edwards().compress().to_bytes() != bytes {
            return Err(StandardError::InvalidSecret);
        }
        Ok(WebhookPublicKey(key))
    }

    /// `whpk_` + base64 of the key.
    pub fn encode(&self) -> String {
        let mut text = String::from(PUBLIC_KEY_PREFIX);
        text.push_str(&Base64::encode_string(self.0.as_bytes()));
        text
    }

    /// The key's 32 bytes (for a native verifier).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies a delivery's `v1a` entries (others are skipped), as
    /// [`crate::standard::StandardVerifier::verify`] does its `v1` ones: `now` and `tolerance`
    /// in Unix seconds bound the timestamp. Returns the verified timestamp.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        payload: &[u8],
        now: u64,
        tolerance: u64,
    ) -> Result<u64, StandardError> {
        let mut signed: Option<Vec<u8>> = None;
        self.verify_with(
            id,
            timestamp,
            signatures,
            now,
            tolerance,
            |timestamp, signature| {
                let signed = signed.get_or_insert_with(|| message(id, timestamp, payload));
                self.0
                    .verify_strict(signed, &Signature::from_bytes(signature))
                    .is_ok()
            },
        )
    }

    /// [`verify`](Self::verify) with the curve equation left to `equation_holds(timestamp,
    /// signature)`: the headers, the timestamp, the entries and [`strict_precheck`] are
    /// checked here, and `equation_holds` is asked only about signatures that pass them, in
    /// order, until it says yes. With a correct RFC 8032 equation (e.g. a native Ed25519) the
    /// answers are exactly those of `verify`.
    pub fn verify_with(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        now: u64,
        tolerance: u64,
        mut equation_holds: impl FnMut(u64, &[u8; 64]) -> bool,
    ) -> Result<u64, StandardError> {
        let timestamp = check_headers(id, timestamp, signatures, now, tolerance)?;
        let (mut readable, mut seen) = (false, false);
        for (version, value) in SignatureEntries::new(signatures).flatten() {
            readable = true;
            if version != VERSION {
                continue;
            }
            seen = true;
            let mut bytes = [0u8; 64];
            let Ok(decoded) = Base64::decode(value, &mut bytes) else {
                continue;
            };
            if decoded.len() == 64 && strict_precheck(&bytes) && equation_holds(timestamp, &bytes) {
                return Ok(timestamp);
            }
        }
        Err(no_match(readable, seen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_736_937_000;

    fn key(byte: u8) -> WebhookSigningKey {
        WebhookSigningKey::from_seed(&[byte; 32])
    }

    #[test]
    fn a_signature_verifies_with_the_public_key_only_for_its_message() {
        let signing = key(7);
        let public = WebhookPublicKey::parse(&signing.public_key().encode()).unwrap();
        let entry = signing.sign_entry("msg_1", NOW, b"{\"a\":1}");
        assert!(entry.starts_with("v1a,") && entry.len() == 4 + 88);
        assert_eq!(
            public.verify("msg_1", "1736937000", &entry, b"{\"a\":1}", NOW, 300),
            Ok(NOW)
        );
        // Beside v1 entries and unreadable ones, in any order.
        let header = alloc::format!("v1,AAAA junk {entry}");
        assert!(public
            .verify("msg_1", "1736937000", &header, b"{\"a\":1}", NOW, 300)
            .is_ok());
        for (id, timestamp, body) in [
            ("msg_2", "1736937000", &b"{\"a\":1}"[..]),
            ("msg_1", "1736937001", b"{\"a\":1}"),
            ("msg_1", "1736937000", b"{\"a\":2}"),
        ] {
            assert_eq!(
                public.verify(id, timestamp, &entry, body, NOW, 300),
                Err(StandardError::SignatureMismatch),
                "{id} {timestamp}"
            );
        }
        let other = key(8).public_key();
        assert_eq!(
            other.verify("msg_1", "1736937000", &entry, b"{\"a\":1}", NOW, 300),
            Err(StandardError::SignatureMismatch)
        );
        assert_eq!(
            public.verify("msg_1", "1736936000", &entry, b"{\"a\":1}", NOW, 300),
            Err(StandardError::TimestampTooOld)
        );
        assert_eq!(
            public.verify("msg_1", "1736937000", "v1,AAAA", b"{}", NOW, 300),
            Err(StandardError::NoSupportedSignature)
        );
    }

    #[test]
    fn a_non_canonical_signature_is_refused() {
        // S + L (the group order) is the same signature to a lax verifier, and must not pass.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let signing = key(9);
        let entry = signing.sign_entry("msg_1", NOW, b"{}");
        let mut bytes = [0u8; 64];
        Base64::decode(&entry[4..], &mut bytes).unwrap();
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(bytes[32 + i]) + u16::from(L[i]) + carry;
            bytes[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        let malleated = alloc::format!("v1a,{}", Base64::encode_string(&bytes));
        assert_eq!(
            signing
                .public_key()
                .verify("msg_1", "1736937000", &malleated, b"{}", NOW, 300),
            Err(StandardError::SignatureMismatch)
        );
    }

    #[test]
    fn the_rfc_8032_test_vector_signs_as_published() {
        // RFC 8032, 7.1, TEST 1: the empty message.
        let seed: [u8; 32] = [
            0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec,
            0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03,
            0x1c, 0xae, 0x7f, 0x60,
        ];
        let key = SigningKey::from_bytes(&seed);
        let signature = key.sign(b"").to_bytes();
        assert_eq!(
            &signature[..8],
            &[0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72]
        );
        assert_eq!(
            key.verifying_key().as_bytes()[..4],
            [0xd7, 0x5a, 0x98, 0x01]
        );
    }

    #[test]
    fn the_small_order_encodings_are_the_eight_torsion_points() {
        for (point, encoding) in curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .zip(SMALL_ORDER_ENCODINGS)
        {
            assert_eq!(point.compress().to_bytes(), encoding);
        }
    }

    #[test]
    fn keys_read_back_and_bad_ones_are_refused() {
        let signing = key(3);
        let text = alloc::format!("whsk_{}", Base64::encode_string(&signing.seed()));
        assert_eq!(
            WebhookSigningKey::parse(&text).unwrap().seed(),
            signing.seed()
        );
        for bad in ["whpk_", "whpk_AAAA", "whsec_AAAA", "pk_x"] {
            assert!(WebhookPublicKey::parse(bad).is_err(), "{bad}");
        }
        // The identity point is a small-order key: refused.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = alloc::format!("whpk_{}", Base64::encode_string(&identity));
        assert!(WebhookPublicKey::parse(&weak).is_err());
    }
}
