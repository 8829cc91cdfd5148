//! `GET /v1/credential`: what the request's credential is and may do, so a client (the
//! dashboard) shows only what will work — the answers come from the same table the server
//! enforces (`domain::access`).

use std::sync::Arc;

use serde::Serialize;
use warp::http::StatusCode;
use warp::Filter;

use super::auth::{self, Identity};
use super::json::{self, reply};
use super::AppState;
use crate::domain::access::{Action, Role};

/// What a credential is.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// `platform_key`, `account_key` or `portal_session`.
    #[schema(value_type = String)]
    kind: &'static str,
    /// The account it acts for (for a platform key, the one Cdhooks-Account names, if any).
    account: Option<CredentialAccount>,
    /// An account key's scope (`read`, `manage`, `full`).
    #[schema(value_type = Option<String>)]
    scope: Option<&'static str>,
    /// When a portal session ends.
    expires_at: Option<String>,
    /// What it may do: `read`, `write`, `send_test_event`, `emit`, `manage_credentials`,
    /// `administer`.
    #[schema(value_type = Vec<String>)]
    may: Vec<&'static str>,
}

/// The account a credential acts for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CredentialAccount {
    id: String,
    email: String,
}

const ACTIONS: [(Action, &str); 6] = [
    (Action::Read, "read"),
    (Action::Write, "write"),
    (Action::SendTestEvent, "send_test_event"),
    (Action::Emit, "emit"),
    (Action::ManageCredentials, "manage_credentials"),
    (Action::Administer, "administer"),
];

/// The route.
pub fn routes(
    state: Arc<AppState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::path!("v1" / "credential")
        .and(super::get())
        .and(auth::identity(state))
        .map(|identity: Identity| {
            let (kind, scope) = match identity.role {
                Role::Platform => ("platform_key", None),
                Role::Account(scope) => ("account_key", Some(scope.as_str())),
                Role::Portal { .. } => ("portal_session", None),
            };
            reply(
                StatusCode::OK,
                &CredentialView {
                    kind,
                    account: identity.account.map(|a| CredentialAccount {
                        id: a.id,
                        email: a.email,
                    }),
                    scope,
                    expires_at: identity.expires_at.map(json::time_ms),
                    may: ACTIONS
                        .iter()
                        .filter(|(action, _)| identity.role.permits(*action))
                        .map(|(_, name)| *name)
                        .collect(),
                },
            )
        })
}
