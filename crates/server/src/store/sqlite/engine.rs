//! The delivery engine's queries: claiming due deliveries under a lease (as `domain::claim`
//! decides), and applying attempt outcomes, disables and resumes (as `domain::delivery`
//! decides) — every change conditional on the claim token or the current status, so a worker
//! whose lease expired and was taken over changes nothing.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::super::*;
use super::statement_chunks;
use crate::domain::claim::{self, DueQueue};
use crate::domain::delivery::{self, AfterAttempt, BulkChange};
use crate::domain::health::{self, StreakChange};
use crate::domain::new_id;
use crate::domain::webhook::WebhookSecret;

/// A webhook's health from a row with its `failure_streak` and `held_until`.
pub(super) fn health_of(row: &sqlx::sqlite::SqliteRow) -> health::Health {
    health::Health {
        failure_streak: row.get::<i64, _>("failure_streak") as u32,
        held_until: row.get("held_until"),
    }
}

/// A delivery counts as claimed while its lease runs; an expired lease frees it.
const UNCLAIMED: &str = "(claim_token IS NULL OR claimed_until < ?)";

/// How many attempts of a webhook are in flight (unexpired leases, any process), and whether
/// it has due deliveries waiting unclaimed.
pub(super) async fn webhook_load(
    conn: &mut SqliteConnection,
    webhook_seq: i64,
    now_ms: i64,
) -> StoreResult<(u32, bool)> {
    let row = sqlx::query(&format!(
        "SELECT (SELECT COUNT(*) FROM deliveries WHERE webhook_seq = ?1 AND claim_token IS NOT NULL
                   AND claimed_until >= ?2) AS in_flight,
                EXISTS (SELECT 1 FROM deliveries WHERE webhook_seq = ?1 AND status = 'pending'
                   AND next_attempt_at <= ?2 AND {}) AS waiting",
        UNCLAIMED.replace('?', "?2")
    ))
    .bind(webhook_seq)
    .bind(now_ms)
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        row.get::<i64, _>("in_flight") as u32,
        row.get::<bool, _>("waiting"),
    ))
}

/// Claims due deliveries of enabled webhooks: each webhook's free slots, round-robin across
/// webhooks, at most `lease.max` in all.
pub(super) async fn claim_due(
    pool: &SqlitePool,
    now_ms: i64,
    lease: Lease,
    rotation: usize,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let mut tx = pool.begin().await?;
    let claimed = claim_in(&mut tx, now_ms, lease, rotation).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// [`claim_due`] inside a transaction the caller commits.
pub(super) async fn claim_in(
    tx: &mut Transaction<'static, Sqlite>,
    now_ms: i64,
    lease: Lease,
    rotation: usize,
) -> StoreResult<Vec<ClaimedDelivery>> {
    // 1. Enabled webhooks with due, unclaimed work, their attempts in flight and their
    //    failure streaks (an open circuit allows one attempt at a time).
    let candidates = sqlx::query(&format!(
        "SELECT w.seq, w.failure_streak, w.held_until,
                (SELECT COUNT(*) FROM deliveries c WHERE c.webhook_seq = w.seq
                   AND c.claim_token IS NOT NULL AND c.claimed_until >= ?1) AS in_flight
         FROM webhooks w
         WHERE w.enabled = 1 AND EXISTS (
             SELECT 1 FROM deliveries d WHERE d.webhook_seq = w.seq AND d.status = 'pending'
               AND d.next_attempt_at <= ?1 AND {})",
        UNCLAIMED.replace("claim", "d.claim").replace('?', "?1")
    ))
    .bind(now_ms)
    .fetch_all(&mut **tx)
    .await?;
    // 2. Each one's oldest due deliveries, as many as it has free slots.
    let mut queues = Vec::with_capacity(candidates.len());
    for row in candidates {
        let health = health_of(&row);
        let limit = health::in_flight_limit(lease.per_webhook, health, now_ms);
        let free = claim::free_slots(limit, row.get::<i64, _>("in_flight") as u32);
        if free == 0 {
            continue;
        }
        let due: Vec<i64> = sqlx::query_scalar(&format!(
            "SELECT seq FROM deliveries WHERE webhook_seq = ?1 AND status = 'pending'
               AND next_attempt_at <= ?2 AND {}
             ORDER BY next_attempt_at, seq LIMIT ?3",
            UNCLAIMED.replace('?', "?2")
        ))
        .bind(row.get::<i64, _>("seq"))
        .bind(now_ms)
        .bind(free.min(lease.max))
        .fetch_all(&mut **tx)
        .await?;
        queues.push((DueQueue { due }, !health::may_start_at_once(health)));
    }
    let queues = claim::within_failing_share(queues, lease.max_failing, rotation);
    let picked = claim::round_robin(queues, lease.max as usize, rotation);
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    // 3. The lease, on exactly the picked rows.
    for chunk in statement_chunks(&picked) {
        let mut update = QueryBuilder::new("UPDATE deliveries SET claim_token = ");
        update
            .push_bind(lease.token as i64)
            .push(", claimed_until = ")
            .push_bind(lease.until_ms)
            .push(" WHERE seq IN (");
        let mut list = update.separated(", ");
        for seq in chunk {
            list.push_bind(*seq);
        }
        update.push(")");
        update.build().execute(&mut **tx).await?;
    }
    load_claimed(tx, lease).await
}

/// Everything a worker needs to send the deliveries held under `lease`.
async fn load_claimed(
    tx: &mut Transaction<'static, Sqlite>,
    lease: Lease,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let rows = sqlx::query(
        "SELECT d.seq, d.id, d.attempt_count, d.round_base, d.created_at, e.id AS event_id, e.type, e.body,
                w.seq AS webhook_seq, w.id AS webhook_id, w.url, w.secret, w.previous_secrets,
                 a.email, d.account_id, w.failure_streak
         FROM deliveries d
         JOIN events e ON e.seq = d.event_seq
         JOIN webhooks w ON w.seq = d.webhook_seq
         JOIN accounts a ON a.id = d.account_id
         WHERE d.claim_token = ? AND d.claimed_until = ?",
    )
    .bind(lease.token as i64)
    .bind(lease.until_ms)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| ClaimedDelivery {
            seq: row.get("seq"),
            failure_streak: row.get::<i64, _>("failure_streak") as u32,
            id: row.get("id"),
            claim_token: lease.token,
            attempt_count: row.get::<i64, _>("attempt_count") as u32,
            round_base: row.get::<i64, _>("round_base") as u32,
            event_id: row.get("event_id"),
            event_type: row.get("type"),
            body: Bytes::from(row.get::<Vec<u8>, _>("body")),
            webhook_seq: row.get("webhook_seq"),
            webhook_id: row.get("webhook_id"),
            url: row.get("url"),
            secret: WebhookSecret::from_stored(row.get("secret")),
            account_id: row.get("account_id"),
            account_email: row.get("email"),
            accepted_at_ms: row.get("created_at"),
            previous_secrets: PreviousSecret::list_from_stored(row.get("previous_secrets")),
            signing_keys: Default::default(),
        })
        .collect())
}

/// When the next pending, unclaimed delivery falls due.
pub(super) async fn next_due_at(pool: &SqlitePool) -> StoreResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT MIN(next_attempt_at) FROM deliveries WHERE status = 'pending' AND claim_token IS NULL",
    )
    .fetch_one(pool)
    .await?;
    Ok(row.get(0))
}

/// Releases every claim of deliveries and emails: at the start of the only process using this file (guarded by the
/// data dir's lock), whatever a previous process held is no longer in flight.
pub(super) async fn release_all_claims(pool: &SqlitePool) -> StoreResult<u64> {
    let released = sqlx::query(
        "UPDATE deliveries SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    )
    .execute(pool)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE emails SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    )
    .execute(pool)
    .await?;
    Ok(released)
}

/// Gives back the claims given, where they still hold.
pub(super) async fn release_claims(pool: &SqlitePool, claims: &[(i64, u64)]) -> StoreResult<u64> {
    let mut tx = pool.begin().await?;
    let mut released = 0;
    for (seq, token) in claims {
        released += sqlx::query(
            "UPDATE deliveries SET claim_token = NULL, claimed_until = NULL
             WHERE seq = ?1 AND claim_token = ?2",
        )
        .bind(seq)
        .bind(*token as i64)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    tx.commit().await?;
    Ok(released)
}

/// Records a batch of attempts and moves each delivery on, if its claim still holds, with a
/// few multi-row statements for the whole batch.
pub(super) async fn apply_outcomes(
    tx: &mut Transaction<'static, Sqlite>,
    outcomes: &[AttemptOutcome],
) -> StoreResult<()> {
    // 1. Whether each webhook is still enabled: a retry of a disabled one waits, paused.
    let webhooks: HashSet<i64> = outcomes.iter().map(|o| o.webhook_seq).collect();
    let mut enabled: HashMap<i64, bool> = HashMap::with_capacity(webhooks.len());
    let webhooks: Vec<i64> = webhooks.into_iter().collect();
    for chunk in statement_chunks(&webhooks) {
        let mut select = QueryBuilder::new("SELECT seq, enabled FROM webhooks WHERE seq IN (");
        let mut list = select.separated(", ");
        for seq in chunk {
            list.push_bind(*seq);
        }
        select.push(")");
        for row in select.build().fetch_all(&mut **tx).await? {
            enabled.insert(row.get("seq"), row.get("enabled"));
        }
    }

    // 2. Move the deliveries on, where the claim still holds.
    let mut moved = HashSet::with_capacity(outcomes.len());
    for chunk in statement_chunks(outcomes) {
        let mut update = QueryBuilder::new(
            "UPDATE deliveries SET status = v.column3, next_attempt_at = v.column4,
                attempt_count = v.column5, last_error = v.column6, updated_at = v.column7,
                claim_token = NULL, claimed_until = NULL
             FROM (",
        );
        update.push_values(chunk, |mut row, outcome| {
            let attempt = &outcome.attempt;
            let webhook_enabled = enabled.get(&outcome.webhook_seq).copied().unwrap_or(false);
            let (status, next_at) = delivery::settle(outcome.next, webhook_enabled);
            row.push_bind(outcome.delivery_seq)
                .push_bind(outcome.claim_token as i64)
                .push_bind(status.as_str())
                .push_bind(next_at)
                .push_bind(attempt.number)
                .push_bind(attempt.error_message.as_deref())
                .push_bind(attempt.started_at + attempt.duration_ms);
        });
        update.push(
            ") AS v WHERE deliveries.seq = v.column1 AND deliveries.claim_token = v.column2
             RETURNING deliveries.seq",
        );
        for row in update.build().fetch_all(&mut **tx).await? {
            moved.insert(row.get::<i64, _>(0));
        }
    }
    let recorded = outcomes_with_claims(outcomes, &moved);

    // 3. The attempts' records.
    for chunk in statement_chunks(&recorded) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO attempts (delivery_seq, number, started_at, duration_ms, status_code,
                                   error_kind, error_message, response_body, url) ",
        );
        insert.push_values(chunk, |mut row, outcome| {
            let attempt = &outcome.attempt;
            row.push_bind(outcome.delivery_seq)
                .push_bind(attempt.number)
                .push_bind(attempt.started_at)
                .push_bind(attempt.duration_ms)
                .push_bind(attempt.status_code)
                .push_bind(attempt.error_kind.as_deref())
                .push_bind(attempt.error_message.as_deref())
                .push_bind(attempt.response_body.as_deref())
                .push_bind(attempt.url.as_deref());
        });
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut **tx).await?;
    }

    // 4. Each webhook's health, as `domain::health` changes it: its circuit, its hold.
    for (webhook_seq, change, hold) in super::super::health_changes(outcomes) {
        let (reset, add) = match change {
            StreakChange::Reset => (true, 0),
            StreakChange::Add(n) => (false, n),
        };
        sqlx::query(super::super::statements::APPLY_HEALTH)
            .bind(reset)
            .bind(add)
            .bind(hold)
            .bind(webhook_seq)
            .execute(&mut **tx)
            .await?;
    }

    // 5. A final failure disables its webhook (rare, so one by one).
    for outcome in recorded {
        if let (AfterAttempt::GiveUp { .. }, Some(disabling)) = (outcome.next, &outcome.disabling) {
            disable_webhook(
                tx,
                outcome.webhook_seq,
                &disabling.reason,
                Some(&disabling.email),
                disabling.at_ms,
            )
            .await?;
        }
    }
    Ok(())
}

/// Disables the webhook if it is still enabled; only then pauses its pending deliveries and
/// queues the email (if any), so concurrent final failures send exactly one. Returns whether
/// this call disabled it.
pub(super) async fn disable_webhook(
    tx: &mut Transaction<'static, Sqlite>,
    webhook_seq: i64,
    reason: &str,
    email: Option<&crate::domain::email::Email>,
    now_ms: i64,
) -> StoreResult<bool> {
    let disabled = sqlx::query(
        "UPDATE webhooks SET enabled = 0, disabled_reason = ?, disabled_at = ?, updated_at = ?
         WHERE seq = ? AND enabled = 1",
    )
    .bind(reason)
    .bind(now_ms)
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_disabled(),
        now_ms,
    )
    .await?;
    if let Some(email) = email {
        sqlx::query(
            "INSERT INTO emails (id, recipient, subject, body, created_at, next_try_at)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(new_id("eml_"))
        .bind(&email.recipient)
        .bind(&email.subject)
        .bind(&email.body)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

/// Enables the webhook if it is disabled, and resumes its paused deliveries.
pub(super) async fn enable_webhook(
    tx: &mut Transaction<'static, Sqlite>,
    webhook_seq: i64,
    now_ms: i64,
) -> StoreResult<bool> {
    let enabled = sqlx::query(
        "UPDATE webhooks SET enabled = 1, disabled_reason = NULL, disabled_at = NULL, updated_at = ?
         WHERE seq = ? AND enabled = 0",
    )
    .bind(now_ms)
    .bind(webhook_seq)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if enabled == 0 {
        return Ok(false);
    }
    apply_change(
        tx,
        Deliveries::OfWebhook(webhook_seq),
        delivery::on_webhook_enabled(now_ms),
        now_ms,
    )
    .await?;
    Ok(true)
}

/// Which deliveries a decided change applies to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Deliveries {
    /// Every delivery of this webhook (by its key).
    OfWebhook(i64),
    /// This one delivery (by its key).
    One(i64),
    /// The deliveries of this webhook (by its key) created in `[from_ms, to_ms)`.
    OfWebhookCreated {
        /// The webhook's key.
        webhook: i64,
        /// Start of the window, Unix ms.
        from_ms: i64,
        /// End of the window (excluded), Unix ms.
        to_ms: i64,
    },
}

/// Applies a decided change to the deliveries that are still in `change.from`; returns how
/// many changed.
pub(super) async fn apply_change(
    tx: &mut Transaction<'static, Sqlite>,
    which: Deliveries,
    change: BulkChange,
    now_ms: i64,
) -> StoreResult<u64> {
    let (column, key, from_ms, to_ms) = match which {
        Deliveries::OfWebhook(seq) => ("webhook_seq", seq, i64::MIN, i64::MAX),
        Deliveries::One(seq) => ("seq", seq, i64::MIN, i64::MAX),
        Deliveries::OfWebhookCreated {
            webhook,
            from_ms,
            to_ms,
        } => ("webhook_seq", webhook, from_ms, to_ms),
    };
    let changed = sqlx::query(&format!(
        "UPDATE deliveries SET status = ?, next_attempt_at = ?,
                round_base = CASE WHEN ? THEN attempt_count ELSE round_base END, updated_at = ?
         WHERE {column} = ? AND status = ? AND created_at >= ? AND created_at < ?"
    ))
    .bind(change.to.as_str())
    .bind(change.due_at)
    .bind(change.new_round)
    .bind(now_ms)
    .bind(key)
    .bind(change.from.as_str())
    .bind(from_ms)
    .bind(to_ms)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed)
}
