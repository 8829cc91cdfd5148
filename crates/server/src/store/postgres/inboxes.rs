//! Inboxes on PostgreSQL: the relay of live events between the instances sharing the
//! database (the statements are `store::inboxes`'s); captures are not capped here.

use super::super::*;
use super::PgStore;

impl PgStore {
    /// The relay: messages go out with `NOTIFY` and come in from every instance's.
    pub(super) fn live_relay_channel(&self) -> Option<LiveRelay> {
        Some(LiveRelay {
            outgoing: self.live_out.clone(),
            incoming: self.live_in.subscribe(),
        })
    }

    /// Captures may always grow: PostgreSQL's room is the operator's to size.
    pub(super) async fn captures_may_grow(
        &self,
        _tx: &mut super::engine::Tx<'_>,
    ) -> StoreResult<bool> {
        Ok(true)
    }
}
