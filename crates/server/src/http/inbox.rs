//! Inboxes: receivers built into the server. `POST /v1/inboxes` creates one; anything sent to
//! `/inbox/{token}` is recorded and listed by `GET /v1/inboxes/{token}/requests`, so the whole
//! loop can be tried without running a receiver.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;
use warp::http::{HeaderMap, Method, StatusCode};
use warp::Filter;

use super::error::ApiError;
use super::json::{self, reply};
use super::{auth, with_state, AppState};
use crate::domain::access::Action;
use crate::live::LiveEvent;
use crate::store::Account;

/// A new inbox.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InboxView {
    /// `inb_…`: the inbox's name and its only credential for receiving.
    token: String,
    /// Where to send requests: `/inbox/{token}` on this server.
    path: String,
}

/// What an inbox captured, newest first (its latest 100).
#[derive(Serialize, utoipa::ToSchema)]
pub struct CapturedList {
    data: Vec<CapturedView>,
}

/// The answer to a captured request.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Received {
    received: bool,
}

/// A request an inbox received.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CapturedView {
    received_at: String,
    method: String,
    /// `[name, value]` pairs as received.
    #[schema(value_type = Vec<Vec<String>>)]
    headers: Vec<(String, String)>,
    /// The body as text (lossy UTF-8), for display and verification.
    body: String,
    /// The exact body bytes.
    body_base64: String,
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let create = warp::path!("v1" / "inboxes")
        .and(warp::post())
        .and(auth::acting_checked(
            state.clone(),
            Action::ManageCredentials,
        ))
        .and(with_state(&state))
        .and_then(create);
    let list = warp::path!("v1" / "inboxes" / String / "requests")
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(with_state(&state))
        .and_then(list);
    // Any method a webhook sender uses; not DELETE, which would read as removing the inbox.
    let capturable = super::get()
        .or(warp::post())
        .unify()
        .or(warp::put())
        .unify()
        .or(warp::patch())
        .unify();
    // The token is checked before the body is read: a request to no inbox costs one read and
    // never holds the connection while a body trickles in.
    let capture = warp::path!("inbox" / String)
        .and(capturable)
        .and(with_state(&state))
        .and_then(known_inbox)
        .and(warp::method())
        .and(warp::header::headers_cloned())
        .and(json::optional_body())
        .and(with_state(&state))
        .and_then(capture);
    create.or(list).unify().or(capture).unify()
}

async fn create(
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let token = state
        .app
        .create_inbox(&account)
        .await
        .map_err(|e| ApiError::from_app(e, "inbox"))?;
    let path = format!("/inbox/{token}");
    Ok(reply(StatusCode::CREATED, &InboxView { token, path }))
}

async fn list(
    token: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let requests = state
        .app
        .inbox_requests(&account, &token, 100)
        .await
        .map_err(|e| ApiError::from_app(e, "inbox"))?;
    let data: Vec<CapturedView> = requests
        .into_iter()
        .map(|r| CapturedView {
            received_at: json::time_ms(r.received_at),
            method: r.method,
            headers: r.headers,
            body: String::from_utf8_lossy(&r.body).into_owned(),
            body_base64: BASE64.encode(&r.body),
        })
        .collect();
    Ok(reply(StatusCode::OK, &CapturedList { data }))
}

/// The token, if it names an inbox; a 404 otherwise (an ill-formed token without a query).
async fn known_inbox(token: String, state: Arc<AppState>) -> Result<String, warp::Rejection> {
    if !super::query::is_id(&token, cdhooks_core::event::INBOX_ID_PREFIX) {
        return Err(ApiError::not_found("inbox").into());
    }
    match state.app.inbox_owner(&token).await {
        Ok(Some(_)) => Ok(token),
        Ok(None) => Err(ApiError::not_found("inbox").into()),
        Err(e) => Err(ApiError::from_app(e, "inbox").into()),
    }
}

async fn capture(
    token: String,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let account_id = state
        .app
        .capture(token.clone(), method.to_string(), headers, body.to_vec())
        .await
        .map_err(|e| ApiError::from_app(e, "inbox"))?;
    state.live.publish(LiveEvent {
        account_id,
        kind: "inbox.request",
        data: serde_json::json!({ "token": token, "method": method.as_str(), "bytes": body.len() }),
    });
    Ok(reply(StatusCode::OK, &Received { received: true }))
}
