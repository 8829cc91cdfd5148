//! `/v1/event-types`: the event catalog — read by anyone (receivers generate types from it),
//! managed with platform keys.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;
use warp::http::StatusCode;
use warp::Filter;

use super::auth::{self, Freshness, PlatformCaller};
use super::error::ApiError;
use super::json::{self, reply};
use super::{with_state, AppState};
use crate::domain::event_type::{CreateEventTypeRequest, UpdateEventTypeRequest};
use crate::store::EventTypeRecord;

/// One event type of the catalog.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventType {
    /// The `type` value.
    name: String,
    /// What happened.
    description: String,
    /// The JSON Schema (draft 2020-12) `data` is checked against at emission.
    #[schema(value_type = Object)]
    schema: Box<RawValue>,
    /// Example `data`.
    #[schema(value_type = Object)]
    example: Box<RawValue>,
    /// 1, and one more with each change of the schema.
    version: i64,
    /// Deprecated types can still be emitted and subscribed to.
    deprecated: bool,
    created_at: String,
    updated_at: String,
}

impl EventType {
    fn from_record(record: EventTypeRecord) -> Result<Self, ApiError> {
        let raw = |text: String| RawValue::from_string(text).map_err(|e| ApiError::internal(&e));
        Ok(EventType {
            name: record.name,
            description: record.description,
            schema: raw(record.schema)?,
            example: raw(record.example)?,
            version: record.version,
            deprecated: record.deprecated,
            created_at: json::time_ms(record.created_at),
            updated_at: json::time_ms(record.updated_at),
        })
    }
}

/// `GET /v1/event-types`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventTypeList {
    data: Vec<EventType>,
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let checked = || auth::platform(state.clone(), Freshness::Store);
    let list = warp::path!("v1" / "event-types")
        .and(super::get())
        .and(with_state(&state))
        .and_then(list);
    let get = warp::path!("v1" / "event-types" / String)
        .and(super::get())
        .and(with_state(&state))
        .and_then(get);
    let create = warp::path!("v1" / "event-types")
        .and(warp::post())
        .and(checked())
        .and(json::body())
        .and(with_state(&state))
        .and_then(create);
    let change = warp::path!("v1" / "event-types" / String)
        .and(warp::patch())
        .and(checked())
        .and(json::body())
        .and(with_state(&state))
        .and_then(change);
    let delete = warp::path!("v1" / "event-types" / String)
        .and(warp::delete())
        .and(checked())
        .and(with_state(&state))
        .and_then(delete);
    list.or(get)
        .unify()
        .or(create)
        .unify()
        .or(change)
        .unify()
        .or(delete)
        .unify()
}

async fn list(state: Arc<AppState>) -> Result<warp::reply::Response, warp::Rejection> {
    let catalog = state
        .app
        .catalog()
        .await
        .map_err(|e| ApiError::from_app(e, "event type"))?;
    let data = catalog
        .entries()
        .iter()
        .map(|entry| EventType::from_record(entry.record.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(reply(StatusCode::OK, &EventTypeList { data }))
}

async fn get(name: String, state: Arc<AppState>) -> Result<warp::reply::Response, warp::Rejection> {
    let record = state
        .app
        .event_type(&name)
        .await
        .map_err(|e| ApiError::from_app(e, "event type"))?;
    Ok(reply(StatusCode::OK, &EventType::from_record(record)?))
}

async fn create(
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreateEventTypeRequest = json::parse(&body)?;
    let record = state
        .app
        .create_event_type(request)
        .await
        .map_err(|e| ApiError::from_app(e, "event type"))?;
    Ok(reply(StatusCode::CREATED, &EventType::from_record(record)?))
}

async fn change(
    name: String,
    _: PlatformCaller,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: UpdateEventTypeRequest = json::parse(&body)?;
    let record = state
        .app
        .change_event_type(&name, request)
        .await
        .map_err(|e| ApiError::from_app(e, "event type"))?;
    Ok(reply(StatusCode::OK, &EventType::from_record(record)?))
}

async fn delete(
    name: String,
    _: PlatformCaller,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    state
        .app
        .delete_event_type(&name)
        .await
        .map_err(|e| ApiError::from_app(e, "event type"))?;
    let mut response = warp::reply::Response::new(Vec::new().into());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
