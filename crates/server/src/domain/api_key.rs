//! API keys: 32 random bytes shown once, stored only as a SHA-256 hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Prefix that makes a cdhooks key recognisable (e.g. by secret scanners).
pub const API_KEY_PREFIX: &str = "cdh_";

/// Generates a new key: `cdh_` + base64url of 32 random bytes.
pub fn generate() -> String {
    generate_with(API_KEY_PREFIX)
}

/// Generates a credential of another kind (`cdhp_`, `cdhs_`): the prefix and base64url of 32
/// random bytes, stored as keys are.
pub fn generate_with(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        URL_SAFE_NO_PAD.encode(super::random_bytes::<32>())
    )
}

/// Characters of a key shown in lists to tell keys apart (`cdh_` and four more).
pub const SHOWN_PREFIX_LEN: usize = 8;

/// What the store keeps of a key: its hash, and its first characters for display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDigest {
    /// [`hash`] of the key.
    pub hash: String,
    /// The key's first [`SHOWN_PREFIX_LEN`] characters.
    pub prefix: String,
}

/// The digest of a key.
pub fn digest(key: &str) -> KeyDigest {
    KeyDigest {
        hash: hash(key),
        prefix: key.chars().take(SHOWN_PREFIX_LEN).collect(),
    }
}

/// A key's last use is written at most this often (ms): a busy key costs no write per
/// request, and `last_used_at` stays within a minute.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// The longest key name.
pub const MAX_NAME_LEN: usize = 100;

/// Checks a key's name: 1 to 100 characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), super::ValidationError> {
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(super::ValidationError::new(
            "invalid_name",
            format!("the name must be 1 to {MAX_NAME_LEN} characters without control characters"),
        )
        .field("name"));
    }
    Ok(())
}

/// Why a key may not be revoked: an account keeps at least one key, and a request cannot
/// revoke the key it is made with (it would lock its caller out mid-way).
pub fn may_revoke(active_keys: u64, is_the_callers_key: bool) -> Result<(), &'static str> {
    if is_the_callers_key {
        Err("a request cannot revoke the key it is authenticated with; use another key")
    } else if active_keys <= 1 {
        Err("an account keeps at least one API key; create another before revoking this one")
    } else {
        Ok(())
    }
}

/// The stored form of a key: lowercase hex SHA-256.
pub fn hash(key: &str) -> String {
    base16ct::lower::encode_string(&Sha256::digest(key.as_bytes()))
}

/// Compares two stored hashes in constant time.
pub fn hashes_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_keeps_one_key_and_never_the_callers() {
        assert!(may_revoke(2, false).is_ok());
        assert!(may_revoke(1, false).is_err());
        assert!(may_revoke(5, true).is_err());
        assert_eq!(digest("cdh_abcdefgh").prefix, "cdh_abcd");
        assert!(validate_name("ci deploys").is_ok());
        assert!(validate_name("").is_err() && validate_name("a\nb").is_err());
    }

    #[test]
    fn keys_are_long_random_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == 4 + 43);
        assert_eq!(hash(&a).len(), 64);
        let platform = generate_with(super::super::access::PLATFORM_KEY_PREFIX);
        assert!(platform.starts_with("cdhp_") && platform.len() == 5 + 43);
        assert!(hashes_equal(&hash(&a), &hash(&a)));
        assert!(!hashes_equal(&hash(&a), &hash(&b)));
    }
}
