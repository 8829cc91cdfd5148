//! The HTTP API: one file per resource, one error type, one `recover`.
//!
//! Every `/v1` route except `GET /v1/event-types` needs `Authorization: Bearer <api key>`,
//! and an account sees only its own objects (another account's id is a 404).

mod accounts;
mod api_keys;
pub mod assets;
mod auth;
mod credential;
mod deliveries;
pub mod error;
mod event_types;
mod events;
mod inbox;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod query;
pub mod serve;
pub mod stream;
mod webhooks;

use std::sync::Arc;

use serde::Serialize;
use warp::http::StatusCode;
use warp::Filter;

use crate::app::App;

/// What every handler needs.
pub struct AppState {
    /// The use cases.
    pub app: Arc<App>,
    /// Live updates for `GET /v1/stream`.
    pub live: crate::live::LiveHub,
    /// Ends live streams when the server stops.
    pub shutdown: crate::shutdown::Shutdown,
    /// The browser tool's files and the package's browser build.
    pub assets: assets::Assets,
    /// Recently found credentials.
    pub credentials: auth::CredentialCache,
    /// Request counters and latencies.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// How many live streams may be open.
    pub streams: Arc<stream::StreamBudget>,
    /// Hashes of keys revoked through this instance, for the live streams they opened.
    pub revocations: tokio::sync::broadcast::Sender<String>,
    /// Where customers reach the dashboard (`--public-url`), for portal links.
    pub public_url: Option<url::Url>,
}

/// Hands the state to a handler.
pub fn with_state(
    state: &Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = std::convert::Infallible> + Clone {
    let state = state.clone();
    warp::any().map(move || state.clone())
}

/// `GET`, or `HEAD` (the same answer without its body, which hyper leaves out): every route
/// that reads answers both.
pub fn get() -> impl Filter<Extract = (), Error = warp::Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

/// The default page size of list endpoints.
pub const DEFAULT_PAGE: u32 = 50;
/// The largest page size.
pub const MAX_PAGE: u32 = 200;

/// One page of a list, with the cursor of the next page.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `after` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` items (the extra one only says there is more).
    pub fn new(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more { items.last().map(id) } else { None };
        Page {
            data: items,
            next_cursor,
        }
    }

    /// Converts the items.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// `GET /healthz`: 200 while the store can write, 503 with the reason when it cannot.
async fn health(state: Arc<AppState>) -> warp::reply::Response {
    match state.app.readiness().await {
        Ok(()) => json::reply(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        Err(reason) => json::reply(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"status": "unavailable", "reason": reason}),
        ),
    }
}

/// Every route, with errors rendered.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = std::convert::Infallible> + Clone {
    let health = warp::path!("healthz")
        .and(get())
        .and(with_state(&state))
        .then(health);
    // The document of this server's catalog (its event types, their `data` schemas).
    let openapi = warp::path!("v1" / "openapi.json")
        .and(get())
        .and(with_state(&state))
        .and_then(|state: Arc<AppState>| async move {
            let catalog = state
                .app
                .catalog()
                .await
                .map_err(|e| error::ApiError::from_app(e, "document"))?;
            Ok::<_, warp::Rejection>(json::reply(
                StatusCode::OK,
                &openapi::document_for(&catalog),
            ))
        });
    let state_metrics = state.metrics.clone();
    let api = health
        .or(openapi)
        .unify()
        .or(credential::routes(state.clone()))
        .unify()
        .or(accounts::routes(state.clone()))
        .unify()
        .or(api_keys::routes(state.clone()))
        .unify()
        .or(webhooks::routes(state.clone()))
        .unify()
        .or(events::routes(state.clone()))
        .unify()
        .or(event_types::routes(state.clone()))
        .unify()
        .or(deliveries::routes(state.clone()))
        .unify()
        .or(inbox::routes(state.clone()))
        .unify()
        .or(stream::routes(state.clone()))
        .unify()
        .or(assets::routes(&state))
        .unify()
        .recover(error::recover)
        .unify();
    warp::path::full()
        .and(api)
        .map(
            |path: warp::path::FullPath, mut response: warp::reply::Response| {
                if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                    // RFC 9110: a 405 says which methods the route takes; a path that is a
                    // route for no method is not found (warp reports the method mismatch of
                    // whichever route it tried last).
                    match openapi::allowed_methods(path.as_str())
                        .and_then(|m| warp::http::HeaderValue::from_str(&m).ok())
                    {
                        Some(allow) => {
                            response
                                .headers_mut()
                                .insert(warp::http::header::ALLOW, allow);
                        }
                        None if path.as_str().starts_with("/v1/") => {
                            return error::render(
                                StatusCode::NOT_FOUND,
                                "not_found",
                                "no such route",
                                None,
                            );
                        }
                        None => {}
                    }
                }
                response
            },
        )
        .with(warp::log::custom(move |info| {
            let status = info.status().as_u16();
            tracing::debug!(method = %info.method(), path = info.path(), status, "request");
            let route = openapi::route_template(info.path()).unwrap_or_else(|| {
                if info.path().starts_with("/v1") {
                    "unknown"
                } else {
                    "static"
                }
                .to_owned()
            });
            state_metrics.request(route, status, info.elapsed());
        }))
}
