//! The embedded store: one SQLite file in WAL mode, migrated at open.
//!
//! Two pools: readers (several connections; WAL lets them run beside the writer) and the
//! writer (one connection, since SQLite has one writer at a time anyway). The hot writes —
//! accepting events and recording attempt results — go through a group-commit task
//! (`writer.rs`) that gathers whatever is queued into one transaction, so a burst of
//! requests costs one commit per batch instead of one per request. Every event is still
//! committed before its `202`.

mod engine;
mod events;
mod inboxes;
mod lifecycle;
mod results;
mod webhooks;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot};

use super::*;
use writer::WriteOp;

/// File name of the database inside the data dir.
pub const DATABASE_FILE: &str = "cdhooks.sqlite3";

/// The SQLite implementation of [`Store`].
#[derive(Clone)]
pub struct SqliteStore {
    /// Connections for reads.
    readers: SqlitePool,
    /// The single connection for writes outside the group-commit path.
    writer: SqlitePool,
    /// Queue of the group-commit task.
    batch: mpsc::Sender<WriteOp>,
    /// The connection that checkpoints the WAL.
    checkpointer: SqlitePool,
    /// The data dir's lock, held while a server uses the file (released by `close`, even
    /// while tasks that outlived the server still hold a clone of the store).
    lock: Option<Arc<std::fs::File>>,
    /// `--max-database-mb` in bytes, if the database is capped.
    max_bytes: Option<u64>,
    /// Set while the background checkpoint fails for want of room: the log's pages cannot
    /// reach the database file, so events are refused (as storage full) rather than grow the
    /// log into the room that recovery needs. Cleared by the next checkpoint that works.
    checkpoint_blocked: Arc<std::sync::atomic::AtomicBool>,
}

super::directory::impl_directory!(SqliteStore, reads: readers, writes: writer, cleanup: &[]);
super::keys::impl_account_keys!(SqliteStore, sqlx::Sqlite, reads: readers, writes: writer, lock: "");
super::webhooks::impl_webhooks!(
    SqliteStore,
    reads: readers, writes: writer, lock: "", lock_no_key: "",
    cleanup: &[], in_flight: webhooks::attempts_in_flight, lifecycle: lifecycle
);
super::history::impl_history!(
    SqliteStore,
    reads: readers, writes: writer, lock_webhook: "",
    lock_delivery: "", lifecycle: lifecycle
);
super::inboxes::impl_inboxes!(SqliteStore, reads: readers, writes: writer, lock: "");
super::outbox::impl_outbox!(SqliteStore, reads: readers, writes: writer, lock: "");
super::retention::impl_retention!(SqliteStore, writes: writer);
super::event_types::impl_event_types!(SqliteStore, reads: readers, writes: writer);

/// File name of the lock a server holds on its data dir.
pub const LOCK_FILE: &str = "server.lock";

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database in `data_dir`, for a tool such
    /// as `accounts create` that may run beside a server.
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        Self::open_inner(data_dir, None, None).await
    }

    /// Opens the database for the one server that delivers from it: takes the data dir's
    /// lock (a second server is refused) and re-queues whatever a previous server process
    /// had claimed. With `max_bytes` the database is capped: past it, writes fail with
    /// [`StoreError::Full`] as they would on a full disk.
    pub async fn open_for_server(data_dir: &Path, max_bytes: Option<u64>) -> StoreResult<Self> {
        crate::private_files::create_dir(data_dir)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let lock = crate::private_files::create_file(&data_dir.join(LOCK_FILE))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        if lock.try_lock().is_err() {
            return Err(StoreError::Locked(data_dir.display().to_string()));
        }
        Self::open_inner(data_dir, max_bytes, Some(Arc::new(lock))).await
    }

    async fn open_inner(
        data_dir: &Path,
        max_bytes: Option<u64>,
        lock: Option<Arc<std::fs::File>>,
    ) -> StoreResult<Self> {
        // The database holds signing secrets: created 0600 before SQLite opens it.
        crate::private_files::create_dir(data_dir)
            .and_then(|()| crate::private_files::create_file(&data_dir.join(DATABASE_FILE)))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(data_dir.join(DATABASE_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode, NORMAL keeps every commit across a process crash (`kill -9`); only
            // an OS crash or power loss can drop the last commits.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-2000")
            .statement_cache_capacity(128);
        let wal = WalBounds::for_cap(max_bytes);
        if let Some(max_bytes) = max_bytes {
            // SQLite counts in pages of 4 KiB (the default page size). The database file gets
            // what the cap leaves beside the WAL's bound, so both together stay within it.
            let database_bytes = max_bytes.saturating_sub(wal.limit_bytes);
            options = options.pragma("max_page_count", (database_bytes / 4096).max(1).to_string());
        }
        // Checkpoints mostly run on their own connection (below), so the writer rarely stalls on
        // a checkpoint's fsyncs mid-request. The writer keeps a large automatic checkpoint as
        // the backstop that lets the WAL restart from its beginning (only a checkpoint that
        // catches up with the last commit can), so the WAL stays bounded under constant load.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // A failed write can leave the connection inside a transaction that SQLite
            // already rolled back (a full disk fails the COMMIT, and sqlx's ROLLBACK then
            // fails too): every later "commit" would only release a savepoint of it and
            // never reach the file. Such a connection is closed, and the next write opens a
            // fresh one, so it commits for real or fails loudly.
            .after_release(|conn, _| {
                Box::pin(async move {
                    let clean = !conn.is_in_transaction();
                    if !clean {
                        tracing::warn!("dropping the writer connection: a failed write left it inside a transaction");
                    }
                    Ok(clean)
                })
            })
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", wal.autocheckpoint_pages.to_string())
                    .pragma("journal_size_limit", wal.limit_bytes.to_string()),
            )
            .await?;
        super::migrations::migrator(super::migrations::SQLITE)
            .await?
            .run(&writer)
            .await?;
        if lock.is_some() {
            // One server uses this file at a time (the lock guards it), so whatever a
            // previous server process had claimed is no longer in flight.
            let released = engine::release_all_claims(&writer).await?;
            if released > 0 {
                tracing::info!(released, "re-queued deliveries claimed by a previous run");
            }
        }
        // The checkpointer never waits long for readers: a truncating checkpoint that would
        // hold up writers gives up and is tried again on the next tick.
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().busy_timeout(Duration::from_millis(50)))
            .await?;
        let checkpoint_blocked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(checkpoint_loop(
            checkpointer.clone(),
            checkpoint_blocked.clone(),
            data_dir.join(format!("{DATABASE_FILE}-wal")),
            max_bytes.map(|_| wal.limit_bytes),
        ));
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let (batch, queue) = mpsc::channel(4096);
        tokio::spawn(writer::run(writer.clone(), queue));
        Ok(SqliteStore {
            readers,
            writer,
            batch,
            checkpointer,
            lock,
            max_bytes,
            checkpoint_blocked,
        })
    }

    /// `Full` while the log cannot be checkpointed for want of room.
    fn refuse_while_checkpoint_blocked(&self) -> StoreResult<()> {
        if self
            .checkpoint_blocked
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return Err(StoreError::Full(
                "the database file cannot grow to take the write-ahead log's pages".to_owned(),
            ));
        }
        Ok(())
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> WriteOp,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.batch
            .send(make(reply))
            .await
            .map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }
}

#[async_trait]
impl Events for SqliteStore {
    async fn insert_event(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
        lease: Option<Lease>,
    ) -> StoreResult<InsertedEvent> {
        self.refuse_while_checkpoint_blocked()?;
        let account = account.clone();
        self.submit(|reply| WriteOp::InsertEvent {
            account,
            event,
            now_ms,
            lease,
            reply,
        })
        .await
    }

    async fn insert_events_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> StoreResult<Vec<u32>> {
        self.refuse_while_checkpoint_blocked()?;
        let queued: Vec<events::QueuedEvent> = events
            .into_iter()
            .map(|(account, event)| events::QueuedEvent {
                account,
                event,
                now_ms,
                lease: None,
            })
            .collect();
        let mut tx = self.writer.begin().await?;
        let answers = events::insert_batch(&mut tx, &queued).await?;
        let counts = match InsertedEvent::all_or_none(answers) {
            Ok(counts) => counts,
            Err(refused) => {
                tx.rollback().await?;
                return Err(refused);
            }
        };
        tx.commit().await?;
        Ok(counts)
    }
}

#[async_trait]
impl DeliveryQueue for SqliteStore {
    async fn claim_due(&self, now_ms: i64, lease: Lease) -> StoreResult<Vec<ClaimedDelivery>> {
        let rotation = rand::random::<u32>() as usize;
        engine::claim_due(&self.writer, now_ms, lease, rotation).await
    }

    async fn next_due_at(&self) -> StoreResult<Option<i64>> {
        engine::next_due_at(&self.readers).await
    }

    async fn record_outcome_and_claim(
        &self,
        outcome: AttemptOutcome,
        follow_up: Option<(i64, Lease)>,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        self.submit(|reply| WriteOp::Outcome {
            outcome,
            follow_up,
            reply,
        })
        .await
    }

    async fn release_claims(&self, claims: &[(i64, u64)]) -> StoreResult<u64> {
        engine::release_claims(&self.writer, claims).await
    }
}

#[async_trait]
impl Upkeep for SqliteStore {
    async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
        self.checkpointer.close().await;
        // Nothing can write through this store any more: the next server may have the file.
        if let Some(lock) = &self.lock {
            let _ = lock.unlock();
        }
    }

    async fn check_writable(&self, now_ms: i64) -> StoreResult<()> {
        self.refuse_while_checkpoint_blocked()?;
        // A row of 64 KiB written and removed in one transaction: it needs sixteen free pages
        // and as many frames of WAL — more than a small event needs (its rows and index
        // entries touch a few pages), so whenever an ordinary event would be refused the
        // probe is too. (A page-sized probe reused the page it had freed itself a moment
        // before, and said "ready" while every event got 507.)
        let mut tx = self.writer.begin().await?;
        sqlx::query("INSERT INTO health_probe (at, pad) VALUES (?, zeroblob(65536))")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM health_probe")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn queue_stats(&self, now_ms: i64) -> StoreResult<QueueStats> {
        let (pending, due, oldest_due_at, outbox): (i64, i64, Option<i64>, i64) = sqlx::query_as(
            "SELECT COUNT(*),
                COALESCE(SUM(CASE WHEN next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1) THEN 1 ELSE 0 END), 0),
                MIN(CASE WHEN next_attempt_at <= ?1 AND (claimed_until IS NULL OR claimed_until <= ?1) THEN next_attempt_at END),
                (SELECT COUNT(*) FROM emails WHERE sent_at IS NULL AND dead_at IS NULL)
         FROM deliveries WHERE status = 'pending'",
        )
        .bind(now_ms)
        .fetch_one(&self.readers)
        .await?;
        let open_circuits: i64 = sqlx::query_scalar(super::statements::OPEN_CIRCUITS)
            .bind(crate::domain::health::OPENS_AFTER as i32)
            .fetch_one(&self.readers)
            .await?;
        Ok(QueueStats {
            pending,
            due,
            oldest_due_at,
            outbox,
            open_circuits,
            // The data dir's lock keeps any other process out.
            processes: 1,
        })
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// How large the WAL may grow, and when the writer checkpoints it by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalBounds {
    /// The WAL is truncated to this after a checkpoint (`journal_size_limit`); with a cap,
    /// the database file gets the rest of it.
    limit_bytes: u64,
    /// Pages of WAL after which a commit checkpoints (`wal_autocheckpoint`).
    autocheckpoint_pages: u64,
}

impl WalBounds {
    /// Without a cap: 64 MiB, and a large automatic checkpoint (16 MiB) as the backstop of
    /// the background one (throughput first). With a cap: a quarter of it (at most 64 MiB),
    /// checkpointed every half of that, so the database and its WAL together stay within it.
    fn for_cap(max_bytes: Option<u64>) -> Self {
        const UNCAPPED: u64 = 64 * 1024 * 1024;
        match max_bytes {
            None => WalBounds {
                limit_bytes: UNCAPPED,
                autocheckpoint_pages: 4000,
            },
            Some(cap) => {
                let limit_bytes = (cap / 4).clamp(64 * 1024, UNCAPPED);
                WalBounds {
                    limit_bytes,
                    autocheckpoint_pages: (limit_bytes / 2 / 4096).clamp(16, 4000),
                }
            }
        }
    }
}

/// Copies committed WAL frames into the database file in the background (PASSIVE: it never
/// waits for or blocks the writer). With `truncate_above` (a capped database), a WAL file
/// larger than that is truncated once its frames are in the database (given up at once if
/// readers still need them), so the cap bounds the WAL on disk too. A checkpoint that fails
/// for want of room sets `blocked` (events are refused) until one works again: otherwise the
/// log would keep growing on a full disk, and the room that comes back would go to it.
/// Ends when the store closes.
async fn checkpoint_loop(
    pool: SqlitePool,
    blocked: Arc<std::sync::atomic::AtomicBool>,
    wal_file: std::path::PathBuf,
    truncate_above: Option<u64>,
) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let oversized = truncate_above
            .is_some_and(|limit| std::fs::metadata(&wal_file).is_ok_and(|m| m.len() > limit));
        let statement = if oversized {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        use std::sync::atomic::Ordering;
        match sqlx::query(statement).execute(&pool).await {
            Ok(_) => {
                if blocked.swap(false, Ordering::AcqRel) {
                    tracing::info!("WAL checkpoint works again: events are accepted");
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(sqlx::Error::Database(e)) if oversized && e.message().contains("locked") => {}
            Err(error) => match StoreError::from(error) {
                StoreError::Full(detail) => {
                    if !blocked.swap(true, Ordering::AcqRel) {
                        tracing::warn!(%detail, "WAL checkpoint failed for want of room: refusing events until it works");
                    }
                }
                other => tracing::warn!(error = %other, "WAL checkpoint failed"),
            },
        }
    }
}

/// Maps "no row" to [`StoreError::NotFound`].
/// Splits `items` into runs of 64, 32, 16, 8, 4, 2 or 1 for multi-row statements: few round
/// trips per batch, and few distinct statement texts, so the prepared ones stay cached.
fn statement_chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = if rest.len() >= MAX_ROWS_PER_STATEMENT {
            MAX_ROWS_PER_STATEMENT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// The most rows one multi-row statement carries (10 binds each at most: 640 of SQLite's 32766).
const MAX_ROWS_PER_STATEMENT: usize = 64;
