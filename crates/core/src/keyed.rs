//! HMAC-SHA256 keyed once, shared by both signature schemes.
//!
//! Keying absorbs the secret into the inner and outer hash states; every MAC after that only
//! copies those states. Both schemes go through this one function, so the npm package's wasm
//! carries one copy of the HMAC finalisation code instead of one per entry point.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// An HMAC-SHA256 key with its hash states prepared.
#[derive(Clone)]
pub(crate) struct KeyedMac(HmacSha256);

impl KeyedMac {
    /// Keys with `key` (any length; HMAC hashes keys longer than a block first).
    pub(crate) fn new(key: &[u8]) -> Self {
        match HmacSha256::new_from_slice(key) {
            Ok(mac) => KeyedMac(mac),
            Err(_) => unreachable_key_length(),
        }
    }

    /// The MAC of the concatenation of `parts`.
    #[inline(never)]
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

#[cold]
fn unreachable_key_length() -> ! {
    panic!("HMAC-SHA256 accepts keys of any length")
}
