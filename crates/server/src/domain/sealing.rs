//! Webhook signing secrets at rest: with `--secret-key-file`, each secret is stored sealed
//! (XChaCha20-Poly1305, a fresh random nonce per seal) and opened only where it signs or is
//! shown once; without a key secrets are stored as given. Stored values that are not sealed
//! (written before a key was configured) still open, so a key can be introduced at any time.
//! The stores never see the key: they keep what they are given.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::webhook::WebhookSecret;

/// Marks a sealed value: `enc:v1:` + base64(nonce ‖ ciphertext).
const SEALED_PREFIX: &str = "enc:v1:";

/// A SQL `LIKE` pattern that matches sealed values, for a store to find one.
pub const SEALED_LIKE: &str = "enc:v1:%";

/// Why a stored secret cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// It is sealed but the server has no key.
    #[error("the secret is encrypted but no --secret-key-file is configured")]
    NoKey,
    /// It is sealed under another key, or damaged.
    #[error("the secret cannot be decrypted with the configured key")]
    WrongKey,
}

/// Seals and opens secrets, with or without a key.
#[derive(Clone, Default)]
pub struct Sealer(Option<XChaCha20Poly1305>);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Sealer(key)"
        } else {
            "Sealer(none)"
        })
    }
}

impl Sealer {
    /// Without a key: secrets are stored as given.
    pub fn none() -> Self {
        Sealer(None)
    }

    /// From a key file's contents: 32 bytes as base64 (e.g. `head -c 32 /dev/urandom | base64`).
    pub fn from_key_text(text: &str) -> Result<Self, String> {
        let key = BASE64
            .decode(text.trim())
            .map_err(|e| format!("the key is not base64: {e}"))?;
        if key.len() != 32 {
            return Err(format!("the key must be 32 bytes, got {}", key.len()));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|e| e.to_string())?;
        Ok(Sealer(Some(cipher)))
    }

    /// Whether secrets are sealed.
    pub fn has_key(&self) -> bool {
        self.0.is_some()
    }

    /// The form to store.
    pub fn seal(&self, secret: &WebhookSecret) -> WebhookSecret {
        let Some(cipher) = &self.0 else {
            return secret.clone();
        };
        let nonce: [u8; 24] = super::random_bytes::<24>();
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), secret.expose().as_bytes())
            .unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        WebhookSecret::from_stored(format!("{SEALED_PREFIX}{}", BASE64.encode(bytes)))
    }

    /// The secret a stored value holds.
    pub fn open(&self, stored: &WebhookSecret) -> Result<WebhookSecret, OpenError> {
        let Some(encoded) = stored.expose().strip_prefix(SEALED_PREFIX) else {
            return Ok(stored.clone());
        };
        let cipher = self.0.as_ref().ok_or(OpenError::NoKey)?;
        let bytes = BASE64.decode(encoded).map_err(|_| OpenError::WrongKey)?;
        if bytes.len() < 24 {
            return Err(OpenError::WrongKey);
        }
        let (nonce, sealed) = bytes.split_at(24);
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), sealed)
            .map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(plain)
            .map(WebhookSecret::from_stored)
            .map_err(|_| OpenError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let key = BASE64.encode([7u8; 32]);
        let sealer = Sealer::from_key_text(&key).unwrap();
        let secret = WebhookSecret::from_stored("your_webhook_secret".to_owned());
        let sealed = sealer.seal(&secret);
        assert!(sealed.expose().starts_with(SEALED_PREFIX));
        assert!(!sealed.expose().contains("your_webhook_secret"));
        assert_ne!(sealer.seal(&secret), sealed, "a fresh nonce each time");
        assert_eq!(sealer.open(&sealed).unwrap(), secret);
        let other = Sealer::from_key_text(&BASE64.encode([8u8; 32])).unwrap();
        assert_eq!(other.open(&sealed), Err(OpenError::WrongKey));
        assert_eq!(Sealer::none().open(&sealed), Err(OpenError::NoKey));
        // Unsealed values (stored before a key was set) open as they are.
        assert_eq!(sealer.open(&secret).unwrap(), secret);
        assert_eq!(Sealer::none().seal(&secret), secret);
        assert!(Sealer::from_key_text("c2hvcnQ=").is_err());
    }
}
