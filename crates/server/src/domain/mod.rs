//! The rules of the product, free of HTTP and SQL: what a valid webhook or event is, which
//! targets may be dialled, the delivery lifecycle (retry, give up, disable, pause, resume),
//! which due deliveries a process claims, what the disabling email says.
//!
//! Everything here is a pure function or a validated type, tested at its edges; the HTTP
//! layer parses into these types, and the delivery engine asks them for decisions.

pub mod access;
pub mod account;
pub mod api_key;
pub mod claim;
pub mod delivery;
pub mod email;
pub mod event;
pub mod event_type;
pub mod filter;
pub mod health;
pub mod inbox;
pub mod retention;
pub mod retry;
pub mod sealing;
pub mod target;
pub mod webhook;

use std::fmt;

/// Input that breaks a rule: a stable code, a message for people, and the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Stable machine-readable code, e.g. `invalid_url`.
    pub code: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<&'static str>,
}

impl ValidationError {
    /// A validation error with a code and a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the field at fault.
    pub fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A fresh object id with the given prefix (`evt_`, `wh_`, …).
pub fn new_id(prefix: &str) -> String {
    cdhooks_core::event::format_id(prefix, &random_bytes::<16>())
}
