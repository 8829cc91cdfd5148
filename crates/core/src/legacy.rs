//! The provider docs' signature scheme.
//!
//! `X-Webhook-Signature` carries the lowercase hex HMAC-SHA256 of the raw request body, keyed
//! with the secret string's bytes. The docs verify it with Node's
//! `timingSafeEqual(Buffer.from(signature), Buffer.from(expected))`, which throws on a length
//! difference; read as "no", that accepts exactly the 64 lowercase hex digits of the right MAC.
//! [`verify`] gives that same answer for every input — uppercase, a `sha256=` prefix,
//! whitespace, a wrong length, non-hex or non-ASCII bytes are all a mismatch — and never panics.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::keyed::KeyedMac;

/// Length of a signature in hex: 32 MAC bytes, two digits each.
pub const SIGNATURE_HEX_LEN: usize = 64;

/// Why a signature was refused. Both mean "not genuine"; the split only helps debugging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature is not exactly 64 lowercase hex digits, so it cannot be the MAC's hex form.
    Malformed,
    /// The signature is well formed but is not the MAC of this payload under this secret.
    Mismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "signature is not 64 lowercase hex digits",
            VerifyError::Mismatch => "signature does not match the payload and secret",
        })
    }
}

impl core::error::Error for VerifyError {}

/// A signature in its header form: 64 lowercase hex digits, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HexSignature([u8; SIGNATURE_HEX_LEN]);

impl HexSignature {
    /// Encodes a raw 32-byte MAC.
    pub fn from_mac(mac: &[u8; 32]) -> Self {
        let mut out = [0u8; SIGNATURE_HEX_LEN];
        // Cannot fail: the buffer is exactly twice the input's length.
        let _ = base16ct::lower::encode(mac, &mut out);
        HexSignature(out)
    }

    /// The signature as a string, ready for the `X-Webhook-Signature` header.
    pub fn as_str(&self) -> &str {
        // Lowercase hex digits are ASCII, so this never fails.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for HexSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for HexSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Computes the raw MAC of `payload` under `secret`.
pub fn sign(secret: &[u8], payload: &[u8]) -> [u8; 32] {
    LegacyVerifier::new(secret).sign(payload)
}

/// Computes the header form of the signature of `payload` under `secret`.
pub fn sign_hex(secret: &[u8], payload: &[u8]) -> HexSignature {
    HexSignature::from_mac(&sign(secret, payload))
}

/// Checks `signature` (the header value, as bytes) against `payload` under `secret`.
pub fn verify(payload: &[u8], signature: &[u8], secret: &[u8]) -> Result<(), VerifyError> {
    LegacyVerifier::new(secret).verify(payload, signature)
}

/// A verifier keyed once: the HMAC key schedule is absorbed in [`LegacyVerifier::new`], and
/// each signature or verification only clones that state, so many checks under one secret
/// never re-key.
#[derive(Clone)]
pub struct LegacyVerifier {
    /// HMAC states with the key already absorbed.
    keyed: KeyedMac,
}

impl LegacyVerifier {
    /// Keys a verifier with the secret's bytes (any length, as Node's `createHmac` accepts).
    pub fn new(secret: &[u8]) -> Self {
        LegacyVerifier {
            keyed: KeyedMac::new(secret),
        }
    }

    /// The raw MAC of `payload`.
    pub fn sign(&self, payload: &[u8]) -> [u8; 32] {
        self.keyed.mac(&[payload])
    }

    /// The header form of the signature of `payload`.
    pub fn sign_hex(&self, payload: &[u8]) -> HexSignature {
        HexSignature::from_mac(&self.sign(payload))
    }

    /// Checks `signature` against `payload`, comparing the MAC in constant time.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        let claimed = decode_signature(signature).ok_or(VerifyError::Malformed)?;
        if bool::from(self.sign(payload).ct_eq(&claimed)) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

/// Decodes exactly 64 lowercase hex digits into the 32 MAC bytes; anything else is `None`.
///
/// The signature is what the sender claims, not a secret, so decoding it with branches leaks
/// nothing; only the comparison with the real MAC must be constant-time (`verify_slice`).
fn decode_signature(signature: &[u8]) -> Option<[u8; 32]> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            // Uppercase is refused, as the docs' byte comparison refuses it.
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    if signature.len() != SIGNATURE_HEX_LEN {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(signature.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppercase_prefix_and_whitespace_are_malformed() {
        let good = sign_hex(b"k", b"body");
        let upper = good.as_str().to_ascii_uppercase_array();
        assert_eq!(verify(b"body", &upper, b"k"), Err(VerifyError::Malformed));
        let mut prefixed = [0u8; 71];
        prefixed[..7].copy_from_slice(b"sha256=");
        prefixed[7..].copy_from_slice(good.as_str().as_bytes());
        assert_eq!(
            verify(b"body", &prefixed, b"k"),
            Err(VerifyError::Malformed)
        );
        let mut spaced = [b' '; 65];
        spaced[1..].copy_from_slice(good.as_str().as_bytes());
        assert_eq!(verify(b"body", &spaced, b"k"), Err(VerifyError::Malformed));
        assert_eq!(verify(b"body", b"", b"k"), Err(VerifyError::Malformed));
    }

    #[test]
    fn right_form_wrong_mac_is_a_mismatch() {
        let other = sign_hex(b"other", b"body");
        assert_eq!(
            verify(b"body", other.as_str().as_bytes(), b"k"),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(b"body", sign_hex(b"k", b"body").as_str().as_bytes(), b"k"),
            Ok(())
        );
    }

    trait UpperArray {
        fn to_ascii_uppercase_array(&self) -> [u8; 64];
    }
    impl UpperArray for str {
        fn to_ascii_uppercase_array(&self) -> [u8; 64] {
            let mut out = [0u8; 64];
            out.copy_from_slice(self.as_bytes());
            out.make_ascii_uppercase();
            out
        }
    }
}
