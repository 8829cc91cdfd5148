//! Delivery history and manual retries: `/v1/webhooks/{id}/deliveries`, `/v1/deliveries/{id}`,
//! `/v1/deliveries/{id}/retry`.

use std::sync::Arc;

use serde::Serialize;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use super::json::{self, reply};
use super::query::PageQuery;
use super::{auth, with_state, AppState, Page};
use crate::domain::access::Action;
use crate::store::{Account, AttemptRecord, DeliveryRecord};
use cdhooks_core::event::DELIVERY_ID_PREFIX;

/// A delivery with every attempt.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    id: String,
    event_id: String,
    event_type: String,
    webhook_id: String,
    /// `pending`, `succeeded`, `failed` or `paused`.
    #[schema(value_type = String)]
    status: &'static str,
    attempt_count: u32,
    next_attempt_at: Option<String>,
    last_error: Option<String>,
    created_at: String,
    updated_at: String,
    attempts: Vec<AttemptView>,
}

/// One attempt of a delivery.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    number: u32,
    attempted_at: String,
    duration_ms: i64,
    status_code: Option<u16>,
    error_kind: Option<String>,
    error: Option<String>,
    response_body: Option<String>,
    /// Where the attempt was sent (the webhook's URL then; `null` for attempts made by a
    /// server version that did not keep it).
    url: Option<String>,
}

impl From<AttemptRecord> for AttemptView {
    fn from(a: AttemptRecord) -> Self {
        AttemptView {
            number: a.number,
            attempted_at: json::time_ms(a.started_at),
            duration_ms: a.duration_ms,
            status_code: a.status_code,
            error_kind: a.error_kind,
            error: a.error_message,
            response_body: a.response_body,
            url: a.url,
        }
    }
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(d: DeliveryRecord) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            event_type: d.event_type,
            webhook_id: d.webhook_id,
            status: d.status.as_str(),
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at.map(json::time_ms),
            last_error: d.last_error,
            created_at: json::time_ms(d.created_at),
            updated_at: json::time_ms(d.updated_at),
            attempts: d.attempts.into_iter().map(AttemptView::from).collect(),
        }
    }
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let list = warp::path!("v1" / "webhooks" / String / "deliveries")
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(super::query::raw())
        .and(with_state(&state))
        .and_then(list);
    let get = warp::path!("v1" / "deliveries" / String)
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(with_state(&state))
        .and_then(get);
    let retry = warp::path!("v1" / "deliveries" / String / "retry")
        .and(warp::post())
        .and(auth::acting(state.clone(), Action::Write))
        .and(with_state(&state))
        .and_then(retry);
    let request = warp::path!("v1" / "deliveries" / String / "request")
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(with_state(&state))
        .and_then(request);
    list.or(get).unify().or(retry).unify().or(request).unify()
}

/// `GET /v1/deliveries/{id}/request`: the request of the latest attempt.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RequestView {
    #[schema(value_type = String)]
    method: &'static str,
    url: String,
    /// The attempt shown; `null` before the first.
    attempt: Option<u32>,
    /// `[name, value]` pairs in sending order.
    #[schema(value_type = Vec<Vec<String>>)]
    headers: Vec<(String, String)>,
    /// The body as text (the envelope is JSON, so UTF-8).
    body: String,
}

async fn request(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let sent = state
        .app
        .delivery_request(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "delivery"))?;
    let view = RequestView {
        method: "POST",
        url: sent.url,
        attempt: sent.attempt,
        headers: sent.headers,
        body: String::from_utf8_lossy(&sent.body).into_owned(),
    };
    Ok(reply(StatusCode::OK, &view))
}

async fn list(
    webhook_id: String,
    account: Account,
    query: String,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let PageQuery { limit, after } = PageQuery::parse(&query, DELIVERY_ID_PREFIX)?;
    let records = state
        .app
        .deliveries(&account, &webhook_id, after.as_deref(), limit + 1)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    let page = Page::new(records, limit, |d| d.id.clone());
    Ok(reply(StatusCode::OK, &page.map(DeliveryView::from)))
}

async fn get(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let record = state
        .app
        .delivery(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "delivery"))?;
    Ok(reply(StatusCode::OK, &DeliveryView::from(record)))
}

async fn retry(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let record = state
        .app
        .retry_delivery(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "delivery"))?;
    Ok(reply(StatusCode::ACCEPTED, &DeliveryView::from(record)))
}
