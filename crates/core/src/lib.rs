//! Signing and verification of cdhooks webhooks, and the event model they carry.
//!
//! Every part of cdhooks — the npm package (through wasm), the reference server and the
//! browser tool — signs and verifies through this crate, so it is kept small, exact and pure:
//! no I/O, no clock (time is always a parameter), no `std`.
//!
//! # Layout
//! - [`legacy`]: the provider docs' scheme — `X-Webhook-Signature` is the lowercase hex
//!   HMAC-SHA256 of the raw body, keyed with the secret's bytes.
//! - [`standard`]: Standard Webhooks v1 — `webhook-id`, `webhook-timestamp` and
//!   `webhook-signature: v1,<base64>` over `{id}.{timestamp}.{payload}`, which adds replay
//!   protection.
//! - `asymmetric` (feature `ed25519`): Standard Webhooks `v1a`, Ed25519 signatures that only
//!   the sender can make, verified with a `whpk_` public key.
//! - [`catalog`]: the nine event types and their descriptions.
//! - [`pattern`]: subscription patterns (`server.started`, `server.*`, `*`).
//! - [`timestamp`]: RFC 3339 UTC formatting of Unix seconds, without a clock.
//! - [`event`] (feature `alloc`): the `{"id","type","created_at","data"}` envelope and ids.
//!
//! # Signing and verifying with the docs' scheme
//! ```
//! use cdhooks_core::legacy;
//!
//! let body = br#"{"id":"evt_abc123","type":"server.started"}"#;
//! let signature = legacy::sign_hex(b"your_webhook_secret", body);
//! assert!(legacy::verify(body, signature.as_str().as_bytes(), b"your_webhook_secret").is_ok());
//! assert!(legacy::verify(body, b"sha256=00", b"your_webhook_secret").is_err());
//! ```
//!
//! # Signing and verifying with Standard Webhooks v1
//! ```
//! use cdhooks_core::standard::{StandardVerifier, DEFAULT_TOLERANCE_SECONDS};
//!
//! let verifier = StandardVerifier::new("your_webhook_secret").unwrap();
//! let header = verifier.sign_header("evt_abc123", 1_736_937_000, b"{}");
//! let checked = verifier.verify(
//!     "evt_abc123",
//!     "1736937000",
//!     header.as_str(),
//!     b"{}",
//!     1_736_937_010, // now, from the caller's clock
//!     DEFAULT_TOLERANCE_SECONDS,
//! );
//! assert_eq!(checked, Ok(1_736_937_000));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(feature = "ed25519")]
pub mod asymmetric;
pub mod catalog;
#[cfg(feature = "alloc")]
pub mod event;
mod keyed;
pub mod legacy;
pub mod pattern;
pub mod standard;
pub mod timestamp;
