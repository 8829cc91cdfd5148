//! One delivery attempt over HTTP: sign, send, classify the result.

use std::error::Error as _;
use std::net::IpAddr;
use std::time::{Duration, Instant, UNIX_EPOCH};

use cdhooks_core::legacy::LegacyVerifier;
use cdhooks_core::standard::StandardVerifier;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::StatusCode;

use super::resolver::ForbiddenTarget;
use crate::domain::retry::parse_retry_after;
use crate::domain::target::TargetPolicy;
use crate::domain::webhook::WebhookSecret;
use crate::store::ClaimedDelivery;

/// The most response bytes read.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The most response bytes kept with the attempt.
pub const KEPT_RESPONSE_BYTES: usize = 1024;

/// The `User-Agent` of deliveries.
pub const USER_AGENT_VALUE: &str = concat!("cdhooks/", env!("CARGO_PKG_VERSION"));

/// What one attempt produced.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// Unix ms when the attempt started.
    pub started_at_ms: i64,
    /// How long it took.
    pub duration: Duration,
    /// The receiver's status, if it answered.
    pub status: Option<u16>,
    /// `None` on success; otherwise why it failed.
    pub error: Option<(&'static str, String)>,
    /// The first 1 KiB of the response body.
    pub response_body: Option<String>,
    /// A `Retry-After` sent with a 429 or 503.
    pub retry_after: Option<Duration>,
}

/// The signed headers of an attempt starting at `at_ms` (Unix ms; `webhook-timestamp` is its
/// whole seconds). A secret that cannot be
/// keyed (it was validated at registration, so only a damaged store has one) is an error:
/// a delivery is never sent without both signatures.
pub fn signed_headers(
    delivery: &ClaimedDelivery,
    at_ms: i64,
) -> Result<HeaderMap, cdhooks_core::standard::StandardError> {
    let timestamp = at_ms.div_euclid(1000).max(0) as u64;
    message_headers(
        &delivery.secret,
        &crate::store::PreviousSecret::signing_at(&delivery.previous_secrets, at_ms),
        &delivery.signing_keys.signing_at(at_ms),
        &delivery.event_id,
        &delivery.event_type,
        &delivery.body,
        timestamp,
    )
}

/// The headers every attempt of the event `event_id` carries when signed with `secret` at
/// `timestamp`; also what the API shows as a delivery's request.
///
/// During rotations' grace periods (`previous`: the rotated-out secrets still signing, oldest
/// first) `webhook-signature` carries one `v1,` entry per secret, the current first, so a
/// Standard Webhooks receiver holding any of them verifies; the single-valued
/// `X-Webhook-Signature` stays on the oldest secret still signing until its period ends, so
/// the docs' receivers keep working until they switch (with the package they can accept
/// several meanwhile). A webhook with Ed25519 `signing_keys` gets a `v1a,` entry per key
/// last (the current key first, then rotated-out ones in their grace period), which only
/// this server can make (receivers verify them with the `whpk_` public keys).
pub fn message_headers(
    secret: &WebhookSecret,
    previous: &[&WebhookSecret],
    signing_keys: &[&cdhooks_core::asymmetric::WebhookSigningKey],
    event_id: &str,
    event_type: &str,
    body: &[u8],
    timestamp: u64,
) -> Result<HeaderMap, cdhooks_core::standard::StandardError> {
    let legacy_secret = previous.first().copied().unwrap_or(secret).expose();
    let standard = StandardVerifier::new(secret.expose())?;
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    let legacy = LegacyVerifier::new(legacy_secret.as_bytes()).sign_hex(body);
    insert(&mut headers, "x-webhook-signature", legacy.as_str());
    insert(&mut headers, "x-webhook-event", event_type);
    insert(&mut headers, "webhook-id", event_id);
    insert(&mut headers, "webhook-timestamp", &timestamp.to_string());
    let signature = standard.sign_header(event_id, timestamp, body);
    if previous.is_empty() && signing_keys.is_empty() {
        insert(&mut headers, "webhook-signature", signature.as_str());
    } else {
        let mut all = signature.as_str().to_owned();
        for old in previous {
            let old = StandardVerifier::new(old.expose())?.sign_header(event_id, timestamp, body);
            all.push(' ');
            all.push_str(old.as_str());
        }
        for key in signing_keys {
            all.push(' ');
            all.push_str(&key.sign_entry(event_id, timestamp, body));
        }
        insert(&mut headers, "webhook-signature", &all);
    }
    Ok(headers)
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// Sends one attempt of `delivery`, starting at `started_at_ms`.
pub async fn attempt(
    client: &reqwest::Client,
    policy: &TargetPolicy,
    delivery: &ClaimedDelivery,
    timeout: Duration,
    started_at_ms: i64,
) -> AttemptResult {
    let clock = Instant::now();
    let mut result = AttemptResult {
        started_at_ms,
        duration: Duration::ZERO,
        status: None,
        error: None,
        response_body: None,
        retry_after: None,
    };
    // IP literals never reach the resolver, so they are checked here.
    if let Some(ip) = literal_ip(&delivery.url) {
        if !policy.permits(ip) {
            result.error = Some(("forbidden_target", format!("{ip} is a forbidden address")));
            return result;
        }
    }
    let headers = match signed_headers(delivery, started_at_ms) {
        Ok(headers) => headers,
        Err(error) => {
            result.error = Some(("invalid_secret", format!("cannot sign: {error}")));
            return result;
        }
    };
    let sent = client
        .post(&delivery.url)
        .headers(headers)
        .body(delivery.body.clone())
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Err(e) => result.error = Some(classify(&e)),
        Ok(mut response) => {
            let status = response.status();
            result.status = Some(status.as_u16());
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                result.retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, UNIX_EPOCH + ms(started_at_ms)));
            }
            let mut kept = Vec::new();
            let mut read = 0usize;
            let body_error = loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        let room = KEPT_RESPONSE_BYTES.saturating_sub(kept.len());
                        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        read += chunk.len();
                        if read >= MAX_RESPONSE_BYTES {
                            break None;
                        }
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(classify(&e)),
                }
            };
            result.response_body =
                (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
            result.error = if status.is_success() {
                // A 2xx whose body then times out or breaks still counts: the receiver
                // answered in time with success.
                None
            } else if status.is_redirection() {
                Some((
                    "redirect",
                    format!("HTTP {} (redirects are not followed)", status.as_u16()),
                ))
            } else {
                Some(("http_status", format!("HTTP {}", status.as_u16())))
            };
            if status.is_success() {
                if let Some((kind, message)) = body_error {
                    tracing::debug!(kind, message, "response body broke off after a 2xx");
                }
            }
        }
    }
    result.duration = clock.elapsed();
    result
}

fn ms(unix_ms: i64) -> Duration {
    Duration::from_millis(unix_ms.max(0) as u64)
}

fn literal_ip(url: &str) -> Option<IpAddr> {
    match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// Names the failure of a request that got no status.
fn classify(error: &reqwest::Error) -> (&'static str, String) {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(forbidden) = cause.downcast_ref::<ForbiddenTarget>() {
            return ("forbidden_target", forbidden.to_string());
        }
        if let Some(dns) = cause.downcast_ref::<super::resolver::DnsFailure>() {
            return ("dns", dns.to_string());
        }
        if let Some(tls) = tls_error(cause) {
            return ("tls", tls_reason(tls, &error.url().map(|u| u.to_string())));
        }
        source = cause.source();
    }
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    };
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    (kind, message)
}

/// The TLS error behind `cause`, if it is one (rustls errors reach reqwest wrapped in
/// `io::Error`s, whose `source` skips what they wrap).
fn tls_error<'e>(cause: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut current = cause;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// What a customer can do about a TLS failure, in plain words.
fn tls_reason(error: &rustls::Error, url: &Option<String>) -> String {
    use rustls::CertificateError as Cert;
    let endpoint = url.as_deref().unwrap_or("the endpoint");
    let why = match error {
        rustls::Error::InvalidCertificate(cert) => match cert {
            Cert::UnknownIssuer => "its certificate is not signed by a trusted certificate authority (self-signed, or a private CA the server does not trust: serve the whole chain, or ask for --target-ca-file)".to_owned(),
            Cert::Expired | Cert::ExpiredContext { .. } => "its certificate expired: renew it".to_owned(),
            Cert::NotValidYet | Cert::NotValidYetContext { .. } => "its certificate is not valid yet: check the clock where it was issued".to_owned(),
            Cert::NotValidForName | Cert::NotValidForNameContext { .. } => "its certificate is not valid for the URL's host name: use a certificate that names it".to_owned(),
            Cert::Revoked => "its certificate was revoked".to_owned(),
            other => format!("its certificate was refused ({other:?})"),
        },
        other => format!("the TLS handshake failed: {other}"),
    };
    format!("TLS with {endpoint} failed: {why}")
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn delivery(secret: &str) -> ClaimedDelivery {
        ClaimedDelivery {
            failure_streak: 0,
            seq: 1,
            id: "dlv_1".into(),
            claim_token: 7,
            attempt_count: 0,
            round_base: 0,
            event_id: "evt_1".into(),
            event_type: "server.started".into(),
            body: Bytes::from_static(b"{}"),
            webhook_seq: 1,
            webhook_id: "wh_1".into(),
            url: "http://127.0.0.1:9/".into(),
            secret: WebhookSecret::from_stored(secret.to_owned()),
            account_id: "acct_1".into(),
            account_email: "ops@example.com".into(),
            accepted_at_ms: 0,
            previous_secrets: Vec::new(),
            signing_keys: Default::default(),
        }
    }

    #[test]
    fn both_signatures_or_none() {
        let headers = signed_headers(&delivery("your_webhook_secret"), 1_700_000_000_000).unwrap();
        for name in [
            "x-webhook-signature",
            "webhook-signature",
            "webhook-id",
            "webhook-timestamp",
        ] {
            assert!(headers.contains_key(name), "{name}");
        }
        // During a rotation's grace period: two v1 entries (new, old); the docs' header on the
        // old secret; after it, the new secret alone.
        let mut rotating = delivery("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        rotating.previous_secrets = vec![crate::store::PreviousSecret {
            secret: WebhookSecret::from_stored("your_webhook_secret".to_owned()),
            until_ms: 1_700_000_000_500,
        }];
        let during = signed_headers(&rotating, 1_700_000_000_499).unwrap();
        let entries = during["webhook-signature"].to_str().unwrap().to_owned();
        assert_eq!(entries.split(' ').count(), 2, "{entries}");
        let legacy = cdhooks_core::legacy::sign_hex(b"your_webhook_secret", b"{}");
        assert_eq!(during["x-webhook-signature"], legacy.as_str());
        let after = signed_headers(&rotating, 1_700_000_000_500).unwrap();
        assert_eq!(
            after["webhook-signature"]
                .to_str()
                .unwrap()
                .split(' ')
                .count(),
            1
        );
        assert_ne!(after["x-webhook-signature"], legacy.as_str());
        // A stored secret that cannot be keyed is an error, never a missing header.
        assert!(signed_headers(&delivery("whsec_!!not base64!!"), 1_700_000_000_000).is_err());
    }

    #[tokio::test]
    async fn an_unkeyable_secret_fails_the_attempt_without_sending() {
        let client = reqwest::Client::new();
        let policy = TargetPolicy {
            allowed: vec!["127.0.0.0/8".parse().unwrap()],
            allow_http: true,
        };
        let result = attempt(
            &client,
            &policy,
            &delivery("whsec_!!not base64!!"),
            Duration::from_secs(1),
            0,
        )
        .await;
        assert_eq!(result.error.unwrap().0, "invalid_secret");
        assert_eq!(result.status, None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", delivery("your_webhook_secret"));
        assert!(!text.contains("your_webhook_secret"), "{text}");
        assert!(text.contains("WebhookSecret(***)"), "{text}");
    }
}
