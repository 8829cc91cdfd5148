//! The use cases of the event catalog: read it (anyone), manage it (platform keys), and the
//! loaded catalog every emission and subscription is checked against.
//!
//! Each process keeps the catalog it last read, with its schemas compiled, and reads it again
//! when it is older than [`CATALOG_TTL_MS`] (so every instance of a PostgreSQL deployment sees
//! a change within that bound) or at once after changing it itself.

use std::sync::Mutex;

use super::{App, AppError, AppResult};
use crate::domain::event_type::{
    subscribes_by_name, Catalog, CreateEventTypeRequest, EventTypeUpdate, NewEventType,
    SharedCatalog, UpdateEventTypeRequest,
};
use crate::domain::ValidationError;
use crate::store::{EventTypeDeletion, EventTypeRecord, StoreError};

/// How long a process uses the catalog it read before reading it again (ms of the clock).
pub const CATALOG_TTL_MS: i64 = 5_000;

/// The catalog a process uses, and when it was read.
#[derive(Default)]
pub struct CatalogCache {
    loaded: Mutex<Option<(SharedCatalog, i64)>>,
}

impl CatalogCache {
    fn fresh(&self, now_ms: i64) -> Option<SharedCatalog> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded
            .as_ref()
            .filter(|(_, at)| now_ms.saturating_sub(*at) < CATALOG_TTL_MS && now_ms >= *at)
            .map(|(catalog, _)| catalog.clone())
    }

    fn last(&self) -> Option<SharedCatalog> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.as_ref().map(|(catalog, _)| catalog.clone())
    }

    fn keep(&self, catalog: SharedCatalog, now_ms: i64) {
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = Some((catalog, now_ms));
    }

    fn forget(&self) {
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl App {
    /// The catalog as of at most [`CATALOG_TTL_MS`] ago; the store's first read seeds it with
    /// the docs' nine types. When the store cannot be read, the last catalog read is used.
    pub async fn catalog(&self) -> AppResult<SharedCatalog> {
        let now = self.clock.now_ms();
        if let Some(catalog) = self.catalog.fresh(now) {
            return Ok(catalog);
        }
        match self.read_catalog(now).await {
            Ok(catalog) => Ok(catalog),
            Err(error) => match self.catalog.last() {
                Some(stale) => {
                    tracing::warn!(%error, "could not read the event catalog again; using the last one read");
                    Ok(stale)
                }
                None => Err(error),
            },
        }
    }

    async fn read_catalog(&self, now: i64) -> AppResult<SharedCatalog> {
        if self.catalog.last().is_none() {
            self.store
                .seed_event_types(&NewEventType::seed(), now)
                .await?;
        }
        let catalog = SharedCatalog::new(Catalog::new(self.store.event_types().await?));
        self.catalog.keep(catalog.clone(), now);
        Ok(catalog)
    }

    /// One event type.
    pub async fn event_type(&self, name: &str) -> AppResult<EventTypeRecord> {
        let catalog = self.catalog().await?;
        catalog
            .get(name)
            .map(|entry| entry.record.clone())
            .ok_or(AppError::Store(StoreError::NotFound))
    }

    /// Adds an event type (platform keys).
    pub async fn create_event_type(
        &self,
        request: CreateEventTypeRequest,
    ) -> AppResult<EventTypeRecord> {
        let new = NewEventType::validate(request)?;
        self.catalog().await?;
        let record = self
            .store
            .create_event_type(&new, self.clock.now_ms())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AppError::Invalid(
                    ValidationError::new(
                        "event_type_exists",
                        format!("an event type `{}` exists; change it with PATCH", new.name),
                    )
                    .field("name"),
                ),
                other => other.into(),
            })?;
        self.catalog.forget();
        tracing::info!(event_type = %record.name, "event type created");
        Ok(record)
    }

    /// Changes an event type's description, schema, example or deprecation (platform keys).
    pub async fn change_event_type(
        &self,
        name: &str,
        request: UpdateEventTypeRequest,
    ) -> AppResult<EventTypeRecord> {
        let current = self
            .store
            .event_types()
            .await?
            .into_iter()
            .find(|t| t.name == name)
            .ok_or(StoreError::NotFound)?;
        let update = EventTypeUpdate::validate(&current, request)?;
        let record = self
            .store
            .update_event_type(&update, self.clock.now_ms())
            .await?;
        self.catalog.forget();
        tracing::info!(event_type = %record.name, version = record.version, "event type changed");
        Ok(record)
    }

    /// Deletes an event type, unless webhooks subscribe to it by name (platform keys).
    pub async fn delete_event_type(&self, name: &str) -> AppResult<()> {
        let held = |patterns: &[String]| subscribes_by_name(patterns, name);
        match self.store.delete_event_type(name, &held).await? {
            EventTypeDeletion::Deleted => {
                self.catalog.forget();
                tracing::info!(event_type = %name, "event type deleted");
                Ok(())
            }
            EventTypeDeletion::InUse(webhooks) => Err(ValidationError::new(
                "event_type_in_use",
                format!(
                    "{webhooks} webhook(s) subscribe to `{name}` by name; change their events \
                     (or deprecate the type) first"
                ),
            )
            .into()),
        }
    }
}
