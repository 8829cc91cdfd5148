//! The delivery lifecycle, as `domain::delivery` decides: disabling and enabling a webhook
//! (pausing and resuming its deliveries, queueing the owner's email once), and the bulk
//! changes that recovering and retrying apply — every change conditional on the current
//! status, so concurrent final failures disable once and queue one email.
//!
//! The SQL is the same on both stores (numbered parameters, see `statements`), so it is
//! written once, here: `lifecycle_statements!` puts the functions into each store's
//! `lifecycle` module, for its transaction type.

/// Which deliveries a decided change applies to.
#[derive(Debug, Clone, Copy)]
pub enum Deliveries {
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

/// Defines `disable_webhook`, `enable_webhook` and `apply_change` on transactions of type
/// `$tx`.
macro_rules! lifecycle_statements {
    ($tx:ty) => {
        /// Disables the webhook if it is still enabled; only then pauses its pending
        /// deliveries and queues the email (if any), so concurrent final failures send exactly
        /// one. Returns whether this call disabled it.
        pub(in $crate::store) async fn disable_webhook(
            tx: &mut $tx,
            webhook_seq: i64,
            reason: &str,
            email: Option<&$crate::domain::email::Email>,
            now_ms: i64,
        ) -> $crate::store::StoreResult<bool> {
            let disabled = sqlx::query(
                "UPDATE webhooks SET enabled = FALSE, disabled_reason = $1, disabled_at = $2, updated_at = $2
                 WHERE seq = $3 AND enabled",
            )
            .bind(reason)
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
                $crate::store::lifecycle::Deliveries::OfWebhook(webhook_seq),
                $crate::domain::delivery::on_webhook_disabled(),
                now_ms,
            )
            .await?;
            if let Some(email) = email {
                sqlx::query(
                    "INSERT INTO emails (id, recipient, subject, body, created_at, next_try_at)
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind($crate::domain::new_id("eml_"))
                .bind(&email.recipient)
                .bind(&email.subject)
                .bind(&email.body)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            }
            Ok(true)
        }

        /// Enables the webhook if it is disabled and resumes its paused deliveries; returns whether
        /// this call enabled it.
        pub(in $crate::store) async fn enable_webhook(
            tx: &mut $tx,
            webhook_seq: i64,
            now_ms: i64,
        ) -> $crate::store::StoreResult<bool> {
            let enabled = sqlx::query(
                "UPDATE webhooks SET enabled = TRUE, disabled_reason = NULL, disabled_at = NULL, updated_at = $1
                 WHERE seq = $2 AND NOT enabled",
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
                $crate::store::lifecycle::Deliveries::OfWebhook(webhook_seq),
                $crate::domain::delivery::on_webhook_enabled(now_ms),
                now_ms,
            )
            .await?;
            Ok(true)
        }

        /// Applies a decided change to the deliveries still in `change.from`; returns how many
        /// changed.
        pub(in $crate::store) async fn apply_change(
            tx: &mut $tx,
            which: $crate::store::lifecycle::Deliveries,
            change: $crate::domain::delivery::BulkChange,
            now_ms: i64,
        ) -> $crate::store::StoreResult<u64> {
            let (column, key, from_ms, to_ms) = match which {
                $crate::store::lifecycle::Deliveries::OfWebhook(seq) => ("webhook_seq", seq, i64::MIN, i64::MAX),
                $crate::store::lifecycle::Deliveries::One(seq) => ("seq", seq, i64::MIN, i64::MAX),
                $crate::store::lifecycle::Deliveries::OfWebhookCreated {
                    webhook,
                    from_ms,
                    to_ms,
                } => ("webhook_seq", webhook, from_ms, to_ms),
            };
            Ok(sqlx::query(&format!(
                "UPDATE deliveries SET status = $1, next_attempt_at = $2,
                        round_base = CASE WHEN $3 THEN attempt_count ELSE round_base END, updated_at = $4
                 WHERE {column} = $5 AND status = $6 AND created_at >= $7 AND created_at < $8"
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
            .rows_affected())
        }
    };
}
pub(super) use lifecycle_statements;
