//! `Authorization: Bearer <credential>` → who is asking, for which account, and whether they
//! may (the table is `domain::access`).
//!
//! A credential's prefix says what it is: a platform key (`cdhp_…`), a portal session
//! (`cdhs_…`) or an account key (anything else, `cdh_…`). A platform key acts for the account
//! the `Cdhooks-Account` header names (routes with the account in their path need no header).
//!
//! Found credentials are cached by hash for [`CACHE_TTL`], so the hot path (emitting events)
//! does not query the store for every request. A credential revoked through this instance is
//! forgotten at once; other instances stop accepting it within [`CACHE_TTL`]; a portal session
//! stops at its expiry wherever it is cached. Writes that make credentials (API keys, inboxes,
//! signing secrets, sessions) ask the store every time: a revoked key can never mint a
//! credential that outlives it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warp::http::HeaderValue;
use warp::Filter;

use super::error::ApiError;
use super::AppState;
use crate::domain::access::{self, Action, Role, PLATFORM_KEY_PREFIX, PORTAL_TOKEN_PREFIX};
use crate::domain::api_key;
use crate::store::Account;

/// How long a found credential is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// The most cached credentials (the cache is emptied when full).
const CACHE_MAX: usize = 10_000;
/// The header naming the account a platform key acts for.
pub const ACCOUNT_HEADER: &str = "cdhooks-account";

/// What a credential turned out to be.
#[derive(Debug, Clone)]
enum Found {
    /// A platform key.
    Platform,
    /// An account key of a scope.
    AccountKey(Account, access::KeyScope),
    /// A portal session: its account, whether read-only, and when it ends (Unix ms).
    Portal(Account, bool, i64),
}

/// Credentials recently found, by hash.
#[derive(Default)]
pub struct CredentialCache(Mutex<HashMap<String, (Found, Instant)>>);

impl CredentialCache {
    fn get(&self, hash: &str) -> Option<Found> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(found, _)| found.clone())
    }

    /// Forgets a credential at once (it was revoked, or its account deleted).
    pub fn forget(&self, hash: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(hash);
    }

    fn put(&self, hash: String, found: Found) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (found, Instant::now()));
    }
}

/// The credential of an `Authorization` value: the `Bearer` scheme in any letter case (RFC
/// 9110), then the credential. `None` for anything else, including bytes that are not text.
fn bearer_key(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, key) = text.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// A request acting for one account.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account it acts for.
    pub account: Account,
    /// The hash of the credential the request carries.
    pub key_hash: String,
    /// Who it is.
    pub role: Role,
}

/// A request made with a platform key, for no account in particular.
#[derive(Debug, Clone)]
pub struct PlatformCaller {
    /// The hash of the key the request carries.
    pub key_hash: String,
}

/// Whether a credential found recently may be trusted without asking the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A credential found within [`CACHE_TTL`] is trusted.
    Cached,
    /// The store is asked every time.
    Store,
}

/// The account `Account` a request acts for, allowed to do `action`; else 401, 403, or 400
/// for a platform key that names no account.
pub fn acting(
    state: Arc<AppState>,
    action: Action,
) -> impl Filter<Extract = (Account,), Error = warp::Rejection> + Clone {
    caller(state, action, Freshness::Cached).map(|caller: Caller| caller.account)
}

/// As [`acting`], with the credential checked against the store (not the cache): for writes
/// that make credentials.
pub fn acting_checked(
    state: Arc<AppState>,
    action: Action,
) -> impl Filter<Extract = (Account,), Error = warp::Rejection> + Clone {
    caller(state, action, Freshness::Store).map(|caller: Caller| caller.account)
}

/// The caller acting for an account, allowed to do `action`.
pub fn caller(
    state: Arc<AppState>,
    action: Action,
    freshness: Freshness,
) -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
    credential(state.clone(), freshness)
        .and(warp::header::optional::<String>(ACCOUNT_HEADER))
        .and_then(
            move |(found, key_hash): (Found, String), named: Option<String>| {
                let state = state.clone();
                async move {
                    let identity = identify(&state, found, named.as_deref()).await?;
                    let account = identity.account.ok_or_else(|| {
                        ApiError::new(
                            warp::http::StatusCode::BAD_REQUEST,
                            "account_required",
                            "a platform key acts for the account named in the Cdhooks-Account header",
                        )
                    })?;
                    if named.as_deref().is_some_and(|id| id != account.id) {
                        return Err(ApiError::forbidden(
                            "this credential belongs to another account than Cdhooks-Account names",
                        )
                        .into());
                    }
                    if !identity.role.permits(action) {
                        return Err(ApiError::forbidden(identity.role.refusal(action)).into());
                    }
                    Ok::<Caller, warp::Rejection>(Caller {
                        account,
                        key_hash,
                        role: identity.role,
                    })
                }
            },
        )
}

/// A request made with a platform key; anything else is 401 (no valid credential) or 403.
pub fn platform(
    state: Arc<AppState>,
    freshness: Freshness,
) -> impl Filter<Extract = (PlatformCaller,), Error = warp::Rejection> + Clone {
    credential(state, freshness).and_then(|(found, key_hash): (Found, String)| async move {
        match found {
            Found::Platform => Ok(PlatformCaller { key_hash }),
            Found::AccountKey(_, scope) => Err(warp::reject::custom(ApiError::forbidden(
                Role::Account(scope).refusal(Action::Administer),
            ))),
            Found::Portal(_, read_only, _) => Err(warp::reject::custom(ApiError::forbidden(
                Role::Portal { read_only }.refusal(Action::Administer),
            ))),
        }
    })
}

/// What a credential is, for `GET /v1/credential`.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Who it is.
    pub role: Role,
    /// The account it acts for: its own, or the one a platform key names (if any).
    pub account: Option<Account>,
    /// When a portal session ends (Unix ms).
    pub expires_at: Option<i64>,
}

/// The identity of any valid credential, or 401.
pub fn identity(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Identity,), Error = warp::Rejection> + Clone {
    credential(state.clone(), Freshness::Cached)
        .and(warp::header::optional::<String>(ACCOUNT_HEADER))
        .and_then(move |(found, _): (Found, String), named: Option<String>| {
            let state = state.clone();
            async move { Ok::<_, warp::Rejection>(identify(&state, found, named.as_deref()).await?) }
        })
}

/// Who a found credential is and which account it acts for: its own, or for a platform key
/// the one `named` by Cdhooks-Account (`None` when no account is named; 404 for an unknown one).
async fn identify(
    state: &AppState,
    found: Found,
    named: Option<&str>,
) -> Result<Identity, ApiError> {
    Ok(match found {
        Found::Platform => Identity {
            role: Role::Platform,
            account: match named {
                Some(id) => Some(
                    state
                        .app
                        .account(id)
                        .await
                        .map_err(|e| ApiError::from_app(e, "account"))?,
                ),
                None => None,
            },
            expires_at: None,
        },
        Found::AccountKey(account, scope) => Identity {
            role: Role::Account(scope),
            account: Some(account),
            expires_at: None,
        },
        Found::Portal(account, read_only, expires_at) => Identity {
            role: Role::Portal { read_only },
            account: Some(account),
            expires_at: Some(expires_at),
        },
    })
}

/// The credential a request carries and its hash, or 401.
fn credential(
    state: Arc<AppState>,
    freshness: Freshness,
) -> impl Filter<Extract = ((Found, String),), Error = warp::Rejection> + Clone {
    let authorization = warp::header::value("authorization")
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    authorization.and_then(move |header: Option<HeaderValue>| {
        let state = state.clone();
        async move {
            let key = header
                .as_ref()
                .and_then(bearer_key)
                .ok_or_else(ApiError::unauthorized)?;
            let key_hash = api_key::hash(key);
            let cached = match freshness {
                Freshness::Cached => state.credentials.get(&key_hash),
                Freshness::Store => None,
            };
            let found = match cached {
                Some(found) => Some(found),
                None => {
                    let found = look_up(&state, key, &key_hash)
                        .await
                        .map_err(|e| ApiError::from_app(e, "credential"))?;
                    if let Some(found) = &found {
                        state.credentials.put(key_hash.clone(), found.clone());
                    }
                    found
                }
            };
            match found {
                Some(Found::Portal(_, _, expires_at))
                    if !access::session_open(expires_at, state.app.now_ms()) =>
                {
                    Err(ApiError::unauthorized().into())
                }
                Some(found) => Ok::<_, warp::Rejection>((found, key_hash)),
                None => Err(ApiError::unauthorized().into()),
            }
        }
    })
}

/// Asks the store what the credential `key` (hashing to `key_hash`) is.
async fn look_up(
    state: &AppState,
    key: &str,
    key_hash: &str,
) -> crate::app::AppResult<Option<Found>> {
    if key.starts_with(PLATFORM_KEY_PREFIX) {
        let valid = state.app.platform_key_valid(key_hash).await?;
        return Ok(valid.then_some(Found::Platform));
    }
    if key.starts_with(PORTAL_TOKEN_PREFIX) {
        return Ok(state
            .app
            .portal_session(key_hash)
            .await?
            .map(|(account, session)| {
                Found::Portal(account, session.read_only, session.expires_at)
            }));
    }
    let found = state.app.account_key(key_hash).await?;
    if found.is_some() {
        let (app, hash) = (state.app.clone(), key_hash.to_owned());
        tokio::spawn(async move { app.touch_api_key(&hash).await });
    }
    Ok(found.map(|(account, scope)| Found::AccountKey(account, scope)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_in_any_case() {
        for (value, key) in [
            ("Bearer cdh_1", Some("cdh_1")),
            ("bearer cdh_1", Some("cdh_1")),
            ("BEARER cdh_1", Some("cdh_1")),
            ("Bearer  cdh_1 ", Some("cdh_1")),
            ("Basic abc", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            assert_eq!(bearer_key(&HeaderValue::from_static(value)), key, "{value}");
        }
        let bytes = HeaderValue::from_bytes(b"Bearer \xff\xfe\xfd").unwrap();
        assert_eq!(bearer_key(&bytes), None);
    }
}
