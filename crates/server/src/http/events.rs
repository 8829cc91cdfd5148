//! `/v1/events`: emit and read events.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use super::json::{self, reply};
use super::{auth, with_state, AppState};
use crate::app::EmittedEvent;
use crate::domain::access::Action;
use crate::domain::event::EmitEventRequest;
use crate::store::Account;

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let emit = warp::path!("v1" / "events")
        .and(warp::post())
        .and(auth::acting(state.clone(), Action::Emit))
        .and(json::body())
        .and(with_state(&state))
        .and_then(emit);
    // `/v1/events/batch` is the batch route (POST), not an event.
    let get = warp::path!("v1" / "events" / String)
        .and_then(|id: String| async move {
            if id == "batch" {
                Err(warp::reject::not_found())
            } else {
                Ok(id)
            }
        })
        .and(super::get())
        .and(auth::acting(state.clone(), Action::Read))
        .and(with_state(&state))
        .and_then(get);
    emit.or(get).unify()
}

async fn emit(
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: EmitEventRequest = json::parse(&body)?;
    let emitted = state
        .app
        .emit_event(&account, request)
        .await
        .map_err(|e| ApiError::from_app(e, "event"))?;
    Ok(accepted(emitted))
}

/// The `202` answer to an accepted event: `{"event": <envelope>, "deliveries": n}`.
pub fn accepted(emitted: EmittedEvent) -> warp::reply::Response {
    let (envelope, deliveries) = (emitted.envelope, emitted.deliveries);
    // The envelope is already JSON: splice it in rather than parse and serialise it again.
    let mut body = Vec::with_capacity(envelope.len() + 32);
    body.extend_from_slice(b"{\"event\":");
    body.extend_from_slice(&envelope);
    body.extend_from_slice(format!(",\"deliveries\":{deliveries}}}").as_bytes());
    let mut response = warp::http::Response::new(body.into());
    *response.status_mut() = StatusCode::ACCEPTED;
    response.headers_mut().insert(
        "content-type",
        warp::http::HeaderValue::from_static("application/json"),
    );
    response
}

async fn get(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let event = state
        .app
        .event(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "event"))?;
    let body = raw(&event.body)?;
    Ok(reply(StatusCode::OK, &body))
}

fn raw(bytes: &[u8]) -> Result<Box<RawValue>, ApiError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::internal(&e))?;
    RawValue::from_string(text.to_owned()).map_err(|e| ApiError::internal(&e))
}
