//! `/v1/webhooks`: register, list, read, change, rotate the secret or Ed25519 key of, and
//! delete webhooks.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use warp::http::StatusCode;
use warp::Filter;

use super::error::ApiError;
use super::json::{self, reply};
use super::query::PageQuery;
use super::{auth, with_state, AppState, Page};
use crate::domain::access::Action;
use crate::domain::event::TestEventRequest;
use crate::domain::webhook::{
    CreateWebhookRequest, RotateSecretRequest, RotateSigningKeyRequest, UpdateWebhookRequest,
};
use crate::store::{Account, WebhookRecord};
use cdhooks_core::event::WEBHOOK_ID_PREFIX;

/// A webhook as the API shows it; the secret only on creation and rotation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    id: String,
    url: String,
    events: Vec<String>,
    description: Option<String>,
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_at: Option<String>,
    /// During a rotation's grace period: when the last rotated-out secret stops signing.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_secret_expires_at: Option<String>,
    /// During rotations' grace periods: when each rotated-out secret stops signing, oldest
    /// first (the docs' `X-Webhook-Signature` stays on the oldest).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    previous_secrets_expire_at: Vec<String>,
    /// `hmac`, or `ed25519` (deliveries also carry a `v1a` signature).
    #[schema(value_type = String)]
    signing: &'static str,
    /// With `ed25519`: the public key (`whpk_…`) receivers verify `v1a` signatures with. It
    /// verifies but cannot sign; share it freely.
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<String>,
    /// During key rotations' grace periods: the rotated-out public keys whose signatures
    /// deliveries still carry, oldest first, with when each stops.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    previous_public_keys: Vec<PreviousPublicKey>,
    /// How its endpoint has been answering.
    health: WebhookHealth,
    /// Conditions on `data` an event must meet to reach it (`null`: none).
    #[schema(value_type = Option<Object>)]
    filter: Option<serde_json::Value>,
    created_at: String,
    updated_at: String,
}

/// A webhook's health: its recent attempts and the circuit they set.
#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookHealth {
    /// `closed`: attempts go out as the per-webhook limit allows; `open`: the last
    /// attempts all failed, so one attempt at a time goes out (a probe) until one succeeds,
    /// and none is in flight now; `probing`: open, with its probe in flight now.
    #[schema(value_type = String)]
    circuit: &'static str,
    /// Failed attempts in a row, over all its deliveries (0 after a success).
    consecutive_failures: u32,
    /// While its endpoint's `Retry-After` (on a 429 or 503) holds every delivery back: until
    /// when.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    held_until: Option<String>,
}

/// A rotated-out Ed25519 public key still in its grace period.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PreviousPublicKey {
    /// `whpk_…`.
    public_key: String,
    /// When deliveries stop carrying its signature.
    expires_at: String,
}

impl WebhookView {
    fn new(record: WebhookRecord, show_secret: bool) -> Self {
        let public_key = record
            .signing_key
            .as_ref()
            .and_then(crate::domain::webhook::public_key_of);
        WebhookView {
            signing: if record.signing_key.is_some() {
                "ed25519"
            } else {
                "hmac"
            },
            public_key,
            filter: record.filter.as_ref().map(|f| f.to_json()),
            health: WebhookHealth {
                circuit: crate::domain::health::Circuit::of(
                    record.health.failure_streak,
                    record.attempts_in_flight,
                )
                .as_str(),
                consecutive_failures: record.health.failure_streak,
                held_until: record.health.held_until.map(json::time_ms),
            },
            previous_public_keys: record
                .previous_signing_keys
                .iter()
                .filter_map(|p| {
                    Some(PreviousPublicKey {
                        public_key: crate::domain::webhook::public_key_of(&p.secret)?,
                        expires_at: json::time_ms(p.until_ms),
                    })
                })
                .collect(),
            id: record.id,
            url: record.url,
            events: record.events,
            description: record.description,
            enabled: record.enabled,
            secret: show_secret.then(|| record.secret.expose().to_owned()),
            disabled_reason: record.disabled_reason,
            disabled_at: record.disabled_at.map(json::time_ms),
            previous_secret_expires_at: record
                .previous_secrets
                .iter()
                .map(|p| p.until_ms)
                .max()
                .map(json::time_ms),
            previous_secrets_expire_at: record
                .previous_secrets
                .iter()
                .map(|p| json::time_ms(p.until_ms))
                .collect(),
            created_at: json::time_ms(record.created_at),
            updated_at: json::time_ms(record.updated_at),
        }
    }
}

/// The routes.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let base = || warp::path!("v1" / "webhooks");
    let one = || warp::path!("v1" / "webhooks" / String);
    let act = |action| auth::acting(state.clone(), action);
    let create = base()
        .and(warp::post())
        .and(act(Action::Write))
        .and(json::body())
        .and(with_state(&state))
        .and_then(create);
    let list = base()
        .and(super::get())
        .and(act(Action::Read))
        .and(super::query::raw())
        .and(with_state(&state))
        .and_then(list);
    let get = one()
        .and(super::get())
        .and(act(Action::Read))
        .and(with_state(&state))
        .and_then(get);
    let patch = one()
        .and(warp::patch())
        .and(act(Action::Write))
        .and(json::body())
        .and(with_state(&state))
        .and_then(update);
    let delete = one()
        .and(warp::delete())
        .and(act(Action::Write))
        .and(with_state(&state))
        .and_then(delete);
    let rotate = warp::path!("v1" / "webhooks" / String / "rotate-secret")
        .and(warp::post())
        .and(auth::acting_checked(state.clone(), Action::Write))
        .and(json::optional_body())
        .and(with_state(&state))
        .and_then(rotate);
    let rotate_key = warp::path!("v1" / "webhooks" / String / "rotate-signing-key")
        .and(warp::post())
        .and(auth::acting_checked(state.clone(), Action::Write))
        .and(json::optional_body())
        .and(with_state(&state))
        .and_then(rotate_signing_key);
    let recover = warp::path!("v1" / "webhooks" / String / "recover")
        .and(warp::post())
        .and(act(Action::Write))
        .and(json::body())
        .and(with_state(&state))
        .and_then(recover);
    let test = warp::path!("v1" / "webhooks" / String / "test")
        .and(warp::post())
        .and(act(Action::SendTestEvent))
        .and(json::optional_body())
        .and(with_state(&state))
        .and_then(send_test);
    let matches = warp::path!("v1" / "webhooks" / String / "match")
        .and(warp::post())
        .and(act(Action::Read))
        .and(json::body())
        .and(with_state(&state))
        .and_then(match_event);
    create
        .or(list)
        .unify()
        .or(get)
        .unify()
        .or(patch)
        .unify()
        .or(delete)
        .unify()
        .or(rotate)
        .unify()
        .or(rotate_key)
        .unify()
        .or(test)
        .unify()
        .or(matches)
        .unify()
        .or(recover)
        .unify()
}

/// `202 {"recovered": n}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Recovered {
    /// How many failed deliveries were queued again.
    recovered: u64,
}

/// `POST /v1/webhooks/{id}/recover`.
async fn recover(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: crate::domain::webhook::RecoverRequest = json::parse(&body)?;
    let recovered = state
        .app
        .recover_deliveries(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::ACCEPTED, &Recovered { recovered }))
}

/// `POST /v1/webhooks/{id}/test`: a test event to this webhook alone; answers like
/// `POST /v1/events`.
/// `POST /v1/webhooks/{id}/match`: would the webhook have received the event, and why.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MatchView {
    event_id: String,
    event_type: String,
    /// A pattern of the webhook covers the event's type.
    subscribed: bool,
    /// Each condition of the filter against the event's `data`.
    conditions: Vec<ConditionView>,
    /// Subscribed, and every condition holds.
    receives: bool,
}

/// One condition of a filter against an event.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConditionView {
    /// `data.…`
    field: String,
    /// The values the filter accepts.
    #[schema(value_type = Vec<Object>)]
    accepted: serde_json::Value,
    /// What the event has there (`null`: nothing).
    #[schema(value_type = Option<Object>)]
    found: Option<serde_json::Value>,
    holds: bool,
}

async fn match_event(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: crate::app::matching::MatchEventRequest = json::parse(&body)?;
    let event_id = request.event_id.clone();
    let (event_type, found) = state
        .app
        .match_event(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    let view = MatchView {
        event_id,
        event_type,
        subscribed: found.subscribed,
        conditions: found
            .conditions
            .into_iter()
            .map(|c| ConditionView {
                field: c.field,
                accepted: c.accepted,
                found: c.found,
                holds: c.holds,
            })
            .collect(),
        receives: found.receives,
    };
    Ok(json::reply(StatusCode::OK, &view))
}

async fn send_test(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: TestEventRequest = json::parse_or_default(&body)?;
    let emitted = state
        .app
        .send_test_event(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(super::events::accepted(emitted))
}

async fn create(
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: CreateWebhookRequest = json::parse(&body)?;
    let record = state
        .app
        .register_webhook(&account, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::CREATED, &WebhookView::new(record, true)))
}

async fn list(
    account: Account,
    query: String,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let PageQuery { limit, after } = PageQuery::parse(&query, WEBHOOK_ID_PREFIX)?;
    let records = state
        .app
        .webhooks(&account, after.as_deref(), limit + 1)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    let page = Page::new(records, limit, |w| w.id.clone());
    Ok(reply(
        StatusCode::OK,
        &page.map(|w| WebhookView::new(w, false)),
    ))
}

async fn get(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let record = state
        .app
        .webhook(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::OK, &WebhookView::new(record, false)))
}

async fn update(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: UpdateWebhookRequest = json::parse(&body)?;
    let record = state
        .app
        .change_webhook(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::OK, &WebhookView::new(record, false)))
}

async fn rotate(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: RotateSecretRequest = json::parse_or_default(&body)?;
    let record = state
        .app
        .rotate_secret(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::OK, &WebhookView::new(record, true)))
}

async fn rotate_signing_key(
    id: String,
    account: Account,
    body: Bytes,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    let request: RotateSigningKeyRequest = json::parse_or_default(&body)?;
    let record = state
        .app
        .rotate_signing_key(&account, &id, request)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(reply(StatusCode::OK, &WebhookView::new(record, false)))
}

async fn delete(
    id: String,
    account: Account,
    state: Arc<AppState>,
) -> Result<warp::reply::Response, warp::Rejection> {
    state
        .app
        .delete_webhook(&account, &id)
        .await
        .map_err(|e| ApiError::from_app(e, "webhook"))?;
    Ok(warp::Reply::into_response(warp::reply::with_status(
        warp::reply(),
        StatusCode::NO_CONTENT,
    )))
}
