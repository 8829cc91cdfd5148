//! What a valid account is, as the platform API creates and changes it: an email address the
//! disabling emails can reach, an optional name for people, and an optional `external_id` —
//! the provider's own customer id, by which it finds the account again.

use serde::Deserialize;

use super::ValidationError;

/// The longest name.
pub const MAX_NAME_LEN: usize = 200;
/// The longest external id.
pub const MAX_EXTERNAL_ID_LEN: usize = 200;

/// A pending delivery due this long ago (ms) and still not sent is late: the operator's view
/// lists its account (a backlog, or an endpoint that holds its deliveries back).
pub const LATE_AFTER_MS: i64 = 60_000;

/// Deliveries due before this time (Unix ms) are late at `now_ms`.
pub fn late_before(now_ms: i64) -> i64 {
    now_ms - LATE_AFTER_MS
}

/// The body of `POST /v1/accounts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Where emails about the account's webhooks go.
    pub email: String,
    /// A name for people.
    pub name: Option<String>,
    /// The provider's id for this customer (unique among accounts).
    pub external_id: Option<String>,
}

/// The body of `PATCH /v1/accounts/{id}`: every field optional; `null` clears a name or an
/// external id.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// A new email address (the next disabling email goes there).
    pub email: Option<String>,
    /// A new name (`null` clears it).
    #[serde(default, deserialize_with = "super::webhook::double_option")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// A new external id (`null` clears it).
    #[serde(default, deserialize_with = "super::webhook::double_option")]
    #[schema(value_type = Option<String>)]
    pub external_id: Option<Option<String>>,
}

/// A checked new account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// A deliverable address.
    pub email: String,
    /// A name for people.
    pub name: Option<String>,
    /// The provider's id for it.
    pub external_id: Option<String>,
}

/// A checked change: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// A new email.
    pub email: Option<String>,
    /// A new name, or none.
    pub name: Option<Option<String>>,
    /// A new external id, or none.
    pub external_id: Option<Option<String>>,
}

impl AccountChange {
    /// Applies the change to an account's fields.
    pub fn apply_to(&self, account: &mut NewAccount) {
        if let Some(email) = &self.email {
            account.email.clone_from(email);
        }
        if let Some(name) = &self.name {
            account.name.clone_from(name);
        }
        if let Some(external_id) = &self.external_id {
            account.external_id.clone_from(external_id);
        }
    }
}

/// Checks an email address (one `lettre` can send to).
pub fn validate_email(email: &str) -> Result<String, ValidationError> {
    email
        .trim()
        .parse::<lettre::Address>()
        .map(|address| address.to_string())
        .map_err(|e| {
            ValidationError::new(
                "invalid_email",
                format!("`email` is not an email address: {e}"),
            )
            .field("email")
        })
}

fn validate_text(
    value: &str,
    max: usize,
    field: &'static str,
    code: &'static str,
) -> Result<String, ValidationError> {
    let len = value.chars().count();
    if len == 0 || len > max || value.chars().any(char::is_control) {
        return Err(ValidationError::new(
            code,
            format!("`{field}` must be 1 to {max} characters without control characters"),
        )
        .field(field));
    }
    Ok(value.to_owned())
}

fn validate_name(name: &str) -> Result<String, ValidationError> {
    validate_text(name, MAX_NAME_LEN, "name", "invalid_name")
}

/// Checks an external id as a lookup would take it.
pub fn validate_external_id(id: &str) -> Result<String, ValidationError> {
    validate_text(
        id,
        MAX_EXTERNAL_ID_LEN,
        "external_id",
        "invalid_external_id",
    )
}

impl NewAccount {
    /// Checks a creation request.
    pub fn validate(request: CreateAccountRequest) -> Result<Self, ValidationError> {
        Ok(NewAccount {
            email: validate_email(&request.email)?,
            name: request.name.as_deref().map(validate_name).transpose()?,
            external_id: request
                .external_id
                .as_deref()
                .map(validate_external_id)
                .transpose()?,
        })
    }
}

impl AccountChange {
    /// Checks a change request.
    pub fn validate(request: UpdateAccountRequest) -> Result<Self, ValidationError> {
        let optional = |value: Option<Option<String>>,
                        check: fn(&str) -> Result<String, ValidationError>| {
            value
                .map(|inner| inner.as_deref().map(check).transpose())
                .transpose()
        };
        Ok(AccountChange {
            email: request.email.as_deref().map(validate_email).transpose()?,
            name: optional(request.name, validate_name)?,
            external_id: optional(request.external_id, validate_external_id)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_needs_a_deliverable_email_and_short_plain_names() {
        let ok = NewAccount::validate(CreateAccountRequest {
            email: " billing@example.com ".into(),
            name: Some("Acme".into()),
            external_id: Some("cus_42".into()),
        })
        .unwrap();
        assert_eq!(ok.email, "billing@example.com");
        for (email, name, external_id, code) in [
            ("not an email", None, None, "invalid_email"),
            ("a@example.com", Some(""), None, "invalid_name"),
            ("a@example.com", None, Some("a\nb"), "invalid_external_id"),
        ] {
            let error = NewAccount::validate(CreateAccountRequest {
                email: email.into(),
                name: name.map(Into::into),
                external_id: external_id.map(Into::into),
            })
            .unwrap_err();
            assert_eq!(error.code, code);
        }
        assert!(validate_external_id(&"x".repeat(201)).is_err());
    }

    #[test]
    fn a_change_keeps_clears_or_replaces_each_field() {
        let mut account = NewAccount {
            email: "a@example.com".into(),
            name: Some("A".into()),
            external_id: Some("x".into()),
        };
        let change = AccountChange::validate(UpdateAccountRequest {
            email: Some("b@example.com".into()),
            name: Some(None),
            external_id: None,
        })
        .unwrap();
        change.apply_to(&mut account);
        assert_eq!(
            account,
            NewAccount {
                email: "b@example.com".into(),
                name: None,
                external_id: Some("x".into()),
            }
        );
    }
}
