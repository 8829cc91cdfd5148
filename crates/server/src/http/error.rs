//! The API's one error type and its single mapping to HTTP.
//!
//! Handlers return `Result<_, Rejection>` carrying an [`ApiError`]; [`recover`] turns it —
//! and warp's own rejections — into `{"error":{"code","message","field"}}` with the right
//! status. Details of 500s are logged, never sent.

use std::convert::Infallible;

use serde::Serialize;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

use crate::app::AppError;
use crate::domain::ValidationError;
use crate::store::StoreError;

/// Every error code the API answers with; the OpenAPI document lists them, and a debug build
/// checks each error against this list.
pub const ERROR_CODES: &[&str] = &[
    "unauthorized",
    "forbidden",
    "account_required",
    "not_found",
    "method_not_allowed",
    "length_required",
    "payload_too_large",
    "request_timeout",
    "missing_header",
    "invalid_header",
    "invalid_json",
    "invalid_request",
    "invalid_query",
    "invalid_url",
    "url_forbidden_target",
    "invalid_secret",
    "invalid_signing",
    "weak_secret",
    "empty_events",
    "too_many_events",
    "invalid_event_pattern",
    "unknown_event_type",
    "invalid_description",
    "invalid_name",
    "invalid_data",
    "invalid_event_id",
    "invalid_email",
    "invalid_external_id",
    "invalid_scope",
    "invalid_ttl",
    "invalid_batch",
    "invalid_event_type_name",
    "invalid_schema",
    "invalid_example",
    "example_rejected",
    "event_type_exists",
    "event_type_in_use",
    "invalid_filter",
    "unknown_filter_field",
    "unknown_event",
    "unknown_account",
    "conflict",
    "limit_reached",
    "too_many_streams",
    "invalid_state",
    "storage_full",
    "storage_unavailable",
    "internal",
];

/// An error as the API reports it.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
    /// The request field at fault (`data`, `events[2]`, the query parameter …).
    pub field: Option<String>,
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        debug_assert!(
            ERROR_CODES.contains(&code),
            "undocumented error code {code}"
        );
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming the field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 401: no or a wrong API key.
    pub fn unauthorized() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing, invalid, expired or revoked credential; send Authorization: Bearer <api key>",
        )
    }

    /// 403: the credential is good but may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404 for a resource kind.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 500 without details (they are logged).
    pub fn internal(detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }

    /// Converts a use case's error, naming the kind of object for a 404.
    pub fn from_app(error: AppError, what: &str) -> Self {
        match error {
            AppError::Invalid(invalid) => ApiError::from(invalid),
            AppError::Store(store) => ApiError::from_store(store, what),
            AppError::Fault(fault) => ApiError::internal(&fault),
        }
    }

    /// Converts a store error, naming the kind of object for a 404.
    pub fn from_store(error: StoreError, what: &str) -> Self {
        match error {
            StoreError::NotFound => ApiError::not_found(what),
            StoreError::Conflict(message) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", message)
            }
            StoreError::LimitReached(what) => ApiError::new(
                StatusCode::CONFLICT,
                "limit_reached",
                format!("the account holds the most {what} it may; delete or revoke one first"),
            ),
            StoreError::InvalidState(message) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_state", message)
            }
            StoreError::Full(detail) => {
                tracing::error!(%detail, "storage full: a request was refused");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    "the server's storage is full; nothing was stored, try again later",
                )
            }
            StoreError::Unavailable(detail) => {
                tracing::error!(%detail, "storage unavailable: a request was refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "the server's storage is unavailable; nothing was stored, try again later",
                )
            }
            other => ApiError::internal(&other),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        let status = match e.code {
            "url_forbidden_target" | "unknown_filter_field" => StatusCode::UNPROCESSABLE_ENTITY,
            "event_type_exists" | "event_type_in_use" => StatusCode::CONFLICT,
            "unknown_account" | "unknown_event" => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError {
            status,
            code: e.code,
            message: e.message,
            field: e.field.map(str::to_owned),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

/// Renders an error response.
pub fn render(
    status: StatusCode,
    code: &str,
    message: &str,
    field: Option<&str>,
) -> warp::reply::Response {
    debug_assert!(
        ERROR_CODES.contains(&code),
        "undocumented error code {code}"
    );
    let body = Body {
        error: Detail {
            code,
            message,
            field,
        },
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// The one place rejections become responses.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(e) = rejection.find::<ApiError>() {
        return Ok(render(e.status, e.code, &e.message, e.field.as_deref()));
    }
    let (status, code, message) = if rejection.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such route".to_owned(),
        )
    } else if rejection.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than 256 KiB".to_owned(),
        )
    } else if rejection.find::<warp::reject::LengthRequired>().is_some() {
        (
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length".to_owned(),
        )
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take that method".to_owned(),
        )
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::MissingHeader>() {
        (StatusCode::BAD_REQUEST, "missing_header", e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, "invalid_header", e.to_string())
    } else {
        tracing::error!(?rejection, "unhandled rejection");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log".to_owned(),
        )
    };
    Ok(render(status, code, &message, None))
}
