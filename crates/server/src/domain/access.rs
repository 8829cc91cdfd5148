//! Who may do what: the three kinds of credential and the one table of what each may do.
//!
//! - A **platform key** (`cdhp_…`) is the provider's backend: it manages accounts, emits
//!   events for any of them and acts on any account's webhooks and deliveries (naming the
//!   account with the `Cdhooks-Account` header).
//! - An **account key** (`cdh_…`) is a customer's, with a [`KeyScope`]: `read` only reads;
//!   `manage` also manages the account's webhooks, keys and inboxes and sends test events;
//!   `full` also emits real events — for a server run by one party for itself (`dev`, and the
//!   command line's `accounts create`), never handed out by the platform API.
//! - A **portal session** (`cdhs_…`) opens the dashboard for one account from a link, for a
//!   limited time: `manage` minus account credentials (it cannot make keys or inboxes; it
//!   may rotate its webhooks' signing secrets), or read-only.
//!
//! The HTTP layer asks [`Role::permits`] before a handler runs; nothing else decides access.

use super::ValidationError;

/// Prefix of platform keys.
pub const PLATFORM_KEY_PREFIX: &str = "cdhp_";
/// Prefix of portal session tokens.
pub const PORTAL_TOKEN_PREFIX: &str = "cdhs_";

/// What an account key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyScope {
    /// Reads the account's webhooks, deliveries, events and keys.
    Read,
    /// Also changes them, makes keys and inboxes, and sends test events.
    Manage,
    /// Also emits real events for the account.
    Full,
}

impl KeyScope {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Read => "read",
            KeyScope::Manage => "manage",
            KeyScope::Full => "full",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<KeyScope> {
        match name {
            "read" => Some(KeyScope::Read),
            "manage" => Some(KeyScope::Manage),
            "full" => Some(KeyScope::Full),
            _ => None,
        }
    }

    /// Parses a requested scope, with the error a request gets.
    pub fn requested(name: &str) -> Result<KeyScope, ValidationError> {
        KeyScope::parse(name).ok_or_else(|| {
            ValidationError::new(
                "invalid_scope",
                format!("unknown scope `{name}`; one of `read`, `manage`, `full`"),
            )
            .field("scope")
        })
    }
}

/// Who a request is, once its credential was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The provider's backend.
    Platform,
    /// A customer's key.
    Account(KeyScope),
    /// A dashboard opened from a portal link.
    Portal {
        /// Whether it may only read.
        read_only: bool,
    },
}

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read an account's objects.
    Read,
    /// Change an account's webhooks (their signing secrets too), retry or recover deliveries.
    Write,
    /// Send a test event (`evt_test_…`) to one of the account's webhooks.
    SendTestEvent,
    /// Emit a real event for an account.
    Emit,
    /// Create or revoke an account's API keys, create inboxes.
    ManageCredentials,
    /// Create, change and delete accounts, open portal sessions, manage platform keys.
    Administer,
}

impl Role {
    /// Whether this role may do `action` (on the account it acts for).
    pub fn permits(self, action: Action) -> bool {
        use Action::*;
        match self {
            Role::Platform => true,
            Role::Account(scope) => match action {
                Read => true,
                Write | SendTestEvent | ManageCredentials => scope >= KeyScope::Manage,
                Emit => scope == KeyScope::Full,
                Administer => false,
            },
            Role::Portal { read_only } => match action {
                Read => true,
                Write | SendTestEvent => !read_only,
                Emit | ManageCredentials | Administer => false,
            },
        }
    }

    /// Why this role may not do `action`, in words a caller can act on.
    pub fn refusal(self, action: Action) -> String {
        match (self, action) {
            (_, Action::Administer) => {
                "only a platform key (cdhp_…) may manage accounts, portal sessions, platform keys and the event catalog"
                    .to_owned()
            }
            (Role::Account(_), Action::Emit) => {
                "this key cannot emit real events: the provider emits them with a platform key \
                 (POST /v1/accounts/{id}/events); a key with scope `manage` sends test events \
                 (POST /v1/webhooks/{id}/test)"
                    .to_owned()
            }
            (Role::Portal { .. }, Action::Emit | Action::ManageCredentials) => {
                "a portal session cannot emit real events or make API keys or inboxes"
                    .to_owned()
            }
            (Role::Portal { .. }, _) => "this portal session is read-only".to_owned(),
            (Role::Account(scope), _) => {
                format!("this key has scope `{}`: it may only read", scope.as_str())
            }
            (Role::Platform, _) => String::new(),
        }
    }

    /// Whether this role may make an account key of `scope`: never one that can do more
    /// than the caller (a platform key may make any).
    pub fn may_grant(self, scope: KeyScope) -> bool {
        match self {
            Role::Platform => true,
            Role::Account(own) => own >= KeyScope::Manage && scope <= own,
            Role::Portal { .. } => false,
        }
    }
}

/// A portal session lasts an hour unless asked otherwise…
pub const PORTAL_TTL_DEFAULT_S: i64 = 3_600;
/// …at least a minute…
pub const PORTAL_TTL_MIN_S: i64 = 60;
/// …and at most a day.
pub const PORTAL_TTL_MAX_S: i64 = 86_400;

/// When a portal session opened at `now_ms` for `ttl_seconds` (or the default) ends.
pub fn portal_expiry(now_ms: i64, ttl_seconds: Option<i64>) -> Result<i64, ValidationError> {
    let ttl = ttl_seconds.unwrap_or(PORTAL_TTL_DEFAULT_S);
    if !(PORTAL_TTL_MIN_S..=PORTAL_TTL_MAX_S).contains(&ttl) {
        return Err(ValidationError::new(
            "invalid_ttl",
            format!("`ttl_seconds` must be {PORTAL_TTL_MIN_S} to {PORTAL_TTL_MAX_S}"),
        )
        .field("ttl_seconds"));
    }
    Ok(now_ms + ttl * 1000)
}

/// Whether a portal session ending at `expires_at_ms` still opens at `now_ms`.
pub fn session_open(expires_at_ms: i64, now_ms: i64) -> bool {
    now_ms < expires_at_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_does_what_its_table_says() {
        use Action::*;
        let all = [
            Read,
            Write,
            SendTestEvent,
            Emit,
            ManageCredentials,
            Administer,
        ];
        let allowed = |role: Role| -> Vec<Action> {
            all.iter().copied().filter(|a| role.permits(*a)).collect()
        };
        assert_eq!(allowed(Role::Platform), all.to_vec());
        assert_eq!(
            allowed(Role::Account(KeyScope::Full)),
            vec![Read, Write, SendTestEvent, Emit, ManageCredentials]
        );
        assert_eq!(
            allowed(Role::Account(KeyScope::Manage)),
            vec![Read, Write, SendTestEvent, ManageCredentials]
        );
        assert_eq!(allowed(Role::Account(KeyScope::Read)), vec![Read]);
        assert_eq!(
            allowed(Role::Portal { read_only: false }),
            vec![Read, Write, SendTestEvent]
        );
        assert_eq!(allowed(Role::Portal { read_only: true }), vec![Read]);
        for role in [
            Role::Account(KeyScope::Manage),
            Role::Portal { read_only: true },
        ] {
            assert!(!role.refusal(Emit).is_empty());
        }
    }

    #[test]
    fn keys_never_grant_more_than_their_maker() {
        assert!(Role::Platform.may_grant(KeyScope::Full));
        assert!(Role::Account(KeyScope::Manage).may_grant(KeyScope::Read));
        assert!(Role::Account(KeyScope::Manage).may_grant(KeyScope::Manage));
        assert!(!Role::Account(KeyScope::Manage).may_grant(KeyScope::Full));
        assert!(!Role::Account(KeyScope::Read).may_grant(KeyScope::Read));
        assert!(!Role::Portal { read_only: false }.may_grant(KeyScope::Read));
        for scope in [KeyScope::Read, KeyScope::Manage, KeyScope::Full] {
            assert_eq!(KeyScope::parse(scope.as_str()), Some(scope));
        }
        assert!(KeyScope::requested("admin").is_err());
    }

    #[test]
    fn portal_sessions_last_an_hour_by_default_and_a_day_at_most() {
        assert_eq!(portal_expiry(1_000, None), Ok(1_000 + 3_600_000));
        assert_eq!(portal_expiry(0, Some(60)), Ok(60_000));
        assert!(portal_expiry(0, Some(59)).is_err());
        assert!(portal_expiry(0, Some(86_401)).is_err());
        assert!(session_open(2_000, 1_999));
        assert!(!session_open(2_000, 2_000));
    }
}
