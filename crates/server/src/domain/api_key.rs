//! API keys: 32 random bytes shown once, stored only as a SHA-256 hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Prefix that makes a cdhooks key recognisable (e.g. by secret scanners).
pub const API_KEY_PREFIX: &str = "cdh_";

/// Generates a new key: `cdh_` + base64url of 32 random bytes.
pub fn generate() -> String {
    format!(
        "{API_KEY_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(super::random_bytes::<32>())
    )
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
    fn keys_are_long_random_and_hashed() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(API_KEY_PREFIX) && a.len() == 4 + 43);
        assert_eq!(hash(&a).len(), 64);
        assert!(hashes_equal(&hash(&a), &hash(&a)));
        assert!(!hashes_equal(&hash(&a), &hash(&b)));
    }
}
