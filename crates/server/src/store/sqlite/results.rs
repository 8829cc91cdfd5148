//! Attempt results on SQLite, as `domain::delivery` settles them: a batch recorded with a few
//! multi-row statements in the writer's transaction, each only if its claim still holds; a
//! final failure disables its webhook (`lifecycle`) in the same transaction, and the webhooks'
//! health (`domain::health`) follows the results.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::super::*;
use super::lifecycle::disable_webhook;
use super::statement_chunks;
use crate::domain::delivery::{self, AfterAttempt};
use crate::domain::health::StreakChange;

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
