//! The records the store reads and writes.

use bytes::Bytes;

use crate::domain::delivery::AfterAttempt;
use crate::domain::webhook::WebhookSecret;

/// An account: the owner of webhooks and events, and the recipient of emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Where disabling emails go.
    pub email: String,
}

/// One of an account's API keys (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// `key_…`.
    pub id: String,
    /// A name for people (`default` for the account's first key).
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of its last use (updated at most once a minute), if any.
    pub last_used_at: Option<i64>,
    /// What it may do.
    pub scope: crate::domain::access::KeyScope,
}

/// An account as the platform API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// `acct_…`.
    pub id: String,
    /// Where disabling emails go.
    pub email: String,
    /// A name for people.
    pub name: Option<String>,
    /// The provider's id for it.
    pub external_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

impl AccountRecord {
    /// The account as requests act for it.
    pub fn account(&self) -> Account {
        Account {
            id: self.id.clone(),
            email: self.email.clone(),
        }
    }
}

/// Which accounts a list shows: all, or those with this email or external id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only accounts with this email.
    pub email: Option<String>,
    /// Only the account with this external id.
    pub external_id: Option<String>,
}

/// Why an account needs the operator's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attention {
    /// How many of its webhooks are disabled.
    pub disabled_webhooks: i64,
    /// When its oldest pending delivery fell due (Unix ms), if any is pending.
    pub oldest_due_at: Option<i64>,
}

/// A platform key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformKeyRecord {
    /// `pk_…`.
    pub id: String,
    /// A name for people.
    pub name: String,
    /// The key's first characters.
    pub prefix: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of its last use (updated at most once a minute), if any.
    pub last_used_at: Option<i64>,
}

/// A portal session (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSessionRecord {
    /// `ps_…`.
    pub id: String,
    /// The one account it opens.
    pub account_id: String,
    /// Whether it may only read.
    pub read_only: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which it no longer opens.
    pub expires_at: i64,
}

/// A stored webhook.
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    /// `wh_…`.
    pub id: String,
    /// The target URL.
    pub url: String,
    /// Subscription patterns.
    pub events: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// The signing secret (shown only on creation and rotation).
    pub secret: WebhookSecret,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// When it was disabled (Unix ms).
    pub disabled_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Secrets rotated out that still sign beside the current one, oldest first (as the
    /// store keeps them; [`PreviousSecret::signing_at`] says which sign at a given time).
    pub previous_secrets: Vec<PreviousSecret>,
    /// The Ed25519 signing key (`whsk_…`, sealed as stored) of a webhook signed with `v1a`.
    pub signing_key: Option<WebhookSecret>,
    /// Ed25519 keys rotated out that still sign beside the current one, oldest first (as
    /// `previous_secrets`, for `v1a`).
    pub previous_signing_keys: Vec<PreviousSecret>,
    /// Its health (`domain::health`): failed attempts in a row, and a `Retry-After` hold.
    pub health: crate::domain::health::Health,
    /// Its attempts in flight now (any process's), where the use case asked the store
    /// ([`Webhooks::attempts_in_flight`](super::Webhooks::attempts_in_flight): for webhooks whose circuit is open); else 0.
    pub attempts_in_flight: u32,
    /// Conditions on `data` an event must meet to reach it (`domain::filter`).
    pub filter: Option<crate::domain::filter::EventFilter>,
}

/// A secret rotated out of a webhook, signing until its rotation's grace period ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// The secret.
    pub secret: WebhookSecret,
    /// Until when it signs (Unix ms).
    pub until_ms: i64,
}

/// How a list of previous secrets is stored: a JSON array, oldest first.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPrevious {
    secret: String,
    until: i64,
}

impl PreviousSecret {
    /// From the stored column (a JSON array, or nothing); an unreadable value is no secrets.
    pub fn list_from_stored(stored: Option<String>) -> Vec<Self> {
        let Some(text) = stored else {
            return Vec::new();
        };
        serde_json::from_str::<Vec<StoredPrevious>>(&text)
            .unwrap_or_default()
            .into_iter()
            .map(|p| PreviousSecret {
                secret: WebhookSecret::from_stored(p.secret),
                until_ms: p.until,
            })
            .collect()
    }

    /// The stored form of `list` (`None` when empty).
    pub fn list_to_stored(list: &[Self]) -> Option<String> {
        if list.is_empty() {
            return None;
        }
        let stored: Vec<StoredPrevious> = list
            .iter()
            .map(|p| StoredPrevious {
                secret: p.secret.expose().to_owned(),
                until: p.until_ms,
            })
            .collect();
        serde_json::to_string(&stored).ok()
    }

    /// Whether it still signs at `at_ms`.
    pub fn signs_at(&self, at_ms: i64) -> bool {
        at_ms < self.until_ms
    }

    /// The secrets of `list` that still sign at `at_ms`, oldest first.
    pub fn signing_at(list: &[Self], at_ms: i64) -> Vec<&WebhookSecret> {
        list.iter()
            .filter(|p| p.signs_at(at_ms))
            .map(|p| &p.secret)
            .collect()
    }
}

/// An event type of the catalog, as stored (`domain::event_type` checks and compiles it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypeRecord {
    /// The `type` value.
    pub name: String,
    /// What happened, for people.
    pub description: String,
    /// The JSON Schema (draft 2020-12) of `data`, as JSON text.
    pub schema: String,
    /// An example `data` object, as JSON text (key order kept).
    pub example: String,
    /// 1, and one more with each change of the schema.
    pub version: i64,
    /// Marked deprecated: still emitted and subscribed to, and said so in the catalog.
    pub deprecated: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
}

/// What deleting an event type came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventTypeDeletion {
    /// Gone.
    Deleted,
    /// Kept: this many webhooks subscribe to it by name.
    InUse(usize),
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct EventRecord {
    /// `evt_…` or the sender's id.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// Unix seconds, as in the envelope.
    pub created_at: i64,
    /// The envelope bytes.
    pub body: Vec<u8>,
}

/// The result of storing an event.
#[derive(Debug)]
pub struct InsertedEvent {
    /// How many deliveries the event fanned out to.
    pub deliveries: u32,
    /// The deliveries claimed for this process under the requested lease.
    pub claimed: Vec<ClaimedDelivery>,
    /// Whether deliveries were left unclaimed that a claim could take now
    /// (`domain::claim::worth_a_claim`).
    pub left_claimable: bool,
}

impl InsertedEvent {
    /// The fan-out of each event of a batch stored all together, or the first refusal (which
    /// the caller answers by rolling the whole batch back).
    pub fn all_or_none(
        answers: Vec<super::StoreResult<InsertedEvent>>,
    ) -> super::StoreResult<Vec<u32>> {
        answers
            .into_iter()
            .map(|a| a.map(|i| i.deliveries))
            .collect()
    }

    /// The answers to a batch of events: for each, its stored key (`None`: its id was taken,
    /// a conflict), how many deliveries it fanned out to, those claimed at once, and whether
    /// any left unclaimed call for a claim.
    pub fn answers(
        stored: &[Option<i64>],
        fan_out: Vec<u32>,
        claimed: Vec<Vec<ClaimedDelivery>>,
        left_claimable: Vec<bool>,
    ) -> Vec<super::StoreResult<InsertedEvent>> {
        stored
            .iter()
            .zip(fan_out)
            .zip(claimed)
            .zip(left_claimable)
            .map(|(((seq, deliveries), claimed), left_claimable)| match seq {
                Some(_) => Ok(InsertedEvent {
                    deliveries,
                    claimed,
                    left_claimable,
                }),
                None => Err(super::StoreError::Conflict(
                    "an event with this id exists already",
                )),
            })
            .collect()
    }
}

/// A claim request: who claims, until when, and at most how many.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// Identifies this claim; later updates must present it.
    pub token: u64,
    /// Unix ms after which another worker may take the delivery. It covers one attempt
    /// (its timeout and a grace for recording the result), since only deliveries that can
    /// start at once are claimed.
    pub until_ms: i64,
    /// The most deliveries to claim (the claiming process's free room).
    pub max: u32,
    /// The most attempts in flight to one webhook, over every process.
    pub per_webhook: u32,
    /// The most of the claimed deliveries that may go to webhooks whose circuit is open
    /// (`domain::health::failing_share` less what this process has in flight to them).
    pub max_failing: u32,
}

/// A claim on due emails: who claims, until when, and at most how many (emails have no
/// webhook, so no per-webhook limit).
#[derive(Debug, Clone, Copy)]
pub struct EmailClaim {
    /// Identifies this claim; marking an email sent or failed must present it.
    pub token: u64,
    /// Unix ms after which another sender may take the email.
    pub until_ms: i64,
    /// The most emails to claim.
    pub max: u32,
}

pub use crate::domain::delivery::DeliveryStatus;

/// A delivery with its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    /// `dlv_…`.
    pub id: String,
    /// The event delivered.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The webhook delivered to.
    pub webhook_id: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempt_count: u32,
    /// When the next attempt is due (Unix ms), while pending.
    pub next_attempt_at: Option<i64>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptRecord>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// 1-based over the delivery's life.
    pub number: u32,
    /// Unix ms.
    pub started_at: i64,
    /// How long the attempt took.
    pub duration_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed: `timeout`, `connect`, `redirect`, `http_status`, `forbidden_target`, …
    pub error_kind: Option<String>,
    /// Details of the failure.
    pub error_message: Option<String>,
    /// The first 1 KiB of the response body.
    pub response_body: Option<String>,
    /// The URL the attempt was sent to (`None` for attempts recorded before it was kept).
    pub url: Option<String>,
}

/// Everything a worker needs to send one claimed delivery.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Internal key of the delivery.
    pub seq: i64,
    /// Its webhook's failure streak when it was claimed (`domain::health`).
    pub failure_streak: u32,
    /// `dlv_…`.
    pub id: String,
    /// The lease token the claim holds.
    pub claim_token: u64,
    /// Attempts made before this one.
    pub attempt_count: u32,
    /// `attempt_count` when the current round began.
    pub round_base: u32,
    /// The event's id (`webhook-id`).
    pub event_id: String,
    /// The event's type (`X-Webhook-Event`).
    pub event_type: String,
    /// The envelope bytes.
    pub body: Bytes,
    /// Internal key of the webhook.
    pub webhook_seq: i64,
    /// `wh_…`.
    pub webhook_id: String,
    /// Where to send.
    pub url: String,
    /// The signing secret.
    pub secret: WebhookSecret,
    /// The owning account.
    pub account_id: String,
    /// The account owner's address, for the disabling email.
    pub account_email: String,
    /// When the event was accepted (Unix ms), for the end-to-end latency.
    pub accepted_at_ms: i64,
    /// The webhook's rotated-out secrets, oldest first, each signing until its grace ends.
    pub previous_secrets: Vec<PreviousSecret>,
    /// The webhook's Ed25519 keys, for `v1a` signatures: filled in by the delivery engine
    /// (stores leave them empty; the engine keeps each webhook's for a few seconds).
    pub signing_keys: std::sync::Arc<crate::domain::webhook::SigningKeys>,
}

impl ClaimedDelivery {
    /// Whether its webhook's circuit was open when it was claimed (it counts against the
    /// share of the room failing webhooks may hold).
    pub fn circuit_open(&self) -> bool {
        crate::domain::health::is_open(self.failure_streak)
    }
}

/// The queue as the store sees it over every instance, for the metrics' gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Deliveries not finished.
    pub pending: i64,
    /// Pending deliveries that are due and not being attempted.
    pub due: i64,
    /// When the oldest of those fell due (Unix ms).
    pub oldest_due_at: Option<i64>,
    /// Emails neither sent nor dead-lettered.
    pub outbox: i64,
    /// Enabled webhooks whose circuit is open (`domain::health`).
    pub open_circuits: i64,
    /// Server processes using the store: 1 for the embedded store; on PostgreSQL, those whose
    /// heartbeat is live (each claims for its share of the webhooks).
    pub processes: i64,
}

/// What happened to one attempt, and what comes next.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// Internal key of the delivery.
    pub delivery_seq: i64,
    /// Internal key of its webhook.
    pub webhook_seq: i64,
    /// The claim token the attempt ran under.
    pub claim_token: u64,
    /// The attempt as it will be recorded.
    pub attempt: AttemptRecord,
    /// The decision of the delivery rules.
    pub next: AfterAttempt,
    /// With [`AfterAttempt::GiveUp`]: why the webhook is disabled, and the owner's email
    /// (queued only if this outcome is the one that disables it).
    pub disabling: Option<Disabling>,
    /// Until when the endpoint's `Retry-After` holds the whole webhook
    /// (`domain::health::hold_until`).
    pub hold_until: Option<i64>,
    /// The webhook's failure streak when the delivery was claimed: a success on a webhook
    /// that had none to reset changes nothing, and writes nothing.
    pub failure_streak_seen: u32,
}

/// Of `outcomes`, those whose delivery moved on (`moved`, by key: their claim still held);
/// each other one is dropped with a warning — its claim was lost, and the delivery is another
/// attempt's now.
pub fn outcomes_with_claims<'a>(
    outcomes: &'a [AttemptOutcome],
    moved: &std::collections::HashSet<i64>,
) -> Vec<&'a AttemptOutcome> {
    let (recorded, lost): (Vec<&AttemptOutcome>, Vec<&AttemptOutcome>) = outcomes
        .iter()
        .partition(|outcome| moved.contains(&outcome.delivery_seq));
    for outcome in lost {
        tracing::warn!(
            delivery = outcome.delivery_seq,
            "attempt result dropped: the claim was lost"
        );
    }
    recorded
}

/// What a batch of results changes in each webhook's health, by webhook seq, in seq order (so
/// that concurrent batches lock the webhooks in the same order): its streak, and the latest
/// hold asked. Webhooks the batch leaves as they were (successes where no streak was seen, no
/// hold) are left out, so that healthy traffic writes nothing.
pub fn health_changes(
    outcomes: &[AttemptOutcome],
) -> Vec<(i64, crate::domain::health::StreakChange, Option<i64>)> {
    use crate::domain::health::StreakChange;
    let mut by_webhook: std::collections::BTreeMap<i64, (Vec<bool>, Option<i64>, u32)> =
        Default::default();
    for outcome in outcomes {
        let (results, hold, seen) = by_webhook.entry(outcome.webhook_seq).or_default();
        results.push(matches!(
            outcome.next,
            crate::domain::delivery::AfterAttempt::Succeeded
        ));
        *hold = (*hold).max(outcome.hold_until);
        *seen = (*seen).max(outcome.failure_streak_seen);
    }
    by_webhook
        .into_iter()
        .map(|(seq, (results, hold, seen))| {
            (
                seq,
                crate::domain::health::streak_change(results),
                hold,
                seen,
            )
        })
        .filter(|(_, change, hold, seen)| {
            !(*change == StreakChange::Reset && hold.is_none() && *seen == 0)
        })
        .map(|(seq, change, hold, _)| (seq, change, hold))
        .collect()
}

/// Disabling a webhook after a delivery's final failure.
#[derive(Debug, Clone)]
pub struct Disabling {
    /// When, on the application's clock: the final attempt's end. The webhook's `disabled_at`
    /// and the email's queueing time (it is due at once).
    pub at_ms: i64,
    /// Why, as the webhook shows it.
    pub reason: String,
    /// The email to the owner.
    pub email: crate::domain::email::Email,
}

/// An email in the outbox, claimed for sending.
#[derive(Debug, Clone)]
pub struct OutboxEmail {
    /// Unique id; also the file name and Message-ID, so a resend is recognisable.
    pub id: String,
    /// The claim this sender holds on it.
    pub claim_token: u64,
    /// Failed tries so far.
    pub tries: u32,
    /// The content.
    pub email: crate::domain::email::Email,
    /// Unix ms when queued.
    pub created_at: i64,
}

/// One request captured by an inbox.
#[derive(Debug, Clone)]
pub struct InboxRequest {
    /// The inbox's token.
    pub token: String,
    /// Unix ms.
    pub received_at: i64,
    /// The HTTP method.
    pub method: String,
    /// Header names and values, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}
