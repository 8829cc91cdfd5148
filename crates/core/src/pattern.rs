//! Subscription patterns: which event types a webhook receives.
//!
//! A webhook's `events` list holds exact names (`server.started`), `*` (everything), or
//! `prefix.*` (every type under the prefix: `server.*` includes `server.backup.completed`).
//! Patterns are checked against the [catalog] when parsed, so a typo is an
//! error at registration, reported by name, instead of a webhook that silently never fires.

use core::fmt;

use crate::catalog::{self, CATALOG};

/// A parsed subscription pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPattern<'a> {
    /// `*`: every event type.
    All,
    /// `prefix.*`: every type whose name starts with `prefix.`; holds the prefix.
    Prefix(&'a str),
    /// One exact, catalogued event type.
    Exact(&'static str),
}

/// Why a pattern was refused; each variant holds the offending pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError<'a> {
    /// Not `*`, a name matching `^[a-z0-9_]+(\.[a-z0-9_]+)*$`, or such a name followed by `.*`.
    Malformed(&'a str),
    /// Well formed, but no catalogued event type matches it.
    Unknown(&'a str),
}

impl fmt::Display for PatternError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Malformed(p) => write!(
                f,
                "`{p}` is not an event type name (lowercase words separated by dots), `prefix.*` or `*`"
            ),
            PatternError::Unknown(p) => write!(f, "unknown event type `{p}`"),
        }
    }
}

impl core::error::Error for PatternError<'_> {}

impl<'a> EventPattern<'a> {
    /// Parses and checks one pattern against the catalog.
    pub fn parse(pattern: &'a str) -> Result<Self, PatternError<'a>> {
        if pattern == "*" {
            return Ok(EventPattern::All);
        }
        if let Some(prefix) = pattern.strip_suffix(".*") {
            if !catalog::is_valid_name(prefix) {
                return Err(PatternError::Malformed(pattern));
            }
            let parsed = EventPattern::Prefix(prefix);
            return if CATALOG.iter().any(|info| parsed.matches(info.name)) {
                Ok(parsed)
            } else {
                Err(PatternError::Unknown(pattern))
            };
        }
        if !catalog::is_valid_name(pattern) {
            return Err(PatternError::Malformed(pattern));
        }
        catalog::lookup(pattern)
            .map(|info| EventPattern::Exact(info.name))
            .ok_or(PatternError::Unknown(pattern))
    }

    /// Whether an event of type `event_type` is covered by this pattern.
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventPattern::All => true,
            EventPattern::Exact(name) => *name == event_type,
            EventPattern::Prefix(prefix) => event_type
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
        }
    }
}

/// Whether any of `patterns` (already validated strings) covers `event_type`.
///
/// Patterns that fail to parse match nothing.
pub fn any_matches<'p>(patterns: impl IntoIterator<Item = &'p str>, event_type: &str) -> bool {
    patterns
        .into_iter()
        .filter_map(|p| EventPattern::parse(p).ok())
        .any(|p| p.matches(event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_covers_nested_types_only_on_segment_boundaries() {
        let server = EventPattern::parse("server.*").unwrap();
        assert!(server.matches("server.started"));
        assert!(server.matches("server.backup.completed"));
        assert!(!server.matches("serverless.started"));
        assert!(!server.matches("server"));
        let backup = EventPattern::parse("server.backup.*").unwrap();
        assert!(backup.matches("server.backup.completed"));
        assert!(!backup.matches("server.started"));
    }

    #[test]
    fn errors_name_the_pattern() {
        assert_eq!(
            EventPattern::parse("server.foo"),
            Err(PatternError::Unknown("server.foo"))
        );
        assert_eq!(
            EventPattern::parse("nope.*"),
            Err(PatternError::Unknown("nope.*"))
        );
        assert_eq!(
            EventPattern::parse("server.started.*"),
            Err(PatternError::Unknown("server.started.*"))
        );
        for bad in [
            "",
            "Server.started",
            "server.",
            "*.started",
            "server.**",
            " *",
            "server*",
        ] {
            assert_eq!(
                EventPattern::parse(bad),
                Err(PatternError::Malformed(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn all_and_exact() {
        assert!(EventPattern::parse("*")
            .unwrap()
            .matches("billing.payment.failed"));
        let exact = EventPattern::parse("server.error").unwrap();
        assert!(exact.matches("server.error"));
        assert!(!exact.matches("server.errors"));
        assert!(any_matches(
            ["server.started", "billing.*"],
            "billing.payment.failed"
        ));
        assert!(!any_matches(["server.started"], "server.stopped"));
    }
}
