//! What a valid webhook registration or change is.
//!
//! Requests are parsed into [`NewWebhook`] and [`WebhookChange`] here, so the store and the
//! delivery engine only ever see checked values: a permitted URL, a non-empty list of
//! catalogued patterns, a strong secret.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use cdhooks_core::standard::SECRET_PREFIX;
use serde::Deserialize;

use super::event_type::Catalog;
use super::filter::EventFilter;
use super::target::{TargetPolicy, WebhookUrl};
use super::ValidationError;

/// The shortest raw secret accepted (the docs' `your_webhook_secret` has 19 characters).
pub const MIN_SECRET_LEN: usize = 16;
/// The longest raw secret accepted.
pub const MAX_SECRET_LEN: usize = 256;
/// The most patterns one webhook may list.
pub const MAX_PATTERNS: usize = 50;
/// The longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// The body of `POST /v1/webhooks`, as the docs show it plus an optional description.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries go.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// The signing secret; generated when absent.
    pub secret: Option<String>,
    /// A note for people.
    pub description: Option<String>,
    /// `ed25519` adds Standard Webhooks `v1a` signatures, which only the server can make: the
    /// answer carries the `public_key` (`whpk_…`) receivers verify with. Default `hmac`.
    pub signing: Option<String>,
    /// Conditions on `data` fields an event must meet to reach the webhook, e.g.
    /// `{"data.server_id": ["srv_1", "srv_2"], "data.labels.env": "production"}`: equality
    /// (a string or number) or membership (a list), all of them. Each field must be in the
    /// schema of a subscribed type.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
}

/// The body of `PATCH /v1/webhooks/{id}`: every field optional.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookRequest {
    /// A new target URL.
    pub url: Option<String>,
    /// New subscription patterns.
    pub events: Option<Vec<String>>,
    /// A new description (`null` clears it).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// `true` re-enables a disabled webhook and resumes its paused deliveries.
    pub enabled: Option<bool>,
    /// A new filter on `data` fields (`null` or `{}` removes it).
    #[serde(default, deserialize_with = "double_option_value")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<Option<serde_json::Value>>,
}

/// The body of `POST /v1/webhooks/{id}/rotate-secret`: a new secret, or none to generate one.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {
    /// The new secret; generated when absent.
    pub secret: Option<String>,
    /// How long the previous secret keeps signing beside the new one, in seconds: 0 to
    /// 2,592,000 (30 days); 86,400 (a day) when absent.
    #[serde(default, deserialize_with = "whole_seconds")]
    pub grace_seconds: Option<u64>,
}

/// A whole number of seconds, also written as `60.0` (JSON does not tell the two apart).
pub(crate) fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e15)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| {
                D::Error::custom(format!("expected a whole number of seconds, got {n}"))
            }),
    }
}

/// The body of `POST /v1/webhooks/{id}/recover`: the window of failed deliveries to send
/// again, by when they were created.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// RFC 3339 (`2025-01-15T10:30:00Z`): deliveries created at or after this.
    #[schema(format = DateTime)]
    pub since: String,
    /// RFC 3339: deliveries created before this; now when absent.
    #[schema(format = DateTime)]
    pub until: Option<String>,
}

impl RecoverRequest {
    /// The window `[since, until)` in Unix ms; a window that does not end after it starts is
    /// refused.
    pub fn window(&self, now_ms: i64) -> Result<(i64, i64), ValidationError> {
        let at = |text: &str, field: &'static str| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| {
                    ValidationError::new(
                        "invalid_request",
                        format!("`{field}` must be an RFC 3339 time such as 2025-01-15T10:30:00Z"),
                    )
                    .field(field)
                })
        };
        let since = at(&self.since, "since")?;
        let (until, field) = match &self.until {
            Some(until) => (at(until, "until")?, "until"),
            None => (now_ms + 1, "since"),
        };
        // A window that ends where or before it starts is a mistake (the two times swapped),
        // not a request to recover nothing.
        if until <= since {
            let message = if field == "until" {
                "`until` must be later than `since`"
            } else {
                "`since` is in the future: there is nothing to recover yet"
            };
            return Err(ValidationError::new("invalid_request", message).field(field));
        }
        Ok((since, until))
    }
}

/// The most rotated-out secrets that may sign at once beside the current one: each adds a
/// signature to every delivery.
pub const MAX_PREVIOUS_SECRETS: usize = 10;

/// The previous secrets (or Ed25519 keys) after a rotation at `now_ms` that retires `current`
/// (none: a webhook gets its first key) until `grace_until_ms` (none: at once): those still
/// signing keep their own grace period, oldest first, and `current` joins them last. `None`
/// when more than [`MAX_PREVIOUS_SECRETS`] would sign at once.
pub fn previous_after_rotation(
    current: Option<&WebhookSecret>,
    previous: &[crate::store::PreviousSecret],
    grace_until_ms: Option<i64>,
    now_ms: i64,
) -> Option<Vec<crate::store::PreviousSecret>> {
    let mut kept: Vec<_> = previous
        .iter()
        .filter(|p| p.signs_at(now_ms))
        .cloned()
        .collect();
    if let (Some(current), Some(until_ms)) =
        (current, grace_until_ms.filter(|until| *until > now_ms))
    {
        kept.push(crate::store::PreviousSecret {
            secret: current.clone(),
            until_ms,
        });
    }
    (kept.len() <= MAX_PREVIOUS_SECRETS).then_some(kept)
}

/// A webhook's Ed25519 keys: the current one (if it signs with `v1a`) and those rotated out,
/// each signing until its grace period ends.
#[derive(Debug, Default)]
pub struct SigningKeys {
    /// The current key.
    pub current: Option<cdhooks_core::asymmetric::WebhookSigningKey>,
    /// Rotated-out keys with when each stops signing (Unix ms), oldest first.
    pub previous: Vec<(cdhooks_core::asymmetric::WebhookSigningKey, i64)>,
}

impl SigningKeys {
    /// Opens a webhook's stored (sealed) keys: the current one and the rotated-out ones; an
    /// error names what cannot be opened or read.
    pub fn open(
        sealer: &crate::domain::sealing::Sealer,
        current: Option<&WebhookSecret>,
        previous: &[crate::store::PreviousSecret],
    ) -> Result<SigningKeys, String> {
        let read = |stored: &WebhookSecret| -> Result<_, String> {
            let opened = sealer.open(stored).map_err(|e| e.to_string())?;
            cdhooks_core::asymmetric::WebhookSigningKey::parse(opened.expose())
                .map_err(|e| format!("the stored signing key is unreadable: {e}"))
        };
        Ok(SigningKeys {
            current: current.map(read).transpose()?,
            previous: previous
                .iter()
                .map(|p| Ok((read(&p.secret)?, p.until_ms)))
                .collect::<Result<_, String>>()?,
        })
    }

    /// The keys that sign at `at_ms`: the current first, then the rotated-out ones still in
    /// their grace period.
    pub fn signing_at(&self, at_ms: i64) -> Vec<&cdhooks_core::asymmetric::WebhookSigningKey> {
        self.current
            .iter()
            .chain(
                self.previous
                    .iter()
                    .filter(|(_, until_ms)| at_ms < *until_ms)
                    .map(|(key, _)| key),
            )
            .collect()
    }
}

/// The grace period of a rotation when none is given: a day.
pub const DEFAULT_GRACE_SECONDS: u64 = 86_400;
/// The longest grace period: 30 days.
pub const MAX_GRACE_SECONDS: u64 = 30 * 86_400;

impl RotateSecretRequest {
    /// Until when the previous secret signs (Unix ms) for a rotation at `now_ms`; `None` for
    /// a rotation without overlap.
    pub fn grace_until(&self, now_ms: i64) -> Result<Option<i64>, ValidationError> {
        grace_until(self.grace_seconds, now_ms)
    }
}

/// The body of `POST /v1/webhooks/{id}/rotate-signing-key`: a new Ed25519 key pair, generated
/// by the server (its private key never leaves it).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSigningKeyRequest {
    /// How long the previous key keeps signing (a second `v1a` entry) beside the new one, in
    /// seconds: 0 to 2,592,000 (30 days); 86,400 (a day) when absent.
    #[serde(default, deserialize_with = "whole_seconds")]
    pub grace_seconds: Option<u64>,
}

impl RotateSigningKeyRequest {
    /// Until when the previous key signs (Unix ms) for a rotation at `now_ms`.
    pub fn grace_until(&self, now_ms: i64) -> Result<Option<i64>, ValidationError> {
        grace_until(self.grace_seconds, now_ms)
    }
}

/// Until when a rotated-out secret or key signs (Unix ms) for a rotation at `now_ms` with
/// `grace_seconds` (a day when absent); `None` for a rotation without overlap.
fn grace_until(grace_seconds: Option<u64>, now_ms: i64) -> Result<Option<i64>, ValidationError> {
    match grace_seconds.unwrap_or(DEFAULT_GRACE_SECONDS) {
        0 => Ok(None),
        s if s <= MAX_GRACE_SECONDS => Ok(Some(now_ms + s as i64 * 1000)),
        _ => Err(ValidationError::new(
            "invalid_request",
            format!("grace_seconds must be 0 to {MAX_GRACE_SECONDS}"),
        )
        .field("grace_seconds")),
    }
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a string.
pub(crate) fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Tells a field set to `null` (`Some(None)`) from one left out (`None`), for any JSON value.
fn double_option_value<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<serde_json::Value>>, D::Error> {
    Option::<serde_json::Value>::deserialize(d).map(Some)
}

/// A checked registration.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// The target.
    pub url: WebhookUrl,
    /// The checked patterns, deduplicated, in the order given.
    pub events: Vec<String>,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// A note for people.
    pub description: Option<String>,
    /// The Ed25519 signing key (`whsk_…`), for a webhook signed with `v1a` too.
    pub signing_key: Option<WebhookSecret>,
    /// Conditions on `data` an event must meet to reach it.
    pub filter: Option<EventFilter>,
}

/// A fresh Ed25519 signing key, `whsk_` + base64 of a random seed.
pub fn generate_signing_key() -> WebhookSecret {
    WebhookSecret::from_stored(format!(
        "{}{}",
        cdhooks_core::asymmetric::SIGNING_KEY_PREFIX,
        BASE64.encode(super::random_bytes::<32>())
    ))
}

/// The public key (`whpk_…`) of a stored (opened) signing key, if it reads as one.
pub fn public_key_of(signing_key: &WebhookSecret) -> Option<String> {
    cdhooks_core::asymmetric::WebhookSigningKey::parse(signing_key.expose())
        .ok()
        .map(|key| key.public_key().encode())
}

impl NewWebhook {
    /// Checks a registration request.
    pub fn validate(
        request: CreateWebhookRequest,
        policy: &TargetPolicy,
        catalog: &Catalog,
    ) -> Result<Self, ValidationError> {
        let events = validate_patterns(request.events, catalog)?;
        let filter = match &request.filter {
            Some(filter) => EventFilter::parse(filter)?,
            None => None,
        };
        if let Some(filter) = &filter {
            filter.check_fields(catalog.covered(&events))?;
        }
        Ok(NewWebhook {
            url: WebhookUrl::parse(&request.url, policy)?,
            events,
            filter,
            secret: match request.secret {
                Some(secret) => WebhookSecret::parse(secret)?,
                None => WebhookSecret::generate(),
            },
            description: validate_description(request.description)?,
            signing_key: match request.signing.as_deref() {
                None | Some("hmac") => None,
                Some("ed25519") => Some(generate_signing_key()),
                Some(other) => {
                    return Err(ValidationError::new(
                        "invalid_signing",
                        format!("unknown signing `{other}`; `hmac` (the default) or `ed25519`"),
                    )
                    .field("signing"))
                }
            },
        })
    }
}

/// A checked change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    /// A new target.
    pub url: Option<WebhookUrl>,
    /// New patterns.
    pub events: Option<Vec<String>>,
    /// A new description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// A new filter (`Some(None)` removes it); its fields are checked against the webhook's
    /// types by [`WebhookChange::check_filter`].
    pub filter: Option<Option<EventFilter>>,
}

impl WebhookChange {
    /// Checks a change request.
    pub fn validate(
        request: UpdateWebhookRequest,
        policy: &TargetPolicy,
        catalog: &Catalog,
    ) -> Result<Self, ValidationError> {
        Ok(WebhookChange {
            url: request
                .url
                .map(|u| WebhookUrl::parse(&u, policy))
                .transpose()?,
            events: request
                .events
                .map(|events| validate_patterns(events, catalog))
                .transpose()?,
            description: request.description.map(validate_description).transpose()?,
            enabled: request.enabled,
            filter: match &request.filter {
                Some(Some(filter)) => Some(EventFilter::parse(filter)?),
                Some(None) => Some(None),
                None => None,
            },
        })
    }

    /// Checks the filter the webhook `current` has after this change against the types it
    /// subscribes to after it.
    pub fn check_filter(
        &self,
        current: &super::super::store::WebhookRecord,
        catalog: &Catalog,
    ) -> Result<(), ValidationError> {
        let events = self.events.as_ref().unwrap_or(&current.events);
        let filter = match &self.filter {
            Some(filter) => filter.as_ref(),
            None => current.filter.as_ref(),
        };
        match filter {
            Some(filter) => filter.check_fields(catalog.covered(events)),
            None => Ok(()),
        }
    }
}

/// Checks (against `catalog`), deduplicates and keeps the order of subscription patterns.
pub fn validate_patterns(
    patterns: Vec<String>,
    catalog: &Catalog,
) -> Result<Vec<String>, ValidationError> {
    if patterns.is_empty() {
        return Err(ValidationError::new(
            "empty_events",
            "subscribe to at least one event type, e.g. \"server.started\", \"server.*\" or \"*\"",
        )
        .field("events"));
    }
    if patterns.len() > MAX_PATTERNS {
        return Err(ValidationError::new(
            "too_many_events",
            format!("at most {MAX_PATTERNS} patterns"),
        )
        .field("events"));
    }
    catalog.check_patterns(&patterns)?;
    let mut checked: Vec<String> = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        if !checked.contains(&pattern) {
            checked.push(pattern);
        }
    }
    Ok(checked)
}

fn validate_description(description: Option<String>) -> Result<Option<String>, ValidationError> {
    match description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(ValidationError::new(
            "invalid_description",
            format!("the description is longer than {MAX_DESCRIPTION_LEN} characters"),
        )
        .field("description")),
        // Control characters would let a description forge lines in logs and emails.
        Some(d) if d.chars().any(char::is_control) => Err(ValidationError::new(
            "invalid_description",
            "the description must not contain control characters (newline, tab, NUL …)",
        )
        .field("description")),
        other => Ok(other),
    }
}

/// A webhook's signing secret. Its `Debug` form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// Checks a secret chosen by the customer: 16–256 printable ASCII characters without
    /// spaces, or `whsec_` + base64 of 24–64 bytes. The secret is never echoed in errors.
    pub fn parse(secret: String) -> Result<Self, ValidationError> {
        let invalid =
            |message: &str| ValidationError::new("invalid_secret", message).field("secret");
        if let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) {
            return match BASE64.decode(encoded) {
                Ok(key) if (24..=64).contains(&key.len()) => Ok(WebhookSecret(secret)),
                Ok(_) => Err(invalid(
                    "a whsec_ secret must carry 24 to 64 bytes of base64",
                )),
                Err(_) => Err(invalid("the part after whsec_ is not valid base64")),
            };
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "the secret may only contain printable ASCII characters without spaces",
            ));
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(ValidationError::new(
                "weak_secret",
                format!("the secret must have at least {MIN_SECRET_LEN} characters; omit it to have a strong one generated"),
            )
            .field("secret"));
        }
        if secret.len() > MAX_SECRET_LEN {
            return Err(invalid("the secret is longer than 256 characters"));
        }
        Ok(WebhookSecret(secret))
    }

    /// A new secret: `whsec_` + base64 of 32 random bytes.
    pub fn generate() -> Self {
        WebhookSecret(format!(
            "{SECRET_PREFIX}{}",
            BASE64.encode(super::random_bytes::<32>())
        ))
    }

    /// Wraps a secret read back from the store.
    pub fn from_stored(secret: String) -> Self {
        WebhookSecret(secret)
    }

    /// The secret itself, for signing and for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_keeps_every_secret_until_its_own_grace_ends() {
        use crate::store::PreviousSecret;
        let secret = |s: &str| WebhookSecret::from_stored(s.to_owned());
        let old = PreviousSecret {
            secret: secret("a"),
            until_ms: 100,
        };
        let kept = previous_after_rotation(
            Some(&secret("b")),
            std::slice::from_ref(&old),
            Some(500),
            50,
        )
        .unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].until_ms, kept[1].until_ms), (100, 500));
        // Without grace the current one goes at once; expired ones go too.
        assert_eq!(
            previous_after_rotation(Some(&secret("b")), std::slice::from_ref(&old), None, 50)
                .unwrap(),
            std::slice::from_ref(&old)
        );
        assert!(
            previous_after_rotation(Some(&secret("b")), std::slice::from_ref(&old), None, 100)
                .unwrap()
                .is_empty()
        );
        // A grace that ends now or before adds nothing.
        assert!(
            previous_after_rotation(Some(&secret("b")), &[], Some(100), 100)
                .unwrap()
                .is_empty()
        );
        // Past the limit the rotation is refused.
        let many: Vec<_> = (0..MAX_PREVIOUS_SECRETS)
            .map(|i| PreviousSecret {
                secret: secret(&i.to_string()),
                until_ms: 1_000,
            })
            .collect();
        assert!(previous_after_rotation(Some(&secret("b")), &many, Some(1_000), 0).is_none());
        assert!(previous_after_rotation(Some(&secret("b")), &many, None, 0).is_some());
    }

    #[test]
    fn a_recovery_window_must_end_after_it_starts() {
        let request = |since: &str, until: Option<&str>| RecoverRequest {
            since: since.to_owned(),
            until: until.map(str::to_owned),
        };
        let now = 1_736_937_000_000; // 2025-01-15T10:30:00Z
        let window = request("2025-01-15T10:00:00Z", Some("2025-01-15T10:10:00Z")).window(now);
        assert_eq!(window.unwrap(), (now - 1_800_000, now - 1_200_000));
        assert_eq!(
            request("2025-01-15T10:00:00Z", None).window(now).unwrap(),
            (now - 1_800_000, now + 1)
        );
        for (since, until, field) in [
            (
                "2025-01-15T10:10:00Z",
                Some("2025-01-15T10:00:00Z"),
                "until",
            ),
            (
                "2025-01-15T10:00:00Z",
                Some("2025-01-15T10:00:00Z"),
                "until",
            ),
            ("2025-01-15T11:00:00Z", None, "since"),
        ] {
            let error = request(since, until).window(now).unwrap_err();
            assert_eq!((error.code, error.field), ("invalid_request", Some(field)));
        }
    }

    fn code(secret: &str) -> Result<(), &'static str> {
        WebhookSecret::parse(secret.to_owned())
            .map(|_| ())
            .map_err(|e| e.code)
    }

    #[test]
    fn secrets() {
        assert_eq!(code("your_webhook_secret"), Ok(()));
        assert_eq!(code("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Ok(()));
        assert_eq!(code("short"), Err("weak_secret"));
        assert_eq!(code("has a space in it!!"), Err("invalid_secret"));
        assert_eq!(code("sécret-sécret-sécret"), Err("invalid_secret"));
        assert_eq!(code("whsec_c2VjcmV0"), Err("invalid_secret"));
        assert_eq!(code("whsec_!!!!"), Err("invalid_secret"));
        assert_eq!(code(&"x".repeat(257)), Err("invalid_secret"));
        assert!(WebhookSecret::generate().expose().starts_with("whsec_"));
        assert_eq!(
            format!("{:?}", WebhookSecret::generate()),
            "WebhookSecret(***)"
        );
        assert!(code(&WebhookSecret::generate().0).is_ok());
    }

    #[test]
    fn patterns() {
        let catalog = crate::domain::event_type::tests::seeded();
        let check = |patterns: Vec<String>| validate_patterns(patterns, &catalog);
        assert_eq!(
            check(vec!["server.*".into(), "server.*".into(), "*".into()]).unwrap(),
            vec!["server.*", "*"]
        );
        assert_eq!(check(vec![]).unwrap_err().code, "empty_events");
        let unknown = check(vec!["server.exploded".into()]).unwrap_err();
        assert_eq!(unknown.code, "unknown_event_type");
        assert!(unknown.message.contains("server.exploded"));
        assert_eq!(
            check(vec!["Server".into()]).unwrap_err().code,
            "invalid_event_pattern"
        );
    }
}
