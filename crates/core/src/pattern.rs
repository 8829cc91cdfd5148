//! Subscription patterns: which event types a webhook receives.
//!
//! A webhook's `events` list holds exact names (`server.started`), `*` (everything), or
//! `prefix.*` (every type under the prefix: `server.*` includes `server.backup.completed`).
//! A pattern is checked against a catalog when a webhook subscribes ([`EventPattern::parse_in`];
//! [`EventPattern::parse`] uses the docs' nine types), so a typo is an error at registration,
//! reported by name, instead of a webhook that silently never fires. Matching needs only the
//! syntax ([`any_matches`]), so a pattern keeps matching types a catalog gains later.

use core::fmt;

use crate::catalog::{self, CATALOG};

/// A parsed subscription pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPattern<'a> {
    /// `*`: every event type.
    All,
    /// `prefix.*`: every type whose name starts with `prefix.`; holds the prefix.
    Prefix(&'a str),
    /// One exact event type name.
    Exact(&'a str),
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
    /// Parses one pattern and checks it against the docs' nine types ([`CATALOG`]).
    pub fn parse(pattern: &'a str) -> Result<Self, PatternError<'a>> {
        Self::parse_in(pattern, CATALOG.iter().map(|info| info.name))
    }

    /// Parses one pattern and checks that it covers at least one of `names` (a catalog's type
    /// names): `*` always does, `prefix.*` must cover one, an exact name must be one.
    pub fn parse_in<'n>(
        pattern: &'a str,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Self, PatternError<'a>> {
        let parsed = Self::parse_syntax(pattern)?;
        match parsed {
            EventPattern::All => Ok(parsed),
            _ if names.into_iter().any(|name| parsed.matches(name)) => Ok(parsed),
            _ => Err(PatternError::Unknown(pattern)),
        }
    }

    /// Parses one pattern by its syntax alone, whatever types exist.
    pub fn parse_syntax(pattern: &'a str) -> Result<Self, PatternError<'a>> {
        if pattern == "*" {
            return Ok(EventPattern::All);
        }
        let (name, parsed) = match pattern.strip_suffix(".*") {
            Some(prefix) => (prefix, EventPattern::Prefix(prefix)),
            None => (pattern, EventPattern::Exact(pattern)),
        };
        if catalog::is_valid_name(name) {
            Ok(parsed)
        } else {
            Err(PatternError::Malformed(pattern))
        }
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

/// Whether any of `patterns` (already validated strings) covers `event_type`, by syntax alone:
/// `dns.*` covers `dns.zone.updated` whether or not the type existed when it subscribed.
///
/// Patterns that fail to parse match nothing.
pub fn any_matches<'p>(patterns: impl IntoIterator<Item = &'p str>, event_type: &str) -> bool {
    patterns
        .into_iter()
        .filter_map(|p| EventPattern::parse_syntax(p).ok())
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

    #[test]
    fn a_catalog_of_its_own_decides_what_is_known() {
        let names = ["dns.zone.updated", "server.started"];
        assert_eq!(
            EventPattern::parse_in("dns.*", names),
            Ok(EventPattern::Prefix("dns"))
        );
        assert_eq!(
            EventPattern::parse_in("dns.zone.updated", names),
            Ok(EventPattern::Exact("dns.zone.updated"))
        );
        assert_eq!(
            EventPattern::parse_in("server.stopped", names),
            Err(PatternError::Unknown("server.stopped"))
        );
        assert_eq!(EventPattern::parse_in("*", []), Ok(EventPattern::All));
        // Matching needs no catalog: a type added after the subscription is covered.
        assert!(any_matches(["dns.*"], "dns.zone.updated"));
        assert!(any_matches(
            ["ssl.certificate.expiring"],
            "ssl.certificate.expiring"
        ));
    }
}
