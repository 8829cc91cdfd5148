//! Standard Webhooks v1: signatures with replay protection.
//!
//! The docs' hex signature covers only the body, so a captured delivery can be replayed
//! forever. Standard Webhooks signs `{webhook-id}.{webhook-timestamp}.{body}` and receivers
//! refuse timestamps outside a tolerance, which bounds replays. The header
//! `webhook-signature` holds one or more space-separated `v1,<base64>` entries so that a
//! sender can sign with an old and a new key during a rotation; entries of other versions are
//! skipped.
//!
//! Keys: a secret starting with `whsec_` is the base64 encoding of the key bytes; any other
//! secret is used as its UTF-8 bytes, so the docs' `your_webhook_secret` works in both schemes.

use core::fmt;

use base64ct::{Base64, Encoding as _};
use subtle::ConstantTimeEq;

use crate::keyed::KeyedMac;

/// The tolerance receivers apply by default, in seconds, in both directions.
pub const DEFAULT_TOLERANCE_SECONDS: u64 = 300;

/// Prefix of secrets that carry base64-encoded key bytes.
pub const SECRET_PREFIX: &str = "whsec_";

/// The longest decoded `whsec_` key accepted. Real keys are 24 to 64 bytes; the limit keeps
/// decoding on the stack so the crate works without an allocator.
pub const MAX_KEY_BYTES: usize = 1024;

/// The most digits a timestamp may have (enough for the year 33658).
pub const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Length of one `v1,<base64>` entry: `v1,` plus 44 base64 characters.
pub const SIGNATURE_HEADER_LEN: usize = 3 + 44;

/// Why a Standard Webhooks delivery was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StandardError {
    /// A required header (id or signature) is empty.
    MissingHeader,
    /// `webhook-timestamp` is not 1 to 12 decimal digits.
    InvalidTimestamp,
    /// The timestamp is further in the past than the tolerance allows.
    TimestampTooOld,
    /// The timestamp is further in the future than the tolerance allows.
    TimestampTooNew,
    /// `webhook-signature` has no readable entry at all (each lacks a `version,` part).
    MalformedSignature,
    /// `webhook-signature` has no `v1` entry.
    NoSupportedSignature,
    /// No `v1` entry is the MAC of this message under this key.
    SignatureMismatch,
    /// The secret is empty, or a `whsec_` secret is not valid base64 of 1 to 1024 bytes.
    InvalidSecret,
}

impl StandardError {
    /// Every error, in a fixed order: [`StandardError::index`] is the position here, which
    /// the wasm build passes to JavaScript, and the npm package's types list their codes.
    pub const ALL: [StandardError; 8] = [
        StandardError::MissingHeader,
        StandardError::InvalidTimestamp,
        StandardError::TimestampTooOld,
        StandardError::TimestampTooNew,
        StandardError::MalformedSignature,
        StandardError::NoSupportedSignature,
        StandardError::SignatureMismatch,
        StandardError::InvalidSecret,
    ];

    /// The position of this error in [`StandardError::ALL`].
    pub fn index(&self) -> usize {
        match self {
            StandardError::MissingHeader => 0,
            StandardError::InvalidTimestamp => 1,
            StandardError::TimestampTooOld => 2,
            StandardError::TimestampTooNew => 3,
            StandardError::MalformedSignature => 4,
            StandardError::NoSupportedSignature => 5,
            StandardError::SignatureMismatch => 6,
            StandardError::InvalidSecret => 7,
        }
    }

    /// The [`code`](Self::code)s of [`ALL`](Self::ALL), space-separated, as one constant: the
    /// npm package's wasm hands this text to JavaScript as it is, without code to build it.
    /// (A test checks it against `ALL`.)
    pub const CODES: &'static str = "missing_header invalid_timestamp timestamp_too_old \
        timestamp_too_new malformed_signature no_supported_signature signature_mismatch \
        invalid_secret";

    /// A stable, machine-readable name for the error, shared with the npm package.
    pub fn code(&self) -> &'static str {
        match self {
            StandardError::MissingHeader => "missing_header",
            StandardError::InvalidTimestamp => "invalid_timestamp",
            StandardError::TimestampTooOld => "timestamp_too_old",
            StandardError::TimestampTooNew => "timestamp_too_new",
            StandardError::MalformedSignature => "malformed_signature",
            StandardError::NoSupportedSignature => "no_supported_signature",
            StandardError::SignatureMismatch => "signature_mismatch",
            StandardError::InvalidSecret => "invalid_secret",
        }
    }
}

impl fmt::Display for StandardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StandardError::MissingHeader => "a required webhook header is missing or empty",
            StandardError::InvalidTimestamp => "webhook-timestamp is not 1 to 12 decimal digits",
            StandardError::TimestampTooOld => "webhook-timestamp is older than the tolerance",
            StandardError::TimestampTooNew => {
                "webhook-timestamp is further ahead than the tolerance"
            }
            StandardError::MalformedSignature => "webhook-signature has no readable entry",
            StandardError::NoSupportedSignature => "webhook-signature has no v1 entry",
            StandardError::SignatureMismatch => "no v1 signature matches the payload and secret",
            StandardError::InvalidSecret => "the secret is empty or not valid whsec_ base64",
        })
    }
}

impl core::error::Error for StandardError {}

/// One `v1,<base64>` header entry, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SignatureHeader([u8; SIGNATURE_HEADER_LEN]);

impl SignatureHeader {
    /// Encodes a raw 32-byte MAC as `v1,<base64>`.
    pub fn from_mac(mac: &[u8; 32]) -> Self {
        let mut out = [0u8; SIGNATURE_HEADER_LEN];
        out[..3].copy_from_slice(b"v1,");
        // Cannot fail: 32 bytes encode to exactly 44 characters.
        let _ = Base64::encode(mac, &mut out[3..]);
        SignatureHeader(out)
    }

    /// The entry as a string, ready for the `webhook-signature` header.
    pub fn as_str(&self) -> &str {
        // `v1,` and base64 are ASCII, so this never fails.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for SignatureHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Standard Webhooks signer and verifier keyed once, for one secret.
///
/// The HMAC key schedule is absorbed in the constructor; each call clones that state.
#[derive(Clone)]
pub struct StandardVerifier {
    /// HMAC states with the key already absorbed.
    keyed: KeyedMac,
}

impl StandardVerifier {
    /// Keys a verifier from a secret: `whsec_<base64>` or any other non-empty string.
    pub fn new(secret: &str) -> Result<Self, StandardError> {
        match secret.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => {
                let mut key = [0u8; MAX_KEY_BYTES];
                let len = decode_key(encoded, &mut key)?;
                Self::from_key(&key[..len])
            }
            None => Self::from_key(secret.as_bytes()),
        }
    }

    /// Keys a verifier from raw key bytes (non-empty).
    pub fn from_key(key: &[u8]) -> Result<Self, StandardError> {
        if key.is_empty() {
            return Err(StandardError::InvalidSecret);
        }
        Ok(StandardVerifier {
            keyed: KeyedMac::new(key),
        })
    }

    /// The raw MAC of `{id}.{timestamp}.{payload}`.
    pub fn sign(&self, id: &str, timestamp: u64, payload: &[u8]) -> [u8; 32] {
        let mut digits = [0u8; 20];
        let timestamp = format_decimal(timestamp, &mut digits);
        self.keyed
            .mac(&[id.as_bytes(), b".", timestamp, b".", payload])
    }

    /// The `v1,<base64>` header entry for `{id}.{timestamp}.{payload}`.
    pub fn sign_header(&self, id: &str, timestamp: u64, payload: &[u8]) -> SignatureHeader {
        SignatureHeader::from_mac(&self.sign(id, timestamp, payload))
    }

    /// Verifies a delivery from its three header values and raw body.
    ///
    /// `now` is the receiver's clock in Unix seconds; `tolerance` bounds the timestamp's
    /// distance from it in both directions. Returns the verified timestamp.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        payload: &[u8],
        now: u64,
        tolerance: u64,
    ) -> Result<u64, StandardError> {
        let timestamp = check_headers(id, timestamp, signatures, now, tolerance)?;
        let expected = self.sign(id, timestamp, payload);
        let mut seen_v1 = false;
        let mut readable = false;
        let mut matched = subtle::Choice::from(0);
        // Entries that cannot be read are skipped, as other Standard Webhooks libraries do, so
        // one odd entry beside a valid one does not fail the delivery.
        for (version, value) in SignatureEntries::new(signatures).flatten() {
            readable = true;
            if version != "v1" {
                continue;
            }
            seen_v1 = true;
            // Decoding the claimed value and comparing raw MACs is cheaper than encoding the
            // expected MAC in constant time. The decoder refuses non-canonical padding and
            // trailing bits, so exactly one text matches a MAC, as when comparing base64 text.
            if let Some(claimed) = decode_entry(value) {
                matched |= claimed.ct_eq(&expected);
            }
        }
        if bool::from(matched) {
            Ok(timestamp)
        } else {
            Err(no_match(readable, seen_v1))
        }
    }
}

/// The checks every scheme of `webhook-signature` makes before any signature: an id and a
/// signature header are present, and the timestamp parses and is within `tolerance` of `now`.
/// Returns the timestamp.
pub(crate) fn check_headers(
    id: &str,
    timestamp: &str,
    signatures: &str,
    now: u64,
    tolerance: u64,
) -> Result<u64, StandardError> {
    if id.is_empty() || signatures.bytes().all(|b| b == b' ') {
        return Err(StandardError::MissingHeader);
    }
    let timestamp = parse_timestamp(timestamp)?;
    check_timestamp(timestamp, now, tolerance)?;
    Ok(timestamp)
}

/// Why no entry matched: none was readable, none was of the scheme's version, or none was
/// the right signature.
pub(crate) fn no_match(readable: bool, seen_version: bool) -> StandardError {
    if !readable {
        StandardError::MalformedSignature
    } else if !seen_version {
        StandardError::NoSupportedSignature
    } else {
        StandardError::SignatureMismatch
    }
}

/// Parses `webhook-timestamp`: 1 to 12 ASCII digits, no sign, no spaces.
pub fn parse_timestamp(value: &str) -> Result<u64, StandardError> {
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_TIMESTAMP_DIGITS {
        return Err(StandardError::InvalidTimestamp);
    }
    bytes.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            Ok(acc * 10 + u64::from(b - b'0'))
        } else {
            Err(StandardError::InvalidTimestamp)
        }
    })
}

/// Checks that `timestamp` lies within `tolerance` seconds of `now`, either way.
pub fn check_timestamp(timestamp: u64, now: u64, tolerance: u64) -> Result<(), StandardError> {
    if now.saturating_sub(timestamp) > tolerance {
        Err(StandardError::TimestampTooOld)
    } else if timestamp.saturating_sub(now) > tolerance {
        Err(StandardError::TimestampTooNew)
    } else {
        Ok(())
    }
}

/// The entries of a `webhook-signature` header: `(version, value)` pairs, split on spaces.
///
/// An entry without a comma, or with an empty version, yields
/// [`StandardError::MalformedSignature`].
#[derive(Debug, Clone)]
pub struct SignatureEntries<'a> {
    /// The part of the header not read yet.
    rest: &'a str,
}

impl<'a> SignatureEntries<'a> {
    /// Starts reading a header value.
    pub fn new(header: &'a str) -> Self {
        SignatureEntries { rest: header }
    }
}

impl<'a> Iterator for SignatureEntries<'a> {
    type Item = Result<(&'a str, &'a str), StandardError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Spaces and commas are single bytes, so their positions are UTF-8 boundaries and the
        // checked `get`s below always succeed. (Byte scans and `get` keep the wasm build free
        // of the `str` pattern and panic-formatting code.)
        let start = self.rest.bytes().position(|b| b != b' ')?;
        let rest = self.rest.get(start..)?;
        let end = rest.bytes().position(|b| b == b' ').unwrap_or(rest.len());
        let (entry, tail) = (rest.get(..end)?, rest.get(end..)?);
        self.rest = tail;
        let comma = entry.bytes().position(|b| b == b',');
        Some(
            match comma.and_then(|at| Some((entry.get(..at)?, entry.get(at + 1..)?))) {
                Some((version, value)) if !version.is_empty() => Ok((version, value)),
                _ => Err(StandardError::MalformedSignature),
            },
        )
    }
}

/// The 32 MAC bytes of a `v1` value: 44 characters of canonical, padded base64.
fn decode_entry(value: &str) -> Option<[u8; 32]> {
    if value.len() != SIGNATURE_HEADER_LEN - 3 {
        return None;
    }
    let mut out = [0u8; 32];
    match Base64::decode(value, &mut out) {
        Ok(mac) => mac.try_into().ok(),
        _ => None,
    }
}

/// The longest (padded) base64 text of a key of [`MAX_KEY_BYTES`].
const MAX_ENCODED_KEY: usize = MAX_KEY_BYTES.div_ceil(3) * 4;

/// Decodes a `whsec_` key as `svix` and `standardwebhooks` do: base64 with or without its
/// `=` padding (secrets are often copied without it), ignoring the unused low bits of the
/// last character.
fn decode_key(encoded: &str, key: &mut [u8; MAX_KEY_BYTES]) -> Result<usize, StandardError> {
    let text = encoded.trim_end_matches('=').as_bytes();
    if encoded.len() - text.len() > 2 || text.len() > MAX_ENCODED_KEY {
        return Err(StandardError::InvalidSecret);
    }
    // The text with the unused bits cleared and its padding put back, for the one (padded)
    // decoder the crate already uses.
    let mut canonical = [b'='; MAX_ENCODED_KEY];
    let padded_len = text.len().div_ceil(4) * 4;
    canonical[..text.len()].copy_from_slice(text);
    let unused_bits = match text.len() % 4 {
        0 => 0,
        2 => 4,
        3 => 2,
        _ => return Err(StandardError::InvalidSecret),
    };
    if let Some(last) = text.len().checked_sub(1) {
        canonical[last] = clear_low_bits(canonical[last], unused_bits);
    }
    // Constant time: the decoded bytes are the key.
    match Base64::decode(&canonical[..padded_len], key) {
        Ok(decoded) if !decoded.is_empty() => Ok(decoded.len()),
        _ => Err(StandardError::InvalidSecret),
    }
}

/// The base64 character for the value of `c` with its low `bits` cleared; `c` itself when it
/// is not a base64 character (the decoder then refuses it). Arithmetic without branches on
/// the character, since it is part of a key.
fn clear_low_bits(c: u8, bits: u8) -> u8 {
    let is = |lo: u8, hi: u8| u8::from(c >= lo && c <= hi);
    let upper = is(b'A', b'Z');
    let lower = is(b'a', b'z');
    let digit = is(b'0', b'9');
    let plus = u8::from(c == b'+');
    let slash = u8::from(c == b'/');
    let valid = upper | lower | digit | plus | slash;
    let value = upper * c.wrapping_sub(b'A')
        + lower * c.wrapping_sub(b'a').wrapping_add(26)
        + digit * c.wrapping_sub(b'0').wrapping_add(52)
        + plus * 62
        + slash * 63;
    let value = value & ((0x3f_u8 >> bits) << bits);
    let above = |n: u8| u8::from(value > n);
    let encoded = value
        .wrapping_add(b'A')
        .wrapping_add(above(25) * 6)
        .wrapping_sub(above(51) * 75)
        .wrapping_sub(above(61) * 15)
        .wrapping_add(above(62) * 3);
    // Select without a branch: `valid` is 0 or 1.
    let mask = valid.wrapping_neg();
    (encoded & mask) | (c & !mask)
}

/// Writes `value` in decimal into the end of `buf` and returns the digits.
pub(crate) fn format_decimal(mut value: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {

    #[test]
    fn keys_decode_with_or_without_padding_and_unused_bits() {
        let key = |secret: &str| StandardVerifier::new(secret).map(|v| v.sign("a", 1, b"x"));
        // 24 bytes: no padding either way.
        assert!(key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        // 23 bytes, as svix shows it with and without `=`, with non-zero unused bits.
        assert_eq!(
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"),
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS=")
        );
        assert_eq!(
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"),
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaQ")
        );
        assert_ne!(
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"),
            key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaU")
        );
        for bad in [
            "whsec_",
            "whsec_a",
            "whsec_!!!!",
            "whsec_abcd===",
            "whsec_ab cd",
        ] {
            assert_eq!(key(bad), Err(StandardError::InvalidSecret), "{bad}");
        }
    }

    #[test]
    fn clearing_unused_bits_keeps_every_character_in_the_alphabet() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (value, &c) in ALPHABET.iter().enumerate() {
            for bits in [0u8, 2, 4] {
                let expected = ALPHABET[value & ((0x3f >> bits) << bits)];
                assert_eq!(clear_low_bits(c, bits), expected, "{} {bits}", c as char);
            }
        }
        for c in [b'=', b'-', b'_', b' ', 0xff] {
            assert_eq!(clear_low_bits(c, 4), c);
        }
    }

    #[test]
    fn unreadable_entries_are_skipped_beside_a_valid_one() {
        let v = StandardVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let good = v.sign_header("msg", 100, b"{}");
        let good = good.as_str();
        for header in [join("garbage ", good), join(good, " garbage")] {
            assert_eq!(
                v.verify("msg", "100", header.as_str(), b"{}", 100, 300),
                Ok(100),
                "{header}"
            );
        }
        assert_eq!(
            v.verify("msg", "100", "garbage", b"{}", 100, 300),
            Err(StandardError::MalformedSignature)
        );
        assert_eq!(
            v.verify("msg", "100", "garbage v2,abc", b"{}", 100, 300),
            Err(StandardError::NoSupportedSignature)
        );
    }

    fn join(a: &str, b: &str) -> alloc::string::String {
        alloc::format!("{a}{b}")
    }

    #[test]
    fn every_error_has_its_place_and_a_unique_code() {
        for (i, e) in StandardError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert_eq!(
                StandardError::ALL
                    .iter()
                    .filter(|o| o.code() == e.code())
                    .count(),
                1
            );
        }
    }

    use super::*;

    #[test]
    fn the_codes_constant_lists_every_code_in_order() {
        let codes: alloc::vec::Vec<&str> = StandardError::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(StandardError::CODES, codes.join(" "));
    }

    #[test]
    fn timestamp_forms() {
        assert_eq!(parse_timestamp("0"), Ok(0));
        assert_eq!(parse_timestamp("999999999999"), Ok(999_999_999_999));
        for bad in ["", "1000000000000", "-1", "+1", " 1", "1 ", "1.5", "１"] {
            assert_eq!(
                parse_timestamp(bad),
                Err(StandardError::InvalidTimestamp),
                "{bad}"
            );
        }
    }

    #[test]
    fn tolerance_is_inclusive_both_ways() {
        assert_eq!(check_timestamp(1000, 1300, 300), Ok(()));
        assert_eq!(
            check_timestamp(1000, 1301, 300),
            Err(StandardError::TimestampTooOld)
        );
        assert_eq!(check_timestamp(1300, 1000, 300), Ok(()));
        assert_eq!(
            check_timestamp(1301, 1000, 300),
            Err(StandardError::TimestampTooNew)
        );
        assert_eq!(check_timestamp(u64::MAX, 0, u64::MAX), Ok(()));
    }

    #[test]
    fn header_entries() {
        let mut entries = SignatureEntries::new("  v1,abc v2,x  v1a,y");
        assert_eq!(entries.next(), Some(Ok(("v1", "abc"))));
        assert_eq!(entries.next(), Some(Ok(("v2", "x"))));
        assert_eq!(entries.next(), Some(Ok(("v1a", "y"))));
        assert_eq!(entries.next(), None);
        assert_eq!(
            SignatureEntries::new("nocomma").next(),
            Some(Err(StandardError::MalformedSignature))
        );
        assert_eq!(
            SignatureEntries::new(",x").next(),
            Some(Err(StandardError::MalformedSignature))
        );
    }

    #[test]
    fn secrets() {
        assert_eq!(
            StandardVerifier::new("").err(),
            Some(StandardError::InvalidSecret)
        );
        assert_eq!(
            StandardVerifier::new("whsec_").err(),
            Some(StandardError::InvalidSecret)
        );
        assert_eq!(
            StandardVerifier::new("whsec_!!").err(),
            Some(StandardError::InvalidSecret)
        );
        assert!(StandardVerifier::new("whsec_c2VjcmV0").is_ok());
        // whsec_ of "secret" and the raw "secret" are the same key.
        let a = StandardVerifier::new("whsec_c2VjcmV0")
            .unwrap()
            .sign("i", 1, b"p");
        let b = StandardVerifier::new("secret").unwrap().sign("i", 1, b"p");
        assert_eq!(a, b);
    }

    #[test]
    fn only_the_canonical_base64_of_the_mac_matches() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let v = StandardVerifier::new("secret").unwrap();
        let good = v.sign_header("id", 100, b"p");
        // The 43rd character carries 4 bits of the MAC and 2 padding bits that must be zero:
        // of its four variants with the same 4 data bits, only the canonical one matches.
        let last = good.0[SIGNATURE_HEADER_LEN - 2];
        let index = ALPHABET.iter().position(|&c| c == last).unwrap();
        for low_bits in 0..4 {
            let mut entry = good.0;
            entry[SIGNATURE_HEADER_LEN - 2] = ALPHABET[(index & !3) | low_bits];
            let entry = core::str::from_utf8(&entry).unwrap();
            let expected = if entry == good.as_str() {
                Ok(100)
            } else {
                Err(StandardError::SignatureMismatch)
            };
            assert_eq!(v.verify("id", "100", entry, b"p", 100, 300), expected);
        }
        // Without its padding the entry is refused too.
        let unpadded = &good.as_str()[..SIGNATURE_HEADER_LEN - 1];
        assert_eq!(
            v.verify("id", "100", unpadded, b"p", 100, 300),
            Err(StandardError::SignatureMismatch)
        );
    }

    #[test]
    fn unknown_versions_are_skipped_and_rotation_works() {
        let v = StandardVerifier::new("secret").unwrap();
        let good = v.sign_header("id", 100, b"p");
        let mut header = [0u8; 3 + 47 + 9];
        header[..9].copy_from_slice(b"v2,abc v1");
        header[9..12].copy_from_slice(b",x ");
        header[12..].copy_from_slice(good.as_str().as_bytes());
        let header = core::str::from_utf8(&header).unwrap();
        assert_eq!(v.verify("id", "100", header, b"p", 100, 300), Ok(100));
        assert_eq!(
            v.verify("id", "100", "v2,abc", b"p", 100, 300),
            Err(StandardError::NoSupportedSignature)
        );
        assert_eq!(
            v.verify("id", "100", "v1,abc", b"p", 100, 300),
            Err(StandardError::SignatureMismatch)
        );
        assert_eq!(
            v.verify("", "100", good.as_str(), b"p", 100, 300),
            Err(StandardError::MissingHeader)
        );
    }
}
