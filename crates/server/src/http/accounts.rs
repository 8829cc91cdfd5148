//! The platform API (platform keys only): `/v1/accounts` (create, find, change, delete),
//! emission for an account and in batches, portal sessions, and `/v1/platform-keys`.

use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use warp::http::StatusCode;
use warp::Filter;

use super::auth::{self, Freshness, PlatformCaller};
use super::error::ApiError;
use super::json::{self, reply};
use super::query::PageQuery;
use super::{with_state, AppState, Page};
use crate::app::BatchEvent;
use crate::domain::account::{CreateAccountRequest, UpdateAccountRequest};
use crate::domain::event::EmitEventRequest;
use crate::store::{AccountFilter, AccountRecord, Attention, PlatformKeyRecord};
use cdhooks_core::event::ACCOUNT_ID_PREFIX;

/// An account as the platform API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountView {
    id: String,
    email: String,
    name: Option<String>,
    /// The provider's id for this customer.
    external_id: Option<String>,
    created_at: String,
    /// Why it needs attention (only in `GET /v1/accounts?needs_attention=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    attention: Option<AttentionView>,
}

/// Why an account needs the operator: disabled webhooks, a late delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttentionView {
    /// How many of its webhooks are disabled.
    disabled_webhooks: i64,
    /// When its oldest pending delivery fell due; late when over a minute ago.
    oldest_due_at: Option<String>,
}

impl From<AccountRecord> for AccountView {
    fn from(record: AccountRecord) -> Self {
        AccountView {
            id: record.id,
            email: record.email,
            name: record.name,
            external_id: record.external_id,
            created_at: json::time_ms(record.created_at),
            attention: None,
        }
    }
}

impl From<(AccountRecord, Attention)> for AccountView {
    fn from((record, attention): (AccountRecord, Attention)) -> Self {
        AccountView {
            attention: Some(AttentionView {
                disabled_webhooks: attention.disabled_webhooks,
                oldest_due_at: attention.oldest_due_at.map(json::time_ms),
            }),
            ..AccountView::from(record)
        }
    }
}

/// `201` to `POST /v1/accounts`: the account and its first API key (scope `manage`), shown
/// only here.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenedAccountView {
    account: AccountView,
    api_key: super::api_keys::ApiKeyView,
}

/// The body of `POST /v1/accounts/{id}/portal-sessions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortalSessionRequest {
    /// How long the link opens the dashboard, 60 to 86,400 seconds (default 3,600); a whole
    /// number, also written as `3600.0`.
    #[serde(default, deserialize_with = "crate::domain::webhook::whole_seconds")]
    pub ttl_seconds: Option<u64>,
    /// Only reading: the dashboard shows no buttons and the server refuses writes.
    #[serde(default)]
    pub read_only: bool,
}

/// A portal session: the link to hand the customer, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PortalSessionView {
    id: String,
    account_id: String,
    /// Opens the dashboard signed in to the account (the token is in the fragment, which
    /// browsers never send to servers).
    url: String,
    read_only: bool,
    expires_at: String,
}

/// One event of `POST /v1/events/batch`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchEventRequest {
    /// The account it is for (`acct_…`).
    pub account: String,
    /// The event type, from the catalog.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload object.
    #[schema(value_type = Object)]
    pub data: Box<serde_json::value::RawValue>,
    /// An id chosen by the sender, for idempotency.
    pub id: Option<String>,
}

/// The body of `POST /v1/events/batch`: 1 to 100 events, stored all together or not at all.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// The events.
    pub events: Vec<BatchEventRequest>,
}

/// The body of `POST /v1/platform-keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlatformKeyRequest {
    /// A name for people (`billing service`).
    pub name: String,
}

/// A platform key as lists show it; `key` only in the answer that creates it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlatformKeyView {
    id: String,
    name: String,
    prefix: String,
    created_at: String,
    last_used_at: Option<String>,
    /// The key: shown only here, when created.
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
}

impl PlatformKeyView {
    fn new(record: PlatformKeyRecord, key: Option<String>) -> Self {
        PlatformKeyView {
            id: record.id,
            name: record.name,
            prefix: record.prefix,
            created_at: json::time_ms(record.created_at),
            last_used_at: record.last_used_at.map(json::time_ms),
            key,
        }
    }
}

fn no_content() -> warp::reply::Response {
    let mut response = warp::reply::Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let cached = || auth::platform(state.clone(), Freshness::Cached);
    let checked = || auth::platform(state.clone(), Freshness::Store);
    let create = warp::path!("v1" / "accounts")
        .and(warp::post())
        .and(checked())
        .and(json::body())
        .and(with_state(&state))
        .and_then(create);
    let list = warp::path!("v1" / "accounts")
        .and(super::get())
        .and(cached())
        .and(super::query::raw())
        .and(with_state(&state))
        .and_then(list);
    let get = warp::path!("v1" / "accounts" / String)
        .and(super::get())
        .and(cached())
        .and(with_state(&state))
        .and_then(get);
    let update = warp::path!("v1" / "accounts" / String)
        .and(warp::patch())
        .and(cached())
        .and(json::body())
        .and(with_state(&state))
        .and_then(update);
    let delete = warp::path!("v1" / "accounts" / String)
        .and(warp::delete())
        .and(checked())
        .and(with_state(&state))
        .and_then(delete);
    let emit = warp::path!("v1" / "accounts" / String / "events")
        .and(warp::post())
        .and(cached())
        .and(json::body())
        .and(with_state(&state))
        .and_then(emit);
    let batch = warp::path!("v1" / "events" / "batch")
        .and(warp::post())
        .and(cached())
        .and(json::body())
        .and(with_state(&state))
        .and_then(batch);
    let open_session = warp::path!("v1" / "accounts" / String / "portal-sessions")
        .and(warp::post())
        .and(checked())
        .and(json::optional_body())
        .and(warp::header::optional::<String>("host"))
        .and(with_state(&state))
        .and_then(open_session);
    let revoke_session = warp::path!("v1" / "accounts" / String / "portal-sessions" / String)
        .and(warp::delete())
        .and(checked())
        .and(with_state(&state))
        .and_then(revoke_session);
    let create_key = warp::path!("v1" / "platform-keys")
        .and(warp::post())
        .and(checked())
        .and(json::body())
        .and(with_state(&state))
        .and_then(create_key);
    let list_keys = warp::path!("v1" / "platform-keys")
        .and(super::get())
        .and(cached())
        .and(with_state(&state))
        .and_then(list_keys);
    let revoke_key = warp::path!("v1" / "platform-keys" / String)
        .and(warp::delete())
        .and(checked())
        .and(with_state(&state))
        .and_then(revoke_key);
    create
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .or(emit)
        .unify()
        .or(batch)
        .unify()
        .or(open_session)
        .unify()
        .or(revoke_session)
        .unify()
        .or(create_key)
        .unify()
        .or(list_keys)
        .unify()
        .or(revoke_key)
        .unify()
}

async fn create(
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreateAccountRequest = json::parse(&body)?;
    let opened = state
        .app
        .open_account(request)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    Ok(reply(
        StatusCode::CREATED,
        &OpenedAccountView {
            account: opened.account.into(),
            api_key: super::api_keys::ApiKeyView::new(opened.key, Some(opened.secret)),
        },
    ))
}

async fn list(
    _: PlatformCaller,
    query: String,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let (page, filters) = PageQuery::parse_filtered(
        &query,
        ACCOUNT_ID_PREFIX,
        &["email", "external_id", "needs_attention"],
    )?;
    let mut filter = AccountFilter::default();
    let mut needs_attention = false;
    for (name, value) in filters {
        match name {
            "email" => filter.email = Some(value),
            "external_id" => filter.external_id = Some(value),
            _ => {
                needs_attention = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "invalid_query",
                            "needs_attention must be true or false",
                        )
                        .with_field("needs_attention")
                        .into())
                    }
                }
            }
        }
    }
    if needs_attention {
        let accounts = state
            .app
            .accounts_needing_attention(filter, page.after.as_deref(), page.limit)
            .await
            .map_err(|e| ApiError::from_app(e, "account"))?;
        let page = Page::new(accounts, page.limit, |(a, _)| a.id.clone());
        return Ok(reply(StatusCode::OK, &page.map(AccountView::from)));
    }
    let accounts = state
        .app
        .accounts(filter, page.after.as_deref(), page.limit)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    let page = Page::new(accounts, page.limit, |a| a.id.clone());
    Ok(reply(StatusCode::OK, &page.map(AccountView::from)))
}

async fn get(
    id: String,
    _: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let account = state
        .app
        .account_record(&id)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    Ok(reply(StatusCode::OK, &AccountView::from(account)))
}

async fn update(
    id: String,
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: UpdateAccountRequest = json::parse(&body)?;
    let account = state
        .app
        .change_account(&id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    Ok(reply(StatusCode::OK, &AccountView::from(account)))
}

async fn delete(
    id: String,
    _: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let hashes = state
        .app
        .delete_account(&id)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    for hash in hashes {
        state.credentials.forget(&hash);
        let _ = state.revocations.send(hash);
    }
    Ok(no_content())
}

async fn emit(
    id: String,
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: EmitEventRequest = json::parse(&body)?;
    let account = state
        .app
        .account(&id)
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    let emitted = state
        .app
        .emit_event(&account, request)
        .await
        .map_err(|e| ApiError::from_app(e, "event"))?;
    Ok(super::events::accepted(emitted))
}

async fn batch(
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: BatchRequest = json::parse(&body)?;
    let events = request
        .events
        .into_iter()
        .map(|e| BatchEvent {
            account_id: e.account,
            request: EmitEventRequest {
                event_type: e.event_type,
                data: e.data,
                id: e.id,
            },
        })
        .collect();
    let emitted = state
        .app
        .emit_batch(events)
        .await
        .map_err(|e| ApiError::from_app(e, "event"))?;
    // Each envelope is JSON already: spliced in, as the single emission's answer does.
    let mut body = Vec::from(&b"{\"data\":["[..]);
    for (index, one) in emitted.iter().enumerate() {
        if index > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"event\":");
        body.extend_from_slice(&one.envelope);
        body.extend_from_slice(format!(",\"deliveries\":{}}}", one.deliveries).as_bytes());
    }
    body.extend_from_slice(b"]}");
    let mut response = warp::http::Response::new(body.into());
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// Where the dashboard is, for links: `--public-url`, else the request's `Host` over http.
fn dashboard_base(state: &AppState, host: Option<&str>) -> String {
    match (&state.public_url, host) {
        (Some(url), _) => url.as_str().trim_end_matches('/').to_owned(),
        (None, Some(host)) => format!("http://{host}"),
        (None, None) => String::new(),
    }
}

async fn open_session(
    id: String,
    _: PlatformCaller,
    body: Bytes,
    host: Option<String>,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreatePortalSessionRequest = json::parse_or_default(&body)?;
    let (session, token) = state
        .app
        .open_portal_session(
            &id,
            request
                .ttl_seconds
                .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
            request.read_only,
        )
        .await
        .map_err(|e| ApiError::from_app(e, "account"))?;
    let base = dashboard_base(&state, host.as_deref());
    Ok(reply(
        StatusCode::CREATED,
        &PortalSessionView {
            id: session.id,
            account_id: session.account_id,
            url: format!("{base}/#session={token}"),
            read_only: session.read_only,
            expires_at: json::time_ms(session.expires_at),
        },
    ))
}

async fn revoke_session(
    account_id: String,
    id: String,
    _: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let hash = state
        .app
        .revoke_portal_session(&account_id, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "portal session"))?;
    state.credentials.forget(&hash);
    let _ = state.revocations.send(hash);
    Ok(no_content())
}

async fn create_key(
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreatePlatformKeyRequest = json::parse(&body)?;
    let (record, key) = state
        .app
        .create_platform_key(&request.name)
        .await
        .map_err(|e| ApiError::from_app(e, "platform key"))?;
    Ok(reply(
        StatusCode::CREATED,
        &PlatformKeyView::new(record, Some(key)),
    ))
}

async fn list_keys(
    _: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let keys = state
        .app
        .platform_keys()
        .await
        .map_err(|e| ApiError::from_app(e, "platform key"))?;
    let page = Page {
        data: keys
            .into_iter()
            .map(|k| PlatformKeyView::new(k, None))
            .collect(),
        next_cursor: None,
    };
    Ok(reply(StatusCode::OK, &page))
}

async fn revoke_key(
    id: String,
    caller: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let hash = state
        .app
        .revoke_platform_key(&id, Some(&caller.key_hash))
        .await
        .map_err(|e| ApiError::from_app(e, "platform key"))?;
    state.credentials.forget(&hash);
    let _ = state.revocations.send(hash);
    Ok(no_content())
}
