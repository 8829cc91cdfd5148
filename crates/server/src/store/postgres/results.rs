//! Attempt results on PostgreSQL, as `domain::delivery` settles them: each recorded only if its
//! claim still holds, and the room it frees handed on at once — straight back to its webhook's
//! next delivery, in the statement that records it, where `domain::claim::handed_back` allows
//! it, else as any claim shares it.

use std::sync::LazyLock;

use sqlx::postgres::PgRow;
use sqlx::{Connection, PgConnection, Row};

use super::super::*;
use super::engine::{
    claim_in, claimed, in_flight_limit, in_flight_of, in_share, unleased, work_waiting,
    CLAIMED_COLUMNS, CLAIMED_JOINS,
};
use super::lifecycle::disable_webhook;
use crate::domain::claim::Shard;
use crate::domain::delivery::{self, AfterAttempt};

/// Records a batch of results (see [`record`]) and picks, under their webhooks' locks,
/// the deliveries their freed slots go straight back to, as `domain::claim::handed_back`
/// decides: for the enabled webhooks of this process's share (`$15`, `$16`) whose lock is
/// free, while no other webhook of the share waits at `$14` with room under the limit `$17`,
/// each webhook's oldest due deliveries no lease holds, as many as it freed less any excess
/// over the limit, at most `$18` in all — and leases them (`$19`, `$20`). Rows: each delivery
/// moved on (`handed` false, only `seq`) and each leased, with what its attempt needs (true).
///
/// Each result's values come out of the lease it releases (`released` returns them with the
/// lease), so that a delivery is updated from the one row of its own result. Joined to the
/// arrays a second time, the generic plan (it takes them for ten rows) scanned all of them
/// once for every delivery: 65,280 rows read and dropped for a full batch of 256, two thirds
/// of the statement's time.
///
/// Which webhooks wait with room is read once per statement (`waiting`, at most two: enough
/// to know whether one other than a given webhook waits), among those `due_webhooks` says may
/// have work due — of those with an open circuit, only while the lease has a share for them
/// (`$23`, its `max_failing`): without one, no claim would serve them, and counting them held
/// every freed slot back for a claim that took nothing (beside dead endpoints whose circuits
/// wait for the failing share, a claim after every batch of results). Asked once per freed webhook, it read the queue of every webhook of the
/// share for each — with a thousand webhooks whose endpoints answer in 250 ms, 2–8 s per
/// batch, the whole of PostgreSQL's time.
///
/// The picks are read in the statement's snapshot, which may predate a claim committed just
/// before the lock was taken: leasing such a delivery then fails on its lease (a committed one:
/// no wait) and the slot stays free for the next claim; since a hand-back only replaces
/// leases it released, no count can grow past the limit.
///
/// Each row of a delivery moved on also says whether any webhook of the share waited with room
/// (`others_waiting`): when none did, the room left over after the hand-back has nothing to
/// go to, and no claim needs to look (see [`record_and_claim`]).
///
/// The rule here is `handed_back`'s, written in SQL for speed; the store contract
/// (`the_room_finished_attempts_free_goes_back_as_the_domain_decides`) runs this statement,
/// and SQLite's claim in the same transaction, over one table of cases against the function.
static RECORD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH released AS (
             DELETE FROM leases l
             USING UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $12::text[],
                          $13::bigint[], $5::int[], $6::text[], $7::bigint[], $8::bigint[])
                   AS v(seq, token, status, due, status_disabled, due_disabled, number, error,
                        started, duration)
             WHERE l.delivery_seq = v.seq AND l.token = v.token
             RETURNING l.delivery_seq, l.webhook_seq, v.status, v.due, v.status_disabled,
                       v.due_disabled, v.number, v.error, v.started, v.duration),
         moved AS (
             UPDATE deliveries d
             SET status = CASE WHEN w.enabled THEN r.status ELSE r.status_disabled END,
                 next_attempt_at = CASE WHEN w.enabled THEN r.due ELSE r.due_disabled END,
                 attempt_count = r.number, last_error = r.error, updated_at = r.started + r.duration
             FROM released r, webhooks w
             WHERE d.seq = r.delivery_seq AND w.seq = d.webhook_seq
             RETURNING d.seq),
         recorded AS (
             INSERT INTO attempts (delivery_seq, number, started_at, duration_ms, status_code,
                                   error_kind, error_message, response_body, url)
             SELECT * FROM UNNEST($1::bigint[], $5::int[], $7::bigint[], $8::bigint[], $9::int[],
                                  $10::text[], $6::text[], $11::text[], $21::text[])
                      AS a(seq, number, started, duration, code, kind, message, body, url)
             WHERE a.seq IN (SELECT seq FROM moved)
             ON CONFLICT DO NOTHING),
         freed AS (SELECT webhook_seq AS seq, COUNT(*) AS k FROM released GROUP BY webhook_seq),
         waiting AS MATERIALIZED (
             SELECT o.seq FROM due_webhooks r JOIN webhooks o ON o.seq = r.webhook_seq
             WHERE $17 > 0 AND r.due_ms <= $14 AND o.enabled AND {other_share} AND {other_waiting}
               AND (o.failure_streak < $22 OR $23 > 0)
               AND {other_in_flight} < {other_limit}
             LIMIT 2),
         locked AS (
             SELECT w.seq, w.failure_streak, w.held_until, f.k FROM webhooks w JOIN freed f ON f.seq = w.seq
             WHERE $17 > 0 AND w.enabled AND {share}
               AND NOT EXISTS (SELECT 1 FROM waiting o WHERE o.seq <> w.seq)
             FOR NO KEY UPDATE OF w SKIP LOCKED),
         handed AS (
             SELECT n.seq FROM locked w
             CROSS JOIN LATERAL (
                 SELECT COUNT(*) AS busy FROM leases l WHERE l.webhook_seq = w.seq AND l.until_ms >= $14) AS b
             CROSS JOIN LATERAL (
                 SELECT d.seq FROM deliveries d
                 WHERE d.webhook_seq = w.seq AND d.status = 'pending' AND d.next_attempt_at <= $14
                   AND {unleased}
                 ORDER BY d.next_attempt_at, d.seq
                 LIMIT LEAST(w.k, GREATEST({limit} - (b.busy - w.k), 0))) AS n
             LIMIT $18),
         leased AS (
             INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
             SELECT d.seq, d.webhook_seq, $19, $20 FROM handed h JOIN deliveries d ON d.seq = h.seq
             ON CONFLICT (delivery_seq) DO UPDATE SET token = EXCLUDED.token, until_ms = EXCLUDED.until_ms
                 WHERE leases.until_ms < $14
             RETURNING delivery_seq)
         SELECT FALSE AS handed, m.seq, NULL::text AS id, NULL::int AS attempt_count,
                NULL::int AS round_base, NULL::bigint AS created_at, NULL::text AS event_id,
                NULL::text AS type, NULL::bytea AS body, NULL::bigint AS webhook_seq,
                NULL::text AS webhook_id, NULL::text AS url, NULL::text AS secret,
                NULL::text AS previous_secrets,
                NULL::text AS email, NULL::text AS account_id, NULL::int AS failure_streak,
                EXISTS (SELECT 1 FROM waiting) AS others_waiting
         FROM moved m
         UNION ALL
         SELECT TRUE, {loaded}, NULL
         FROM leased c {joined}",
        share = in_share("w.seq", "$15", "$16"),
        other_share = in_share("r.webhook_seq", "$15", "$16"),
        other_waiting = work_waiting("o.seq", "$14"),
        other_in_flight = in_flight_of("o", "$14"),
        other_limit = in_flight_limit("o", "$14", "$17", "$22"),
        limit = in_flight_limit("w", "$14", "$17", "$22"),
        unleased = unleased("w.seq", "$14"),
        loaded = CLAIMED_COLUMNS,
        joined = CLAIMED_JOINS,
    )
});

/// A lease that claims nothing (results recorded without a follow-up claim: its limit of 0
/// hands nothing back).
const NO_LEASE: Lease = Lease {
    token: 0,
    until_ms: 0,
    max: 0,
    per_webhook: 0,
    max_failing: 0,
};

/// Where the slots freed by recorded results may go straight back (see [`RECORD`]).
#[derive(Debug, Clone, Copy)]
struct HandBack {
    /// The time now, Unix ms.
    now_ms: i64,
    /// The lease the handed-back deliveries are claimed under (its `max` at most).
    lease: Lease,
    /// This process's share of the webhooks.
    shard: Shard,
}

/// Records a batch of attempts and hands the room they free on: straight back to their own
/// webhooks' next deliveries where the rules allow it ([`RECORD`]), the rest as any claim
/// shares it — at most `follow_up`'s lease's `max` in all (none without one). No claim runs
/// for the rest when the statement that handed back saw no webhook of the share waiting with
/// room: beside slow or dead endpoints that was a claim per batch of results, finding nothing.
///
/// On `conn`, whose session does not wait for the disk (see the module's doc of the store):
/// a batch without a final failure is one statement, committed at once, and a claim for
/// the rest (rare while a webhook has a backlog) a transaction after it; one with a final
/// failure, which may disable a webhook, is one transaction.
pub(super) async fn record_and_claim(
    conn: &mut PgConnection,
    outcomes: &[AttemptOutcome],
    follow_up: Option<(i64, Lease)>,
    shard: Shard,
) -> StoreResult<HandedOn> {
    // A batch with a failed attempt hands nothing straight back: the statement that hands back
    // cannot see the failure streak (circuit) or `Retry-After` hold it is about to store, nor
    // count a failing webhook's share; the claim that follows the recorded health does.
    let all_succeeded = outcomes
        .iter()
        .all(|o| matches!(o.next, AfterAttempt::Succeeded));
    let hand_back = follow_up
        .filter(|_| all_succeeded)
        .map(|(now_ms, lease)| HandBack {
            now_ms,
            lease,
            shard,
        });
    let rest = |recorded: &Recorded| {
        if hand_back.is_some() && !recorded.others_waiting {
            return None;
        }
        follow_up.and_then(|(now_ms, lease)| {
            let max = lease.max.saturating_sub(recorded.handed.len() as u32);
            (max > 0).then_some((now_ms, Lease { max, ..lease }))
        })
    };
    if outcomes.iter().any(disables) {
        let mut tx = conn.begin().await?;
        let recorded = record(&mut tx, outcomes, hand_back).await?;
        for outcome in &recorded.final_failures {
            if let Some(disabling) = &outcome.disabling {
                disable_webhook(
                    &mut tx,
                    outcome.webhook_seq,
                    &disabling.reason,
                    Some(&disabling.email),
                    disabling.at_ms,
                )
                .await?;
            }
        }
        // In a savepoint: a failed health update must not undo the results.
        let mut savepoint = tx.begin().await?;
        match apply_health(&mut savepoint, outcomes).await {
            Ok(()) => savepoint.commit().await?,
            Err(error) => {
                tracing::warn!(%error, "a webhook's health was not updated");
                savepoint.rollback().await?;
            }
        }
        let rest = rest(&recorded);
        let mut handed_on = HandedOn::handed(recorded.handed);
        if let Some((now_ms, lease)) = rest {
            handed_on.claimed_too(claim_in(&mut tx, now_ms, lease, shard).await?);
        }
        tx.commit().await?;
        return Ok(handed_on);
    }
    let recorded = record(conn, outcomes, hand_back).await?;
    if let Err(error) = apply_health(conn, outcomes).await {
        tracing::warn!(%error, "a webhook's health was not updated");
    }
    let rest = rest(&recorded);
    let mut handed_on = HandedOn::handed(recorded.handed);
    if let Some((now_ms, lease)) = rest {
        // The results are stored: a failed claim loses nothing (the loop claims later). Its
        // transaction is rolled back here and now — this connection stays with the writer,
        // and a transaction left open would hold the webhooks' locks until its next batch.
        let more = async {
            let mut tx = conn.begin().await?;
            match claim_in(&mut tx, now_ms, lease, shard).await {
                Ok(more) => {
                    tx.commit().await?;
                    Ok(more)
                }
                Err(error) => {
                    let _ = tx.rollback().await;
                    Err(error)
                }
            }
        };
        match more.await {
            Ok(more) => handed_on.claimed_too(more),
            Err(error) => {
                tracing::warn!(%error, "claiming after recorded results failed");
                handed_on.claimed_too(Vec::new());
            }
        }
    }
    Ok(handed_on)
}

/// Where the room recorded results freed went.
pub(super) struct HandedOn {
    /// The deliveries it was claimed for.
    pub claimed: Vec<ClaimedDelivery>,
    /// Whether a claim for it took nothing. That claim skipped the webhooks other
    /// transactions held at that moment (another process's claim, say), so work may wait
    /// that the claim loop should look for again.
    pub look_again: bool,
}

impl HandedOn {
    /// The deliveries handed straight back, before any claim.
    fn handed(handed: Vec<ClaimedDelivery>) -> Self {
        HandedOn {
            claimed: handed,
            look_again: false,
        }
    }

    /// Adds what a claim for the rest took.
    fn claimed_too(&mut self, claimed: Vec<ClaimedDelivery>) {
        self.look_again = claimed.is_empty();
        self.claimed.extend(claimed);
    }
}

/// What [`record`] stored and found.
struct Recorded<'a> {
    /// The deliveries the freed slots went straight back to.
    handed: Vec<ClaimedDelivery>,
    /// The final failures recorded (whose webhooks the caller disables, in the same
    /// transaction).
    final_failures: Vec<&'a AttemptOutcome>,
    /// Whether a webhook of the share waited with room as the statement read it (or it is
    /// not known: no result was recorded).
    others_waiting: bool,
}

/// Changes the health of the outcomes' webhooks as `domain::health` decides (their circuits
/// and `Retry-After` holds), in one statement, in webhook order. The results are stored
/// already: callers log a failure here (a deadlock with another process's batch, say), which
/// only delays a circuit or a hold.
async fn apply_health(conn: &mut PgConnection, outcomes: &[AttemptOutcome]) -> StoreResult<()> {
    let changes = super::super::health_changes(outcomes);
    if changes.is_empty() {
        return Ok(());
    }
    let seqs: Vec<i64> = changes.iter().map(|(seq, _, _)| *seq).collect();
    let holds: Vec<Option<i64>> = changes.iter().map(|(_, _, hold)| *hold).collect();
    let (resets, adds): (Vec<bool>, Vec<i32>) = changes
        .iter()
        .map(|(_, change, _)| match change {
            crate::domain::health::StreakChange::Reset => (true, 0),
            crate::domain::health::StreakChange::Add(n) => (false, *n as i32),
        })
        .unzip();
    sqlx::query(
        "UPDATE webhooks w
         SET failure_streak = CASE WHEN v.reset THEN 0 ELSE w.failure_streak + v.add END,
             held_until = CASE WHEN v.hold IS NULL THEN w.held_until
                               ELSE GREATEST(COALESCE(w.held_until, 0), v.hold) END
         FROM UNNEST($1::bigint[], $2::bool[], $3::int[], $4::bigint[]) AS v(seq, reset, add, hold)
         WHERE w.seq = v.seq",
    )
    .bind(&seqs)
    .bind(&resets)
    .bind(&adds)
    .bind(&holds)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether recording `outcome` may disable its webhook (a final failure).
fn disables(outcome: &AttemptOutcome) -> bool {
    matches!(outcome.next, AfterAttempt::GiveUp { .. }) && outcome.disabling.is_some()
}

/// Records a batch of attempts and moves each delivery on, if its claim still holds: its
/// lease is released, and only then the delivery moves and its attempt is recorded — one
/// statement for the whole batch, which also claims the deliveries the freed slots go back to
/// (under `hand_back`; none without it).
async fn record<'a>(
    conn: &mut PgConnection,
    outcomes: &'a [AttemptOutcome],
    hand_back: Option<HandBack>,
) -> StoreResult<Recorded<'a>> {
    // The state each delivery moves to, decided for both cases: a retry whose webhook was
    // disabled meanwhile waits, paused. Which case holds is read (without a lock, so that
    // recording results never waits for a claim in progress) in the statement itself; a final
    // failure's disable is conditional on the webhook still being enabled, so concurrent ones
    // still queue exactly one email.
    let (mut if_enabled, mut if_disabled) = ((vec![], vec![]), (vec![], vec![]));
    for outcome in outcomes {
        for (enabled, states) in [(true, &mut if_enabled), (false, &mut if_disabled)] {
            let (status, next_at) = delivery::settle(outcome.next, enabled);
            states.0.push(status.as_str());
            states.1.push(next_at);
        }
    }
    let attempts: Vec<&AttemptRecord> = outcomes.iter().map(|o| &o.attempt).collect();
    let text = |f: &dyn Fn(&AttemptRecord) -> Option<String>| -> Vec<Option<String>> {
        attempts.iter().map(|a| f(a)).collect()
    };
    let (now_ms, shard, lease) = hand_back.map_or((0, Shard::WHOLE, NO_LEASE), |h| {
        (h.now_ms, h.shard, h.lease)
    });
    let rows = sqlx::query(&RECORD)
        .bind(
            outcomes
                .iter()
                .map(|o| o.delivery_seq)
                .collect::<Vec<i64>>(),
        )
        .bind(
            outcomes
                .iter()
                .map(|o| o.claim_token as i64)
                .collect::<Vec<i64>>(),
        )
        .bind(&if_enabled.0)
        .bind(&if_enabled.1)
        .bind(
            attempts
                .iter()
                .map(|a| a.number as i32)
                .collect::<Vec<i32>>(),
        )
        .bind(text(&|a| a.error_message.clone()))
        .bind(attempts.iter().map(|a| a.started_at).collect::<Vec<i64>>())
        .bind(attempts.iter().map(|a| a.duration_ms).collect::<Vec<i64>>())
        .bind(
            attempts
                .iter()
                .map(|a| a.status_code.map(i32::from))
                .collect::<Vec<Option<i32>>>(),
        )
        .bind(text(&|a| a.error_kind.clone()))
        .bind(text(&|a| a.response_body.clone()))
        .bind(&if_disabled.0)
        .bind(&if_disabled.1)
        .bind(now_ms)
        .bind(i64::from(shard.count()))
        .bind(i64::from(shard.index()))
        .bind(i64::from(lease.per_webhook))
        .bind(i64::from(lease.max))
        .bind(lease.token as i64)
        .bind(lease.until_ms)
        .bind(text(&|a| a.url.clone()))
        .bind(crate::domain::health::OPENS_AFTER as i32)
        .bind(i64::from(lease.max_failing))
        .fetch_all(&mut *conn)
        .await?;
    let (handed, moved): (Vec<PgRow>, Vec<PgRow>) =
        rows.into_iter().partition(|row| row.get("handed"));
    let others_waiting = moved
        .first()
        .is_none_or(|row| row.get::<bool, _>("others_waiting"));
    let moved: std::collections::HashSet<i64> = moved.iter().map(|row| row.get("seq")).collect();
    let handed: Vec<ClaimedDelivery> = handed.iter().map(|row| claimed(row, lease.token)).collect();
    let final_failures = outcomes_with_claims(outcomes, &moved)
        .into_iter()
        .filter(|o| disables(o))
        .collect();
    Ok(Recorded {
        handed,
        final_failures,
        others_waiting,
    })
}
