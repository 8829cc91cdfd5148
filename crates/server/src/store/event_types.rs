//! The event catalog: the event types the provider manages, with their schemas.
//!
//! A role of its own: one small table, read whole when a server (re)loads its catalog and
//! written rarely, by platform keys. The rules (what a valid type, schema or change is, and
//! which subscriptions hold a type) are `domain::event_type`'s; the store writes what they
//! decided, conditionally on the row being as it was read. The SQL is the same on both stores,
//! so it is written once, here, and `impl_event_types!` puts it on each.

use async_trait::async_trait;

use super::{EventTypeDeletion, EventTypeRecord, StoreResult};
use crate::domain::event_type::{EventTypeUpdate, NewEventType};

/// The event catalog.
#[async_trait]
pub trait EventTypes: Send + Sync {
    /// Writes `seed` (in order) unless this store was seeded before — so a seeded type the
    /// provider deleted stays deleted.
    async fn seed_event_types(&self, seed: &[NewEventType], now_ms: i64) -> StoreResult<()>;
    /// Every event type, in the catalog's order (seeded first, then as added).
    async fn event_types(&self) -> StoreResult<Vec<EventTypeRecord>>;
    /// Adds a type; `Conflict` when one of the name exists.
    async fn create_event_type(
        &self,
        event_type: &NewEventType,
        now_ms: i64,
    ) -> StoreResult<EventTypeRecord>;
    /// Writes a checked change; `NotFound` when the type is gone, `Conflict` when it changed
    /// since it was read.
    async fn update_event_type(
        &self,
        update: &EventTypeUpdate,
        now_ms: i64,
    ) -> StoreResult<EventTypeRecord>;
    /// Deletes a type unless a webhook names it: `holds` (the domain's rule) is asked about the
    /// patterns of every webhook whose patterns may name it. `NotFound` when there is none of
    /// the name.
    async fn delete_event_type(
        &self,
        name: &str,
        holds: &(dyn for<'p> Fn(&'p [String]) -> bool + Sync),
    ) -> StoreResult<EventTypeDeletion>;
}

/// The columns an [`EventTypeRecord`] is read from.
pub(super) const COLUMNS: &str =
    "name, description, schema, example, version, deprecated_at, created_at, updated_at";

/// Reads an event type row of [`COLUMNS`].
pub(super) fn record_from<R: sqlx::Row>(row: &R) -> EventTypeRecord
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    EventTypeRecord {
        name: row.get("name"),
        description: row.get("description"),
        schema: row.get("schema"),
        example: row.get("example"),
        version: row.get("version"),
        deprecated: row.get::<Option<i64>, _>("deprecated_at").is_some(),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// A write refused for a name another type has, as the conflict it is.
pub(super) fn name_taken(error: sqlx::Error) -> super::StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            super::StoreError::Conflict("an event type of this name exists")
        }
        _ => error.into(),
    }
}

/// Implements [`EventTypes`] for a store whose pools are the fields `$reads` and `$writes`.
macro_rules! impl_event_types {
    ($store:ty, reads: $reads:ident, writes: $writes:ident) => {
        #[async_trait::async_trait]
        impl $crate::store::event_types::EventTypes for $store {
            async fn seed_event_types(
                &self,
                seed: &[$crate::domain::event_type::NewEventType],
                now_ms: i64,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.$writes.begin().await?;
                let first = sqlx::query(
                    "INSERT INTO event_catalog_seeded (seeded_at)
                     SELECT $1 WHERE NOT EXISTS (SELECT 1 FROM event_catalog_seeded)",
                )
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
                if first {
                    for event_type in seed {
                        sqlx::query(
                            "INSERT INTO event_types
                               (name, description, schema, example, version, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, 1, $5, $5)
                             ON CONFLICT (name) DO NOTHING",
                        )
                        .bind(&event_type.name)
                        .bind(&event_type.description)
                        .bind(&event_type.schema)
                        .bind(&event_type.example)
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn event_types(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::EventTypeRecord>> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM event_types ORDER BY seq",
                    $crate::store::event_types::COLUMNS
                ))
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows
                    .iter()
                    .map($crate::store::event_types::record_from)
                    .collect())
            }

            async fn create_event_type(
                &self,
                event_type: &$crate::domain::event_type::NewEventType,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::EventTypeRecord> {
                sqlx::query(
                    "INSERT INTO event_types
                       (name, description, schema, example, version, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 1, $5, $5)",
                )
                .bind(&event_type.name)
                .bind(&event_type.description)
                .bind(&event_type.schema)
                .bind(&event_type.example)
                .bind(now_ms)
                .execute(&self.$writes)
                .await
                .map_err($crate::store::event_types::name_taken)?;
                Ok(event_type.clone().stored_at(now_ms))
            }

            async fn update_event_type(
                &self,
                update: &$crate::domain::event_type::EventTypeUpdate,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::EventTypeRecord> {
                let row = sqlx::query(&format!(
                    "UPDATE event_types
                     SET description = $1, schema = $2, example = $3, version = $4,
                         deprecated_at = CASE WHEN $5 THEN COALESCE(deprecated_at, $6) END,
                         updated_at = $6
                     WHERE name = $7 AND version = $8 AND updated_at = $9
                     RETURNING {}",
                    $crate::store::event_types::COLUMNS
                ))
                .bind(&update.description)
                .bind(&update.schema)
                .bind(&update.example)
                .bind(update.version)
                .bind(update.deprecated)
                .bind(now_ms)
                .bind(&update.name)
                .bind(update.read_version)
                .bind(update.read_updated_at)
                .fetch_optional(&self.$writes)
                .await?;
                match row {
                    Some(row) => Ok($crate::store::event_types::record_from(&row)),
                    None => {
                        let exists: Option<i64> =
                            sqlx::query_scalar("SELECT version FROM event_types WHERE name = $1")
                                .bind(&update.name)
                                .fetch_optional(&self.$writes)
                                .await?;
                        Err(match exists {
                            Some(_) => $crate::store::StoreError::Conflict(
                                "the event type changed since it was read; read it and try again",
                            ),
                            None => $crate::store::StoreError::NotFound,
                        })
                    }
                }
            }

            async fn delete_event_type(
                &self,
                name: &str,
                holds: &(dyn for<'p> Fn(&'p [String]) -> bool + Sync),
            ) -> $crate::store::StoreResult<$crate::store::EventTypeDeletion> {
                let mut tx = self.$writes.begin().await?;
                // The patterns that may name it (the name quoted in the JSON list; `_` in a
                // name matches any character, so this finds a superset), decided in the domain.
                let candidates: Vec<String> = sqlx::query_scalar(
                    "SELECT events FROM webhooks WHERE events LIKE $1",
                )
                .bind(format!("%\"{name}\"%"))
                .fetch_all(&mut *tx)
                .await?;
                let holding = candidates
                    .iter()
                    .filter(|events| {
                        let patterns: Vec<String> =
                            serde_json::from_str(events).unwrap_or_default();
                        holds(&patterns)
                    })
                    .count();
                if holding > 0 {
                    return Ok($crate::store::EventTypeDeletion::InUse(holding));
                }
                let gone = sqlx::query("DELETE FROM event_types WHERE name = $1")
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                if gone == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok($crate::store::EventTypeDeletion::Deleted)
            }
        }
    };
}
pub(super) use impl_event_types;
