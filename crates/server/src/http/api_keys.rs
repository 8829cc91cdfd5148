//! `/v1/api-keys`: an account's named API keys. The key itself is shown once, when created;
//! lists show its name, first characters and times. A revoked key stops working at once on
//! this instance (the auth cache forgets it) and within the cache's bound on the others.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::Filter;

use super::auth::{self, Caller};
use super::error::ApiError;
use super::json::{self, reply};
use super::query::PageQuery;
use super::{with_state, AppState, Page};
use crate::domain::access::{Action, KeyScope};
use crate::store::{Account, ApiKeyRecord};
use cdhooks_core::event::API_KEY_ID_PREFIX;

/// The body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// A name for people, 1 to 100 characters (`ci deploys`).
    pub name: String,
    /// What the key may do: `read`, `manage` (the default) or `full` (also emits real
    /// events; only a `full` key or a platform key may make one).
    pub scope: Option<String>,
}

/// An API key as lists show it; `key` only in the answer that creates it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    id: String,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    /// What it may do: `read`, `manage` or `full`.
    #[schema(value_type = String)]
    scope: &'static str,
    created_at: String,
    last_used_at: Option<String>,
    /// The key: shown only here, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl ApiKeyView {
    pub fn new(record: ApiKeyRecord, key: Option<String>) -> Self {
        ApiKeyView {
            id: record.id,
            name: record.name,
            prefix: record.prefix,
            scope: record.scope.as_str(),
            created_at: json::time_ms(record.created_at),
            last_used_at: record.last_used_at.map(json::time_ms),
            key,
        }
    }
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let create = warp::path!("v1" / "api-keys")
        .and(warp::post())
        .and(auth::caller(
            state.clone(),
            Action::ManageCredentials,
            auth::Freshness::Store,
        ))
        .and(json::body())
        .and(with_state(&state))
        .and_then(create);
    let list = warp::path!("v1" / "api-keys")
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(super::query::raw())
        .and(with_state(&state))
        .and_then(list);
    let revoke = warp::path!("v1" / "api-keys" / String)
        .and(warp::delete())
        .and(auth::caller(
            state.clone(),
            Action::ManageCredentials,
            auth::Freshness::Store,
        ))
        .and(with_state(&state))
        .and_then(revoke);
    create.or(list).unify().or(revoke).unify()
}

async fn create(
    caller: Caller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreateApiKeyRequest = json::parse(&body)?;
    let scope = match request.scope.as_deref() {
        Some(name) => KeyScope::requested(name).map_err(ApiError::from)?,
        None => KeyScope::Manage,
    };
    if !caller.role.may_grant(scope) {
        return Err(ApiError::forbidden(format!(
            "this credential cannot make a key of scope `{}`: a key never does more than its maker",
            scope.as_str()
        ))
        .into());
    }
    let (record, key) = state
        .app
        .create_api_key(&caller.account, &request.name, scope)
        .await
        .map_err(|e| ApiError::from_app(e, "API key"))?;
    Ok(reply(
        StatusCode::CREATED,
        &ApiKeyView::new(record, Some(key)),
    ))
}

async fn list(
    account: Account,
    query: String,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let query = PageQuery::parse(&query, API_KEY_ID_PREFIX)?;
    let keys = state
        .app
        .api_keys(&account, query.after.as_deref(), query.limit)
        .await
        .map_err(|e| ApiError::from_app(e, "API key"))?;
    let page = Page::new(keys, query.limit, |k| k.id.clone());
    Ok(reply(
        StatusCode::OK,
        &page.map(|k| ApiKeyView::new(k, None)),
    ))
}

async fn revoke(
    id: String,
    caller: Caller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let hash = state
        .app
        .revoke_api_key(&caller.account, &id, Some(&caller.key_hash))
        .await
        .map_err(|e| ApiError::from_app(e, "API key"))?;
    state.credentials.forget(&hash);
    // No stream open with it: nobody to tell.
    let _ = state.revocations.send(hash);
    let mut response = warp::reply::Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
