//! `Authorization: Bearer <api key>` → the caller's [`Account`].
//!
//! Found accounts are cached by key hash for [`CACHE_TTL`], so the hot path (emitting events)
//! does not query the store for every request. With several instances on one database, a
//! change made through one instance reaches the others' caches within that bound. Keys cannot
//! be revoked yet; when they can, the revocation must clear this cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

    fn put(&self, hash: String, account: Account) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CACHE_MAX {
            map.clear();
        }
        map.insert(hash, (account, Instant::now()));
    }
}

/// Extracts the authenticated account, or rejects with 401.
pub fn account(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Account,), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(move |header: Option<String>| {
        let state = state.clone();
        async move {
            let key = header
                .as_deref()
                .and_then(|h| {
                    h.strip_prefix("Bearer ")
                        .or_else(|| h.strip_prefix("bearer "))
                })
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .ok_or_else(ApiError::unauthorized)?;
            let hash = api_key::hash(key);
            if let Some(account) = state.accounts.get(&hash) {
                return Ok(account);
            }
            match state.app.account_by_key_hash(&hash).await {
                Ok(Some(account)) => {
                    state.accounts.put(hash, account.clone());
                    Ok::<Account, warp::Rejection>(account)
                }
                Ok(None) => Err(ApiError::unauthorized().into()),
                Err(e) => Err(ApiError::internal(&e).into()),
            }
        }
    })
}
