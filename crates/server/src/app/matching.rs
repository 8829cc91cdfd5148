//! Would a webhook have received an event? The use case behind the dashboard's filter check:
//! the webhook's patterns and filter (or a filter being written) against a stored event.

use serde::Deserialize;

use super::{App, AppResult};
use crate::domain::filter::{EventFilter, EventMatch};
use crate::domain::ValidationError;
use crate::store::Account;

/// The body of `POST /v1/webhooks/{id}/match`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchEventRequest {
    /// A stored event of the account (`evt_…`).
    pub event_id: String,
    /// A filter to try instead of the webhook's own (e.g. one being written); `{}` tries none.
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
}

impl App {
    /// How the webhook `webhook_id` meets the stored event `request.event_id`.
    pub async fn match_event(
        &self,
        account: &Account,
        webhook_id: &str,
        request: MatchEventRequest,
    ) -> AppResult<(String, EventMatch)> {
        let webhook = self.store.get_webhook(account, webhook_id).await?;
        let filter = match &request.filter {
            Some(filter) => EventFilter::parse(filter)?,
            None => webhook.filter.clone(),
        };
        let event = self
            .store
            .get_event(account, &request.event_id)
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound => ValidationError::new(
                    "unknown_event",
                    format!("no event `{}` in this account", request.event_id),
                )
                .field("event_id")
                .into(),
                other => super::AppError::from(other),
            })?;
        let envelope: serde_json::Value = serde_json::from_slice(&event.body)
            .map_err(|e| super::AppError::Fault(format!("a stored event does not parse: {e}")))?;
        let found = EventMatch::of(
            &webhook.events,
            filter.as_ref(),
            &event.event_type,
            &envelope["data"],
        );
        Ok((event.event_type, found))
    }
}
