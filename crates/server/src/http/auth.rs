//! `Authorization: Bearer <api key>` → the caller's [`Account`].

use std::sync::Arc;

use warp::Filter;

use super::error::ApiError;
use super::AppState;
use crate::domain::api_key;
use crate::store::Account;

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
            match state.store.account_by_key_hash(&api_key::hash(key)).await {
                Ok(Some(account)) => Ok::<Account, warp::Rejection>(account),
                Ok(None) => Err(ApiError::unauthorized().into()),
                Err(e) => Err(ApiError::internal(&e).into()),
            }
        }
    })
}
