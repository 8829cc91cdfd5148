//! `Authorization: Bearer <api key>` → the caller's [`Account`].
//!
//! Found accounts are cached by key hash for [`CACHE_TTL`], so the hot path (emitting events)
//! does not query the store for every request. A key revoked through this instance is
//! forgotten at once; other instances stop accepting it within [`CACHE_TTL`]. Writes that
//! make credentials (API keys, inboxes, signing secrets) use [`checked_caller`], which asks
//! the store every time: a revoked key can never mint a key that outlives it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warp::http::HeaderValue;
use warp::Filter;

use super::error::ApiError;
use super::AppState;
use crate::domain::api_key;
use crate::store::Account;

/// How long a found account is trusted without asking the store again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// The most cached accounts (the cache is emptied when full).
const CACHE_MAX: usize = 10_000;

/// Accounts recently found, by API key hash.
#[derive(Default)]
pub struct AccountCache(Mutex<HashMap<String, (Account, Instant)>>);

impl AccountCache {
    fn get(&self, hash: &str) -> Option<Account> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(hash)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(a, _)| a.clone())
    }

    /// Forgets a key at once (it was revoked).
    pub fn forget(&self, hash: &str) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(hash);
    }

    fn put(&self, hash: String, account: Account) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (account, Instant::now()));
    }
}

/// The API key of an `Authorization` value: the `Bearer` scheme in any letter case (RFC 9110),
/// then the key. `None` for anything else, including bytes that are not text.
fn bearer_key(value: &HeaderValue) -> Option<&str> {
    let text = value.to_str().ok()?;
    let (scheme, key) = text.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// The authenticated caller: the account, and the hash of the key the request carries.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account the key belongs to.
    pub account: Account,
    /// The key's hash.
    pub key_hash: String,
}

/// Extracts the authenticated account, or rejects with 401.
pub fn account(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Account,), Error = warp::Rejection> + Clone {
    caller(state).map(|caller: Caller| caller.account)
}

/// Extracts the authenticated caller, or rejects with 401.
pub fn caller(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
    authenticate(state, Freshness::Cached)
}

/// Extracts the authenticated account, its key checked against the store (not the cache).
pub fn checked_account(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Account,), Error = warp::Rejection> + Clone {
    checked_caller(state).map(|caller: Caller| caller.account)
}

/// Extracts the authenticated caller, its key checked against the store (not the cache).
pub fn checked_caller(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
    authenticate(state, Freshness::Store)
}

/// Whether a key found recently may be trusted without asking the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// A key found within [`CACHE_TTL`] is trusted.
    Cached,
    /// The store is asked every time.
    Store,
}

fn authenticate(
    state: Arc<AppState>,
    freshness: Freshness,
) -> impl Filter<Extract = (Caller,), Error = warp::Rejection> + Clone {
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
            if freshness == Freshness::Cached {
                if let Some(account) = state.accounts.get(&key_hash) {
                    return Ok(Caller { account, key_hash });
                }
            }
            match state.app.account_by_key_hash(&key_hash).await {
                Ok(Some(account)) => {
                    state.accounts.put(key_hash.clone(), account.clone());
                    let (app, hash) = (state.app.clone(), key_hash.clone());
                    tokio::spawn(async move { app.touch_api_key(&hash).await });
                    Ok::<Caller, warp::Rejection>(Caller { account, key_hash })
                }
                Ok(None) => Err(ApiError::unauthorized().into()),
                Err(e) => Err(ApiError::from_app(e, "account").into()),
            }
        }
    })
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
