//! Inboxes on SQLite: the room captures may take of a capped database (the statements are
//! `store::inboxes`'s), and no relay — nothing else shares the file.

use super::super::*;
use super::SqliteStore;

impl SqliteStore {
    /// No relay: the data dir's lock keeps every other process out.
    pub(super) fn live_relay_channel(&self) -> Option<LiveRelay> {
        None
    }

    /// Whether a capture may take more room: captures may fill at most their share of
    /// `--max-database-mb` (`domain::inbox::may_capture`), counted in the capture's
    /// transaction.
    pub(super) async fn captures_may_grow(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    ) -> StoreResult<bool> {
        // The bytes the database's pages hold now (free pages not counted).
        let used: i64 = sqlx::query_scalar(
            "SELECT ((SELECT page_count FROM pragma_page_count())
                     - (SELECT freelist_count FROM pragma_freelist_count()))
                    * (SELECT page_size FROM pragma_page_size())",
        )
        .fetch_one(&mut **tx)
        .await?;
        Ok(crate::domain::inbox::may_capture(
            used.max(0) as u64,
            self.max_bytes,
        ))
    }
}
