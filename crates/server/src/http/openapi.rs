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

use super::accounts::{
    AccountView, AttentionView, BatchEventRequest, BatchRequest, CreatePlatformKeyRequest,
    CreatePortalSessionRequest, OpenedAccountView, PlatformKeyView, PortalSessionView,
};
use super::api_keys::{ApiKeyView, CreateApiKeyRequest};
use super::credential::{CredentialAccount, CredentialView};
use super::deliveries::{AttemptView, DeliveryView, RequestView};
use super::error::ERROR_CODES;
use super::event_types::{EventType, EventTypeList};
use super::inbox::{CapturedList, CapturedView, InboxView, Received};
use super::webhooks::{
    ConditionView, MatchView, PreviousPublicKey, Recovered, WebhookHealth, WebhookView,
};
use super::{Page, MAX_PAGE};
use crate::app::matching::MatchEventRequest;
use crate::domain::account::{CreateAccountRequest, UpdateAccountRequest};
use crate::domain::event::{EmitEventRequest, TestEventRequest};
use crate::domain::event_type::{Catalog, CreateEventTypeRequest, UpdateEventTypeRequest};
use crate::domain::webhook::{
    CreateWebhookRequest, RecoverRequest, RotateSecretRequest, RotateSigningKeyRequest,
    UpdateWebhookRequest,
};

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

/// `202` to an accepted batch: each event as a single emission answers it, in order.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct BatchAccepted {
    data: Vec<Accepted>,
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
        delete_webhook, rotate_secret, rotate_signing_key, send_test_event, match_event, list_deliveries, emit_event, get_event,
        event_types, get_event_type, create_event_type, update_event_type, delete_event_type,
        get_delivery, retry_delivery, delivery_request, create_inbox,
        inbox_requests, inbox_get, inbox_post, inbox_put, inbox_patch, stream, create_api_key,
        list_api_keys, revoke_api_key, recover_deliveries, create_account, list_accounts,
        get_account, update_account, delete_account, emit_for_account, emit_batch,
        open_portal_session, revoke_portal_session, create_platform_key, list_platform_keys,
        revoke_platform_key, get_credential
    ),
    components(schemas(
        ErrorBody, ErrorDetail, Envelope, Accepted, Health, WebhookView, PreviousPublicKey, WebhookHealth, CreateWebhookRequest,
        UpdateWebhookRequest, RotateSecretRequest, RotateSigningKeyRequest, EmitEventRequest, TestEventRequest,
        DeliveryView, AttemptView, RequestView, EventType, EventTypeList, CreateEventTypeRequest,
        UpdateEventTypeRequest, MatchEventRequest, MatchView, ConditionView, InboxView,
        CapturedView, CapturedList, Received, CreateApiKeyRequest, ApiKeyView, RecoverRequest, Recovered,
        AccountView, OpenedAccountView, CreateAccountRequest, UpdateAccountRequest,
        BatchEventRequest, BatchRequest, BatchAccepted, CreatePortalSessionRequest,
        PortalSessionView, CreatePlatformKeyRequest, PlatformKeyView, CredentialView, AttentionView,
        CredentialAccount
    )),
    modifiers(&BearerAuth),
    security(("account_key" = []), ("portal_session" = []), ("platform_key" = [])),
    tags(
        (name = "webhooks", description = "Endpoints that receive events"),
        (name = "events", description = "Emitting events"),
        (name = "event-types", description = "The event catalog: read by anyone, managed with platform keys"),
        (name = "deliveries", description = "What was sent, and manual retries"),
        (name = "inboxes", description = "Receivers inside the server, for trying the loop"),
        (name = "api-keys", description = "The account's API keys"),
        (name = "platform", description = "The provider's API (platform keys): accounts, emission for any account, portal sessions, platform keys"),
        (name = "server", description = "Health and this document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, description) in [
            ("account_key", "An account's API key, `Authorization: Bearer cdh_…`: scope `read` reads, `manage` also changes and sends test events, `full` also emits real events."),
            ("portal_session", "A portal session's token, `Authorization: Bearer cdhs_…` (from a portal link): the account's dashboard, read-only or not, until it expires; webhooks and their secrets, deliveries, test events; never API keys, inboxes or real events."),
            ("platform_key", "The provider's key, `Authorization: Bearer cdhp_…`: the platform routes, and every account route for the account named by the `Cdhooks-Account` header."),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(description))
                        .build(),
                ),
            );
        }
    }
}

/// The complete document for the docs' nine event types (as committed in `docs/openapi.json`).
pub fn document() -> Value {
    document_for(&Catalog::seeded())
}

/// The complete document for the event types of `catalog` (as a running server serves it).
pub fn document_for(catalog: &Catalog) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let names: Vec<&str> = catalog.names().collect();
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
    let patterns = subscription_patterns(catalog);
    let filter = filter_schema();
    schemas["MatchEventRequest"]["properties"]["filter"] = filter.clone();
    // What a condition compares: strings and numbers; what an event has there: any value.
    let condition = &mut schemas["ConditionView"]["properties"];
    condition["accepted"]["items"] = json!({"type": ["string", "number"]});
    condition["found"] = json!({"description": "What the event has there (`null`: nothing)."});
    constrain(
        &mut schemas["CreateApiKeyRequest"]["properties"]["scope"],
        json!({"enum": ["read", "manage", "full", null]}),
    );
    for schema in ["CreateWebhookRequest", "UpdateWebhookRequest"] {
        let properties = &mut schemas[schema]["properties"];
        properties["filter"] = filter.clone();
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
    constrain(
        &mut schemas["CreateWebhookRequest"]["properties"]["signing"],
        json!({"enum": ["hmac", "ed25519", null]}),
    );
    for schema in ["CreateWebhookRequest", "RotateSecretRequest"] {
        constrain(
            &mut schemas[schema]["properties"]["secret"],
            json!({"pattern": SECRET_PATTERN}),
        );
    }
    for schema in ["EmitEventRequest", "BatchEventRequest"] {
        constrain(
            &mut schemas[schema]["properties"]["id"],
            json!({"pattern": EVENT_ID_PATTERN}),
        );
    }
    {
        let slot = &mut schemas["BatchEventRequest"]["properties"]["type"];
        *slot = json!({"type": "string", "enum": names});
        constrain(
            &mut schemas["BatchEventRequest"]["properties"]["account"],
            json!({"pattern": "^acct_[0-9a-f]{32}$"}),
        );
    }
    for schema in ["CreateAccountRequest", "UpdateAccountRequest"] {
        let properties = &mut schemas[schema]["properties"];
        constrain(
            &mut properties["email"],
            json!({"pattern": EMAIL_PATTERN, "maxLength": 254}),
        );
        for field in ["name", "external_id"] {
            constrain(
                &mut properties[field],
                json!({"minLength": 1, "maxLength": crate::domain::account::MAX_NAME_LEN, "pattern": NO_CONTROLS}),
            );
        }
    }
    constrain(
        &mut schemas["CreatePlatformKeyRequest"]["properties"]["name"],
        json!({"minLength": 1, "maxLength": crate::domain::api_key::MAX_NAME_LEN, "pattern": NO_CONTROLS}),
    );
    for schema in ["RotateSecretRequest", "RotateSigningKeyRequest"] {
        constrain(
            &mut schemas[schema]["properties"]["grace_seconds"],
            json!({"minimum": 0, "maximum": crate::domain::webhook::MAX_GRACE_SECONDS}),
        );
    }
    constrain(
        &mut schemas["CreateApiKeyRequest"]["properties"]["name"],
        json!({"minLength": 1, "maxLength": crate::domain::api_key::MAX_NAME_LEN, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}),
    );
    for schema in [
        "CreateWebhookRequest",
        "UpdateWebhookRequest",
        "RotateSecretRequest",
        "RotateSigningKeyRequest",
        "EmitEventRequest",
        "TestEventRequest",
        "MatchEventRequest",
        "CreateApiKeyRequest",
        "RecoverRequest",
    ] {
        schemas[schema]["additionalProperties"] = json!(false);
    }
    constrain(
        &mut schemas["CreatePortalSessionRequest"]["properties"]["ttl_seconds"],
        json!({"minimum": crate::domain::access::PORTAL_TTL_MIN_S, "maximum": crate::domain::access::PORTAL_TTL_MAX_S}),
    );
    constrain(
        &mut schemas["BatchRequest"]["properties"]["events"],
        json!({"minItems": 1, "maxItems": crate::app::platform::MAX_BATCH_EVENTS}),
    );
    for schema in [
        "CreateAccountRequest",
        "UpdateAccountRequest",
        "BatchEventRequest",
        "CreatePortalSessionRequest",
        "CreatePlatformKeyRequest",
    ] {
        schemas[schema]["additionalProperties"] = json!(false);
    }
    for schema in ["EmitEventRequest", "BatchEventRequest"] {
        schemas[schema] = one_variant_per_type(&schemas[schema], catalog);
    }
    add_access_answers(&mut doc);
    doc["webhooks"] = outgoing_deliveries(catalog);
    doc
}

/// An emission's schema as one variant per event type: `type` that type, `data` its schema —
/// so that a request valid by the document is one whose `data` the server accepts.
fn one_variant_per_type(emission: &Value, catalog: &Catalog) -> Value {
    let variants: Vec<Value> = catalog
        .entries()
        .iter()
        .map(|entry| {
            let mut variant = emission.clone();
            variant["properties"]["type"] = json!({"type": "string", "const": entry.record.name});
            variant["properties"]["data"] = data_schema(&entry.schema);
            variant
        })
        .collect();
    json!({"oneOf": variants})
}

/// A type's `data` schema as the document embeds it (its own `$schema` dialect is the
/// document's).
fn data_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
    }
    schema
}

/// Every operation that takes a credential answers `403` when the credential may not do it;
/// those an account key or a portal session may call take the `Cdhooks-Account` header (a
/// platform key names the account there, and answers `400 account_required` without it).
fn add_access_answers(doc: &mut Value) {
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    let answer = |description: &str| json!({"description": description, "content": {"application/json": {"schema": error}}});
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operations in paths.values_mut() {
        let Some(operations) = operations.as_object_mut() else {
            continue;
        };
        for operation in operations.values_mut() {
            let open = operation["security"].as_array().is_some_and(|s| {
                s.iter()
                    .all(|r| r.as_object().is_some_and(|r| r.is_empty()))
            });
            if open {
                continue;
            }
            let platform_only = operation["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == "platform"));
            let responses = &mut operation["responses"];
            if responses.get("403").is_none() {
                responses["403"] = answer(if platform_only {
                    "Only a platform key may call this (`forbidden`)"
                } else {
                    "The credential may not do this (`forbidden`): a read-only key or session writing, an account key emitting a real event, a portal session making credentials, or Cdhooks-Account naming another account"
                });
            }
            if platform_only {
                continue;
            }
            if responses.get("400").is_none() {
                responses["400"] = answer("A platform key without the Cdhooks-Account header (`account_required`), or an invalid header");
            }
            if responses.get("404").is_none() {
                responses["404"] = answer("No account with the id Cdhooks-Account names");
            }
            let header = json!({
                "name": "Cdhooks-Account", "in": "header", "required": false,
                "description": "With a platform key: the account to act for (`acct_…`). With an account key or a portal session it may be left out, or name the credential's own account.",
                "schema": {"type": "string"},
            });
            match operation["parameters"].as_array_mut() {
                Some(parameters) => parameters.push(header),
                None => operation["parameters"] = json!([header]),
            }
        }
    }
}

/// An event id a sender may choose: 1 to 64 of `A-Z a-z 0-9 _ -`, not a test event's
/// (`evt_test_…`) and not `batch` (a route).
const EVENT_ID_PATTERN: &str = "^(?!evt_test_|batch$)[A-Za-z0-9_-]{1,64}$";

/// An email address the server can send to (a plain dot-atom local part and a host name).
const EMAIL_PATTERN: &str = "^[A-Za-z0-9_+-]{1,30}(\\.[A-Za-z0-9_+-]{1,30})?@[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){1,3}$";

/// Text without control characters.
const NO_CONTROLS: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

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

/// The language of `domain::filter`, as far as JSON Schema can say it (that each field is in a
/// subscribed type's schema is checked by the server: `422 unknown_filter_field`).
fn filter_schema() -> Value {
    use crate::domain::filter::{MAX_CONDITIONS, MAX_DEPTH, MAX_VALUES, MAX_VALUE_LEN};
    let scalar = json!({"oneOf": [
        {"type": "string", "maxLength": MAX_VALUE_LEN},
        {"type": "number"},
    ]});
    json!({
        "type": ["object", "null"],
        "description": "Conditions on `data` fields, all of which an event must meet: `{\"data.server_id\": [\"srv_1\", \"srv_2\"], \"data.labels.env\": \"production\"}`.",
        "maxProperties": MAX_CONDITIONS,
        "propertyNames": {"pattern": format!("^data(\\.[^.\\u0000-\\u001f\\u007f-\\u009f]+){{1,{MAX_DEPTH}}}$")},
        "additionalProperties": {"oneOf": [
            scalar,
            {"type": "array", "minItems": 1, "maxItems": MAX_VALUES, "items": scalar},
        ]},
    })
}

/// Adds JSON Schema keywords to a property (keeping its type, e.g. nullable).
fn constrain(property: &mut Value, keywords: Value) {
    if let (Some(slot), Value::Object(keywords)) = (property.as_object_mut(), keywords) {
        slot.extend(keywords);
    }
}

/// Every subscription pattern the server accepts: `*`, each event type, and `prefix.*` for
/// each prefix that some event type falls under.
fn subscription_patterns(catalog: &Catalog) -> Vec<String> {
    let mut patterns = vec!["*".to_owned()];
    for name in catalog.names() {
        let segments: Vec<&str> = name.split('.').collect();
        for n in 1..segments.len() {
            let prefix = format!("{}.*", segments[..n].join("."));
            if !patterns.contains(&prefix) {
                patterns.push(prefix);
            }
        }
    }
    patterns.extend(catalog.names().map(str::to_owned));
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
    // A literal route (`/v1/events/batch`) before a template that also fits (`/v1/events/{id}`).
    if let Some(exact) = routes.iter().find(|(template, _)| *template == segments) {
        return Some(exact);
    }
    routes.iter().find(|(template, _)| {
        template.len() == segments.len()
            && template
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
    })
}

/// The delivery requests the server sends, one per event type, as OpenAPI 3.1 `webhooks`.
fn outgoing_deliveries(catalog: &Catalog) -> Value {
    let mut webhooks = Map::new();
    for entry in catalog.entries() {
        let info = &entry.record;
        let example: Value = serde_json::from_str(&info.example).unwrap_or(Value::Null);
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
                            "data": data_schema(&entry.schema),
                        }
                    },
                    "example": {"id": "evt_abc123", "type": info.name, "created_at": "2025-01-15T10:30:00Z", "data": example},
                }}},
                "responses": {"2XX": {"description": "Delivered. Anything else (or no answer within the timeout) is a failed attempt."}}
            }}),
        );
        if info.deprecated {
            webhooks[info.name.as_str()]["post"]["deprecated"] = json!(true);
        }
    }
    Value::Object(webhooks)
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

#[utoipa::path(post, path = "/v1/webhooks/{id}/rotate-signing-key", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = Option<RotateSigningKeyRequest>, description = "Optional: how long the previous key keeps signing"),
    responses(
        (status = 200, description = "The webhook with its new public key (`signing: ed25519`); the previous key signs a second `v1a` entry until `previous_public_keys[].expires_at`", body = WebhookView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook in this account", body = ErrorBody),
        (status = 409, description = "Ten rotated-out keys still sign (`invalid_state`): wait for a grace period to end, or rotate with `grace_seconds: 0`", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn rotate_signing_key() {}

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

#[utoipa::path(post, path = "/v1/webhooks/{id}/match", tag = "webhooks", params(("id" = String, Path)),
    request_body(content = MatchEventRequest, description = "A stored event, and optionally a filter to try instead of the webhook's"),
    responses(
        (status = 200, description = "Whether the webhook would receive the event, with each condition of its filter", body = MatchView),
        (status = 400, description = "Invalid body or filter", body = ErrorBody),
        (status = 401, description = "No or a wrong API key", body = ErrorBody),
        (status = 404, description = "No such webhook or event in this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn match_event() {}

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
    description = "Emits a real event for the account: a key of scope `full` (the `dev` key, `accounts create`) or a platform key naming the account in Cdhooks-Account. Other keys send test events (`POST /v1/webhooks/{id}/test`).",
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

#[utoipa::path(get, path = "/v1/event-types", tag = "event-types", security(()),
    responses(
        (status = 200, description = "Every event type with its description, `data` schema and example", body = EventTypeList),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn event_types() {}

#[utoipa::path(get, path = "/v1/event-types/{name}", tag = "event-types", security(()), params(("name" = String, Path)),
    responses(
        (status = 200, description = "The event type, its current schema and version", body = EventType),
        (status = 404, description = "No such event type", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_event_type() {}

#[utoipa::path(post, path = "/v1/event-types", tag = "event-types", security(("platform_key" = [])),
    request_body = CreateEventTypeRequest,
    responses(
        (status = 201, description = "Added; emitted and subscribed to from now on", body = EventType),
        (status = 400, description = "Invalid name, description, schema or example, or a schema that refuses the example", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 409, description = "An event type of this name exists (`event_type_exists`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_event_type() {}

#[utoipa::path(patch, path = "/v1/event-types/{name}", tag = "event-types", security(("platform_key" = [])), params(("name" = String, Path)),
    request_body = UpdateEventTypeRequest,
    responses(
        (status = 200, description = "Changed (a new schema is a new version)", body = EventType),
        (status = 400, description = "Invalid description, schema or example, or a schema that refuses the example", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such event type", body = ErrorBody),
        (status = 409, description = "Changed by someone else since it was read; try again", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn update_event_type() {}

#[utoipa::path(delete, path = "/v1/event-types/{name}", tag = "event-types", security(("platform_key" = [])), params(("name" = String, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such event type", body = ErrorBody),
        (status = 409, description = "Webhooks subscribe to it by name (`event_type_in_use`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delete_event_type() {}

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

#[utoipa::path(post, path = "/v1/accounts", tag = "platform", request_body = CreateAccountRequest,
    security(("platform_key" = [])),
    description = "Creates an account (e.g. when a customer signs up) and its first API key, of scope `manage`: it manages the account's webhooks and sends test events, but cannot emit real events.",
    responses(
        (status = 201, description = "The account and its first key (`api_key.key` is shown only here)", body = OpenedAccountView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No, a wrong or a revoked key", body = ErrorBody),
        (status = 409, description = "Another account has this `external_id`", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_account() {}

#[utoipa::path(get, path = "/v1/accounts", tag = "platform", security(("platform_key" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "Page size", minimum = 1, maximum = 200),
        ("after" = Option<String>, Query, description = "The `next_cursor` of the previous page", pattern = "^acct_[0-9a-f]{32}$"),
        ("email" = Option<String>, Query, description = "Only accounts with this email", pattern = "^[A-Za-z0-9_+-]{1,30}(\\.[A-Za-z0-9_+-]{1,30})?@[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?){1,3}$"),
        ("external_id" = Option<String>, Query, description = "Only the account with this external id", min_length = 1, max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"),
        ("needs_attention" = Option<bool>, Query, description = "Only accounts with a disabled webhook or a delivery due over a minute ago and still pending, each with `attention`"),
    ),
    responses(
        (status = 200, description = "One page of accounts, by id", body = Page<AccountView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_accounts() {}

#[utoipa::path(get, path = "/v1/accounts/{id}", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_account() {}

#[utoipa::path(patch, path = "/v1/accounts/{id}", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)), request_body = UpdateAccountRequest,
    description = "Changes the email (the next disabling email goes there), the name or the external id (`null` clears them).",
    responses(
        (status = 200, description = "The changed account", body = AccountView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Another account has this `external_id`", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn update_account() {}

#[utoipa::path(delete, path = "/v1/accounts/{id}", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)),
    description = "Deletes the account with everything it holds: webhooks, events, deliveries (sent or not) and their attempts, keys, inboxes, portal sessions. Its keys and sessions stop working at once here and within 5 s on other instances; an attempt already in flight finishes but is not recorded. Idempotent: an account that is gone answers 204 too.",
    responses(
        (status = 204, description = "Deleted, or there was no such account"),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn delete_account() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/events", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)), request_body = EmitEventRequest,
    description = "Emits a real event for the account, as `POST /v1/events` does for a `full` key.",
    responses(
        (status = 202, description = "Stored with its deliveries before this answer", body = Accepted),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "The account has an event with this id", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn emit_for_account() {}

#[utoipa::path(post, path = "/v1/events/batch", tag = "platform", security(("platform_key" = [])),
    request_body = BatchRequest,
    description = "Emits 1 to 100 events for any accounts, stored all together or not at all (an invalid event, an unknown account or an id used before refuses the whole batch).",
    responses(
        (status = 202, description = "Every event stored with its deliveries, in the order sent", body = BatchAccepted),
        (status = 400, description = "Invalid body; the message names the event (`events[i]`)", body = ErrorBody),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 409, description = "An event's id was used before by its account, or twice in the batch; nothing was stored", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 404, description = "An event names no account (`unknown_account`); nothing was stored", body = ErrorBody),
        (status = 503, description = "Storage unavailable; nothing was stored", body = ErrorBody),
        (status = 507, description = "Storage full; nothing was stored", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn emit_batch() {}

#[utoipa::path(post, path = "/v1/accounts/{id}/portal-sessions", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<CreatePortalSessionRequest>, description = "Optional: `ttl_seconds` (default 3600) and `read_only`"),
    description = "A link that opens the dashboard signed in to this account only, until it expires or is revoked. The session manages webhooks (rotating their secrets too), retries and recovers deliveries and sends test events (a read-only one only reads); it never makes API keys or inboxes, nor emits real events.",
    responses(
        (status = 201, description = "The session and its link (shown only here)", body = PortalSessionView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No, a wrong or a revoked key", body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn open_portal_session() {}

#[utoipa::path(delete, path = "/v1/accounts/{id}/portal-sessions/{session}", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path), ("session" = String, Path)),
    description = "Ends the session at once on this instance, within 5 s on the others.",
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No, a wrong or a revoked key", body = ErrorBody),
        (status = 404, description = "No such session of this account", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn revoke_portal_session() {}

#[utoipa::path(post, path = "/v1/platform-keys", tag = "platform", security(("platform_key" = [])),
    request_body = CreatePlatformKeyRequest,
    responses(
        (status = 201, description = "A new platform key; `key` is shown only here", body = PlatformKeyView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "No, a wrong or a revoked key", body = ErrorBody),
        (status = 413, description = "Body over 256 KiB", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn create_platform_key() {}

#[utoipa::path(get, path = "/v1/platform-keys", tag = "platform", security(("platform_key" = [])),
    responses(
        (status = 200, description = "The platform keys in use (never the keys themselves), oldest first", body = Page<PlatformKeyView>),
        (status = 401, description = "No or a wrong key", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn list_platform_keys() {}

#[utoipa::path(delete, path = "/v1/platform-keys/{id}", tag = "platform", security(("platform_key" = [])),
    params(("id" = String, Path)),
    description = "Stops the key working at once on this instance, within 5 s on the others.",
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No, a wrong or a revoked key", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
        (status = 409, description = "The key this request is made with", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
        (status = 507, description = "Storage full", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn revoke_platform_key() {}

#[utoipa::path(get, path = "/v1/credential", tag = "server",
    description = "What the request's credential is and may do (the dashboard shows only what will work).",
    responses(
        (status = 200, description = "The credential", body = CredentialView),
        (status = 401, description = "No, a wrong, expired or revoked credential", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn get_credential() {}

/// The page size limit, for the document's `maximum` (kept in step with the code).
const _: () = assert!(MAX_PAGE == 200);
