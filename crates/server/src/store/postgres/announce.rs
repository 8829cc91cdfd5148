//! Announcements of new due work to the other processes (`NOTIFY cdhooks_due`), addressed to
//! the webhooks they concern.
//!
//! Every process listens, but a webhook's backlog is claimed by one of them (its share), so an
//! announcement names the webhooks whose work it is about and only their claimers wake. Waking
//! every process for every announcement cost each of them a claim that found nothing — under a
//! burst spread over three processes, as many claims as there were batches of events. An
//! announcement that names no webhook (a resumed webhook, a recovered window) is for all.
//! While the processes' view of who is live changes, a named webhook's claimer may not wake;
//! its claim loop looks again within a second.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Notify;

use super::DUE_CHANNEL;
use crate::domain::claim::Shard;

/// The shortest gap between two announcements of this process. New work for another
/// process's webhook that comes within the gap waits for it: with three processes sharing a
/// paced 200 events/s, five runs each in turn, the paced p99 was 6.6–14.5 ms at 10 ms (median
/// 12.9) and 9.0–15.2 ms at 1 ms (median 10.0), bursts no slower. Under a burst announcements
/// are still coalesced, to at most one per batch of events written.
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(1);

/// The most webhooks one announcement names; past that, it is for every process.
const MAX_NAMED: usize = 64;

/// Work gathered for this process's next announcement.
#[derive(Default)]
pub(super) struct Announcements {
    /// Raised when there is something to announce.
    wanted: Notify,
    /// What the next announcement says.
    next: Mutex<Next>,
}

/// The next announcement: the webhooks it names, or every process.
#[derive(Default)]
struct Next {
    webhooks: BTreeSet<i64>,
    everyone: bool,
}

impl Announcements {
    /// Has the processes claiming for `webhooks` told that they have new due work.
    pub(super) fn for_webhooks(&self, webhooks: impl IntoIterator<Item = i64>) {
        self.next().webhooks.extend(webhooks);
        self.wanted.notify_one();
    }

    /// Has every process told that new work is due.
    pub(super) fn for_everyone(&self) {
        self.next().everyone = true;
        self.wanted.notify_one();
    }

    fn next(&self) -> std::sync::MutexGuard<'_, Next> {
        self.next.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The payload of the next announcement (empty: for everyone), clearing it.
    fn take(&self) -> String {
        let next = std::mem::take(&mut *self.next());
        if next.everyone || next.webhooks.len() > MAX_NAMED {
            return String::new();
        }
        next.webhooks
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Whether an announcement with `payload` concerns the process claiming for `shard`: it names
/// no webhook, a webhook of the share, or is not understood (from a newer version, say).
pub(super) fn concerns(payload: &str, shard: Shard) -> bool {
    if payload.is_empty() {
        return true;
    }
    let mut named = payload.split(',').map(str::parse::<i64>);
    named.any(|seq| seq.map_or(true, |seq| shard.owns(seq)))
}

/// Sends what `announcements` gathered as `NOTIFY cdhooks_due`, at most once per
/// [`ANNOUNCE_EVERY`], outside any transaction (PostgreSQL serialises the commits of notifying
/// transactions).
pub(super) async fn run(pool: PgPool, announcements: Arc<Announcements>) {
    loop {
        announcements.wanted.notified().await;
        if pool.is_closed() {
            return;
        }
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(DUE_CHANNEL)
            .bind(announcements.take())
            .execute(&pool)
            .await
        {
            tracing::debug!(%error, "announcing due work failed");
        }
        tokio::time::sleep(ANNOUNCE_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_names_its_webhooks_once_and_then_is_spent() {
        let announcements = Announcements::default();
        announcements.for_webhooks([7, 3]);
        announcements.for_webhooks([3]);
        assert_eq!(announcements.take(), "3,7");
        assert_eq!(announcements.take(), "");
    }

    #[test]
    fn an_announcement_for_everyone_or_for_too_many_names_none() {
        let announcements = Announcements::default();
        announcements.for_webhooks([1]);
        announcements.for_everyone();
        assert_eq!(announcements.take(), "");
        announcements.for_webhooks(0..=MAX_NAMED as i64);
        assert_eq!(announcements.take(), "");
        announcements.for_webhooks(0..MAX_NAMED as i64);
        assert_eq!(announcements.take().split(',').count(), MAX_NAMED);
    }

    #[test]
    fn only_the_claimers_of_named_webhooks_wake() {
        let (first, second) = (Shard::among(["a", "b"], "a"), Shard::among(["a", "b"], "b"));
        assert!(concerns("4", first));
        assert!(!concerns("4", second));
        assert!(concerns("4,5", second));
        assert!(concerns("", first) && concerns("", second));
        assert!(concerns("not a key", second));
    }
}
