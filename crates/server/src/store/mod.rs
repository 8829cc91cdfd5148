//! Persistence: one interface split by role, and its two implementations — the embedded
//! SQLite file (`sqlite`) and PostgreSQL shared by several server processes (`postgres`). The
//! roles: [`Directory`] (accounts as the provider manages them, platform keys, portal
//! sessions), [`AccountKeys`], [`Webhooks`], [`Events`] (emission), [`History`] (events and
//! deliveries as customers see and steer them), [`DeliveryQueue`] (what the engine claims and
//! records), [`Outbox`] (what the mailer sends), [`Retention`], [`Upkeep`] (readiness,
//! figures), [`Inboxes`] (and the live relay) and [`EventTypes`] (the catalog); [`Store`] is all of them at once. The store contract
//! suite (`tests/store_contract.rs`) runs against both implementations. The engine assumes
//! nothing of either:
//! - a claimed delivery carries a lease (`claimed_until`) and a claim token, and every later
//!   change to it is conditional on that token — a worker that lost its lease changes nothing;
//! - claims follow `domain::claim`: per-webhook limits counted over every process, webhooks
//!   served round-robin, only what can start at once;
//! - an event and its deliveries are written in one transaction, before the API answers; a
//!   write that fails reports [`StoreError::Full`] or [`StoreError::Unavailable`] and leaves
//!   nothing half-written or falsely acknowledged;
//! - the decisions (what an attempt, a disable, a resume or a manual retry does) come from
//!   `domain::delivery`; a store loads what they need and applies them as conditional writes.
//!   Disabling a webhook, pausing its deliveries and queueing the email happen in the same
//!   transaction that records the final failed attempt.

pub mod directory;
pub mod event_types;
pub mod events;
pub mod history;
pub mod inboxes;
pub mod keys;
pub mod lifecycle;
mod migrations;
pub mod model;
pub mod outbox;
pub mod postgres;
pub mod queue;
pub mod retention;
pub mod sqlite;
pub(crate) mod statements;
pub(crate) mod subscriber;
pub mod upkeep;
pub mod webhooks;

pub use directory::Directory;
pub use event_types::EventTypes;
pub use events::Events;
pub use history::History;
pub use inboxes::{Inboxes, LiveRelay};
pub use keys::AccountKeys;
pub use model::*;
pub use outbox::Outbox;
pub use queue::{DeliveryQueue, WorkSignal};
pub use retention::Retention;
pub use upkeep::Upkeep;
pub use webhooks::Webhooks;

use crate::domain::email::EmailNext;
use crate::domain::event::NewEvent;
use crate::domain::inbox::InboxKeep;
use crate::domain::webhook::{NewWebhook, WebhookChange, WebhookSecret};

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such object, or it belongs to another account.
    #[error("not found")]
    NotFound,
    /// An object with this id exists already.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The account holds as many of these (`API keys`, `inboxes`) as it may.
    #[error("the account holds the most {0} it may")]
    LimitReached(&'static str),
    /// The operation does not fit the object's state (e.g. retrying a succeeded delivery).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// The disk or the database is full; nothing of the operation was written.
    #[error("storage full: {0}")]
    Full(String),
    /// The database failed or cannot be reached (or the store is stopping); nothing of the
    /// operation was written.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Another server process holds the embedded store's data dir.
    #[error("another cdhooks server is using {0}")]
    Locked(String),
    /// Migrations failed (what the migrator said).
    #[error("migration: {0}")]
    Migration(String),
}

impl StoreError {
    /// The same failure again, for every caller of a batch that failed as a whole.
    pub fn for_another_caller(&self) -> StoreError {
        match self {
            StoreError::Full(message) => StoreError::Full(message.clone()),
            other => StoreError::Unavailable(other.to_string()),
        }
    }

    /// Whether the failure is the storage's (full or unavailable), not the request's.
    pub fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            StoreError::Full(_)
                | StoreError::Unavailable(_)
                | StoreError::Locked(_)
                | StoreError::Migration(_)
        )
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migration(error.to_string())
    }
}

/// SQLite's primary result code for a full disk or database (`SQLITE_FULL`).
const SQLITE_FULL: i64 = 13;
/// PostgreSQL's SQLSTATE class 53 (insufficient resources): disk full, out of memory.
const POSTGRES_INSUFFICIENT_RESOURCES: &str = "53";

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let full = match &error {
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                code.parse::<i64>().is_ok_and(|n| n & 0xff == SQLITE_FULL)
                    || code.starts_with(POSTGRES_INSUFFICIENT_RESOURCES)
            }),
            sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
            _ => false,
        };
        if full {
            StoreError::Full(error.to_string())
        } else {
            StoreError::Unavailable(error.to_string())
        }
    }
}

/// The error of a store whose writer stopped (the server is shutting down).
pub fn writer_gone() -> StoreError {
    StoreError::Unavailable("the store is shutting down".to_owned())
}

/// Result alias of the store layer.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the server persists: every role at once, for the parts that use several (the
/// application's use cases, the server's start). A part that needs one role asks for it.
pub trait Store:
    Directory
    + EventTypes
    + AccountKeys
    + Webhooks
    + Events
    + History
    + DeliveryQueue
    + Outbox
    + Retention
    + Upkeep
    + Inboxes
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: Directory
        + EventTypes
        + AccountKeys
        + Webhooks
        + Events
        + History
        + DeliveryQueue
        + Outbox
        + Retention
        + Upkeep
        + Inboxes
        + Send
        + Sync
        + 'static
{
}
