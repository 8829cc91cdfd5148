//! The API as an OpenAPI 3.1 document, generated from the server's own request and response
//! types (`utoipa`), the event catalog and the error codes, served at `GET /v1/openapi.json`
//! and committed as `docs/openapi.json` (`make openapi`; a test fails when it is stale, and
//! another when a route is served but missing from it, or the other way round).
//!
//! The operations below are documentation only: each names the handler's route, its types
//! and every status it can answer. Parts that follow from data rather than types — the event
//! type names, the error codes, the outgoing delivery as OpenAPI `webhooks` with each type's
//! `data` schema — are added from the catalog after generation.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::api_keys::{ApiKeyView, CreateApiKeyRequest};
use super::deliveries::{AttemptView, DeliveryView, RequestView};
use super::error::ERROR_CODES;
use super::events::{EventType, EventTypeList};
use super::inbox::{CapturedList, CapturedView, InboxView, Received};
use super::webhooks::{Recovered, WebhookView};
use super::{Page, MAX_PAGE};
use crate::domain::event::{EmitEventRequest, TestEventRequest};
use crate::domain::webhook::{
    CreateWebhookRequest, RecoverRequest, RotateSecretRequest, UpdateWebhookRequest,
};
use cdhooks_core::catalog::CATALOG;

/// An error answer: `{"error":{"code","message","field"}}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable, machine-readable.
    code: String,
    /// For people.
    message: String,
    /// The request field or query parameter at fault, when there is one.
    field: Option<String>,
}

/// The event envelope, byte for byte what deliveries carry.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Envelope {
    /// `evt_…` or the sender's id.
    id: String,
    /// The event type.
    #[schema(rename = "type")]
    event_type: String,
    /// RFC 3339 UTC, whole seconds (the docs' format).
    created_at: String,
    /// The event's payload.
    #[schema(value_type = Object)]
    data: (),
}

/// `202` to an accepted event.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Accepted {
    /// The stored envelope.
    event: Envelope,
    /// How many webhooks it fans out to.
    deliveries: u32,
}

/// `GET /healthz`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `ok` or `unavailable`.
    status: String,
    /// With `unavailable`: `storage_full` or `storage_unavailable`.
    reason: Option<String>,
}

/// The OpenAPI document, before the data-driven parts.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "cdhooks",
        description = "Webhooks for a hosting provider: register endpoints, emit events, follow signed deliveries with retries.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        health, openapi_json, create_webhook, list_webhooks, get_webhook, update_webhook,
        delete_webhook, rotate_secret, send_test_event, list_deliveries, emit_event, get_event,
        event_types, get_delivery, retry_delivery, delivery_request, create_inbox,
        inbox_requests, inbox_get, inbox_post, inbox_put, inbox_patch, stream, create_api_key,
        list_api_keys, revoke_api_key, recover_deliveries
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Envelope, Accepted, Health, WebhookView, CreateWebhookRequest,
        UpdateWebhookRequest, RotateSecretRequest, EmitEventRequest, TestEventRequest,
        DeliveryView, AttemptView, RequestView, EventType, EventTypeList, InboxView,
        CapturedView, CapturedList, Received, CreateApiKeyRequest, ApiKeyView, RecoverRequest, Recovered
    )),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags(
        (name = "webhooks", description = "Endpoints that receive events"),
        (name = "events", description = "Emitting events and the catalog"),
        (name = "deliveries", description = "What was sent, and manual retries"),
        (name = "inboxes", description = "Receivers inside the server, for trying the loop"),
        (name = "api-keys", description = "The account's API keys"),
        (name = "server", description = "Health and this document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: `Authorization: Bearer cdh_…`"))
                    .build(),
            ),
        );
    }
}

/// The complete document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let names: Vec<&str> = CATALOG.iter().map(|t| t.name).collect();
    let schemas = &mut doc["components"]["schemas"];
    schemas["ErrorDetail"]["properties"]["code"]["enum"] = json!(ERROR_CODES);
    for (schema, property) in [
        ("EmitEventRequest", "type"),
        ("TestEventRequest", "type"),
        ("Envelope", "type"),
    ] {
        let slot = &mut schemas[schema]["properties"][property];
        let nullable = slot["type"].as_array().is_some();
        *slot = if nullable {
            json!({"type": ["string", "null"], "enum": names.iter().map(|n| json!(n)).chain([Value::Null]).collect::<Vec<_>>()})
        } else {
            json!({"type": "string", "enum": names})
        };
    }
    // The validation rules, so that a request valid by the document is one the server takes.
    let patterns = subscription_patterns();
    for schema in ["CreateWebhookRequest", "UpdateWebhookRequest"] {
        let properties = &mut schemas[schema]["properties"];
        constrain(
            &mut properties["url"],
            json!({
                "format": "uri",
                "pattern": URL_PATTERN,
                "maxLength": crate::domain::target::MAX_URL_LEN,
            }),
        );
        constrain(
            &mut properties["events"],
            json!({
                "minItems": 1,
                "maxItems": crate::domain::webhook::MAX_PATTERNS,
                "items": {"type": "string", "enum": patterns},
            }),
        );
        constrain(
            &mut properties["description"],
            json!({
                "maxLength": crate::domain::webhook::MAX_DESCRIPTION_LEN,
                "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
            }),
        );
    }
    for schema in ["CreateWebhookRequest", "RotateSecretRequest"] {
        constrain(
            &mut schemas[schema]["properties"]["secret"],
            json!({"pattern": SECRET_PATTERN}),
        );
    }
    constrain(
        &mut schemas["EmitEventRequest"]["properties"]["id"],
        json!({"pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    );
    constrain(
        &mut schemas["RotateSecretRequest"]["properties"]["grace_seconds"],
        json!({"minimum": 0, "maximum": crate::domain::webhook::MAX_GRACE_SECONDS}),
    );
    constrain(
        &mut schemas["CreateApiKeyRequest"]["properties"]["name"],
        json!({"minLength": 1, "maxLength": crate::domain::api_key::MAX_NAME_LEN, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}),
    );
    for schema in [
        "CreateWebhookRequest",
        "UpdateWebhookRequest",
        "RotateSecretRequest",
        "EmitEventRequest",
        "TestEventRequest",
        "CreateApiKeyRequest",
        "RecoverRequest",
    ] {
        schemas[schema]["additionalProperties"] = json!(false);
    }
    doc["webhooks"] = outgoing_deliveries();
    doc
}

/// What a webhook URL must look like: http(s), a host, no whitespace or control characters.
/// (Which addresses are allowed depends on the server's flags, and is answered with 422.)
const URL_PATTERN: &str = crate::domain::target::URL_PATTERN;

/// A customer's secret: `whsec_` + canonical base64 of 24 to 64 bytes, or 16 to 256 printable
/// ASCII characters without spaces (and not starting with `whsec_`).
const SECRET_PATTERN: &str = concat!(
    "^(whsec_([A-Za-z0-9+/]{4}){8,21}([A-Za-z0-9+/][AQgw]==)?",
    "|whsec_([A-Za-z0-9+/]{4}){8,20}[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=",
    "|(?!whsec_)[!-~]{16,256})$"
);

/// Adds JSON Schema keywords to a property (keeping its type, e.g. nullable).
fn constrain(property: &mut Value, keywords: Value) {
    if let (Some(slot), Value::Object(keywords)) = (property.as_object_mut(), keywords) {
        slot.extend(keywords);
    }
}

/// Every subscription pattern the server accepts: `*`, each event type, and `prefix.*` for
/// each prefix that some event type falls under.
fn subscription_patterns() -> Vec<String> {
    let mut patterns = vec!["*".to_owned()];
    for info in CATALOG {
        let segments: Vec<&str> = info.name.split('.').collect();
        for n in 1..segments.len() {
            let prefix = format!("{}.*", segments[..n].join("."));
            if !patterns.contains(&prefix) {
                patterns.push(prefix);
            }
        }
    }
    patterns.extend(CATALOG.iter().map(|t| t.name.to_owned()));
    patterns
}

/// The methods the document lists for the route `path` matches (with `HEAD` beside `GET`),
/// for the `Allow` header of a `405`; `None` for a path that is no route.
pub fn allowed_methods(path: &str) -> Option<String> {
    route(path).map(|(_, methods)| methods.join(", "))
}

/// The template of the route `path` matches (`/v1/webhooks/{id}`), for metrics labels.
pub fn route_template(path: &str) -> Option<String> {
    route(path).map(|(template, _)| template.join("/"))
}

/// The document's route (template segments, methods) that `path` matches.
fn route(path: &str) -> Option<&'static (Vec<String>, Vec<String>)> {
    static ROUTES: std::sync::OnceLock<Vec<(Vec<String>, Vec<String>)>> =
        std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let doc = document();
        doc["paths"]
            .as_object()
            .map(|paths| {
                paths
                    .iter()
                    .map(|(template, operations)| {
                        let segments = template.split('/').map(str::to_owned).collect();
                        let mut methods: Vec<String> = operations
                            .as_object()
                            .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                            .unwrap_or_default();
                        if methods.iter().any(|m| m == "GET") {
                            methods.push("HEAD".to_owned());
                        }
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let segments: Vec<&str> = path.split('/').collect();
    routes.iter().find(|(template, _)| {
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    })
}

/// The delivery requests the server sends, one per event type, as OpenAPI 3.1 `webhooks`.
fn outgoing_deliveries() -> Value {
    let mut webhooks = Map::new();
    for info in CATALOG {
        let example: Value = serde_json::from_str(info.example_data).unwrap_or(Value::Null);
        let header = |name: &str, description: &str, schema: Value| json!({"name": name, "in": "header", "required": true, "description": description, "schema": schema});
        webhooks.insert(
            info.name.to_owned(),
            json!({"post": {
                "summary": info.description,
                "description": "Sent to every enabled webhook subscribed to the type. Verify X-Webhook-Signature (the docs' hex HMAC-SHA256 of the raw body under the secret) or the Standard Webhooks headers before trusting it; answer 2xx within the timeout, or it is retried with backoff.",
                "parameters": [
                    header("X-Webhook-Signature", "Lowercase hex HMAC-SHA256 of the raw body under the webhook's secret.", json!({"type": "string", "pattern": "^[0-9a-f]{64}$"})),
                    header("X-Webhook-Event", "The event type.", json!({"type": "string", "const": info.name})),
                    header("webhook-id", "The event id (Standard Webhooks).", json!({"type": "string"})),
                    header("webhook-timestamp", "Unix seconds of this attempt (Standard Webhooks).", json!({"type": "string", "pattern": "^[0-9]{1,12}$"})),
                    header("webhook-signature", "Space-separated `v1,<base64>` entries (Standard Webhooks).", json!({"type": "string"})),
                    header("User-Agent", "cdhooks/<version>", json!({"type": "string"})),
                ],
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["id", "type", "created_at", "data"],
                        "properties": {
                            "id": {"type": "string"},
                            "type": {"type": "string", "const": info.name},
                            "created_at": {"type": "string", "format": "date-time"},
                            "data": schema_of(&example),
                        }
                    },
                    "example": {"id": "evt_abc123", "type": info.name, "created_at": "2025-01-15T10:30:00Z", "data": example},
                }}},
                "responses": {"2XX": {"description": "Delivered. Anything else (or no answer within the timeout) is a failed attempt."}}
            }}),
        );
    }
    Value::Object(webhooks)
}

/// A JSON Schema for a value shaped like `example`.
fn schema_of(example: &Value) -> Value {
    match example {
        Value::Null => json!({"type": "null"}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => {
            json!({"type": "array", "items": items.first().map(schema_of).unwrap_or(json!({}))})
        }
        Value::Object(fields) => json!({
            "type": "object",
            "required": fields.keys().collect::<Vec<_>>(),
            "properties": fields.iter().map(|(k, v)| (k.clone(), schema_of(v))).collect::<Map<_, _>>(),
        }),
    }
}

// ---- The operations (documentation only) ------------------------------------------------

#[utoipa::path(get, path = "/healthz", tag = "server", security(()),
    description = "Readiness: the store can write (a real write, its answer reused for 500 ms).",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The store cannot write", body = Health),
    ))]
#[allow(dead_code)]
fn health() {}

#[utoipa::path(get, path = "/v1/openapi.json", tag = "server", security(()),
    responses((status = 200, description = "This document", content_type = "application/json", body = serde_json::Value)))]
#[allow(dead_code)]
fn openapi_json() {}

#[utoipa::path(post, path = "/v1/webhooks", tag = "webhooks", request_body = CreateWebhookRequest,
    responses(
        (status = 201, description = "Registered; the secret is shown only here and on rotation", body = WebhookView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 422, description = "The URL targets a forbidden address", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_webhook() {}

#[utoipa::path(get, path = "/v1/webhooks", tag = "webhooks",
    params(
        ("limit" = Option<u32>, Query, description = "Page size", minimum = 1, maximum = 200),
        ("after" = Option<String>, Query, description = "The `next_cursor` of the previous page", pattern = "^wh_[0-9a-f]{32}$"),
    ),
    responses(
        (status = 200, description = "One page, oldest first", body = Page<WebhookView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_webhooks() {}

#[utoipa::path(get, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_webhook() {}

#[utoipa::path(patch, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = UpdateWebhookRequest,
    responses(
        (status = 200, description = "Changed; `enabled: true` resumes paused deliveries", body = WebhookView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 422, description = "The URL targets a forbidden address", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn update_webhook() {}

#[utoipa::path(delete, path = "/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses(
        (status = 204, description = "Deleted with its deliveries"),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delete_webhook() {}

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-secret", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Option<RotateSecretRequest>, description = "Optional: a secret to use; generated when absent"),
    responses(
        (status = 200, description = "The webhook with its new secret", body = WebhookView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 409, description = "Ten rotated-out secrets still sign (`invalid_state`): wait for a grace period to end, or rotate with `grace_seconds: 0`", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn rotate_secret() {}

#[utoipa::path(post, path = "/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Option<TestEventRequest>, description = "Optional: the type (default: the first the webhook subscribes to) and data (default: the catalog's example)"),
    responses(
        (status = 202, description = "A test event, delivered to this webhook only", body = Accepted),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn send_test_event() {}

#[utoipa::path(get, path = "/v1/webhooks/{id}/deliveries", tag = "deliveries",
    params(
        ("id" = String, Path),
        ("limit" = Option<u32>, Query, description = "Page size", minimum = 1, maximum = 200),
        ("after" = Option<String>, Query, description = "The `next_cursor` of the previous page", pattern = "^dlv_[0-9a-f]{32}$"),
    ),
    responses(
        (status = 200, description = "One page, newest first", body = Page<DeliveryView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_deliveries() {}

#[utoipa::path(post, path = "/v1/events", tag = "events", request_body = EmitEventRequest,
    responses(
        (status = 202, description = "Stored with its deliveries before this answer", body = Accepted),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 409, description = "An event with this id exists", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn emit_event() {}

#[utoipa::path(get, path = "/v1/events/{id}", tag = "events", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The stored envelope, byte for byte what is delivered", body = Envelope),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such event in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_event() {}

#[utoipa::path(get, path = "/v1/event-types", tag = "events", security(()),
    responses((status = 200, description = "The nine types with descriptions and example data", body = EventTypeList)))]
#[allow(dead_code)]
fn event_types() {}

#[utoipa::path(get, path = "/v1/deliveries/{id}", tag = "deliveries", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The delivery and every attempt", body = DeliveryView),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such delivery in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_delivery() {}

#[utoipa::path(post, path = "/v1/deliveries/{id}/retry", tag = "deliveries", params(("id" = String, Path)),
    responses(
        (status = 202, description = "Queued for a new round of attempts", body = DeliveryView),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such delivery in this account", body = ErrorBody),
        (status = 409, description = "Only a failed delivery of an enabled webhook can be retried", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn retry_delivery() {}

#[utoipa::path(get, path = "/v1/deliveries/{id}/request", tag = "deliveries", params(("id" = String, Path)),
    responses(
        (status = 200, description = "The latest attempt's request: the stored body, headers re-signed for that attempt's time with the current secret", body = RequestView),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such delivery in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delivery_request() {}

#[utoipa::path(post, path = "/v1/inboxes", tag = "inboxes",
    responses(
        (status = 201, description = "A new inbox", body = InboxView),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 409, description = "The account holds 20 inboxes already (`limit_reached`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_inbox() {}

#[utoipa::path(get, path = "/v1/inboxes/{token}/requests", tag = "inboxes", params(("token" = String, Path)),
    responses(
        (status = 200, description = "What the inbox captured, newest first", body = CapturedList),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such inbox in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn inbox_requests() {}

macro_rules! inbox_capture {
    ($method:ident, $name:ident) => {
        #[utoipa::path($method, path = "/inbox/{token}", tag = "inboxes", security(()), params(("token" = String, Path)),
            description = "Any request to an inbox is recorded (the token is the credential, checked before the body is read); the latest 100 are kept, at most 1 MiB of bodies.",
            request_body(content = Option<serde_json::Value>, description = "Anything"),
            responses(
                (status = 200, description = "Recorded", body = Received),
                (status = 404, description = "No such inbox", body = ErrorBody),
                (status = 413, description = "Body over 256 KiB", body = ErrorBody),
                (status = 503, description = "Storage unavailable", body = ErrorBody),
                (status = 507, description = "Storage full", body = ErrorBody),
            ))]
        #[allow(dead_code)]
        fn $name() {}
    };
}
inbox_capture!(get, inbox_get);
inbox_capture!(post, inbox_post);
inbox_capture!(put, inbox_put);
inbox_capture!(patch, inbox_patch);

#[utoipa::path(get, path = "/v1/stream", tag = "deliveries",
    description = "Server-Sent Events of this account's delivery attempts (`delivery.attempt`) and inbox captures (`inbox.request`), from every instance; ends when the server stops.",
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = String),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn stream() {}

#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "A new key; `key` is shown only here", body = ApiKeyView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong (or revoked) API key, checked against the store", body = ErrorBody),
        (status = 409, description = "The account holds 100 keys already (`limit_reached`)", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_api_key() {}

#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    params(
        ("limit" = Option<u32>, Query, description = "Page size", minimum = 1, maximum = 200),
        ("after" = Option<String>, Query, description = "The `next_cursor` of the previous page", pattern = "^key_[0-9a-f]{32}$"),
    ),
    responses(
        (status = 200, description = "One page of the account's keys (never the keys themselves), oldest first", body = Page<ApiKeyView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_api_keys() {}

#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    description = "Stops the key working at once on this instance, within 5 s on the others.",
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such key in this account", body = ErrorBody),
        (status = 409, description = "The account's last key, or the key this request is made with", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn revoke_api_key() {}

#[utoipa::path(post, path = "/v1/webhooks/{id}/recover", tag = "deliveries", params(("id" = String, Path)),
    request_body = RecoverRequest,
    description = "Sends the webhook's failed deliveries created in [since, until) again, each in a fresh round of attempts (paused until re-enabled while the webhook is disabled).",
    responses(
        (status = 202, description = "How many were queued again", body = Recovered),
        (status = 400, description = "Invalid body, or a window that does not end after it starts", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn recover_deliveries() {}

/// The page size limit, for the document's `maximum` (kept in step with the code).
const _: () = assert!(MAX_PAGE == 200);
