//! The records the store reads and writes.

use bytes::Bytes;

/// An account: the owner of webhooks and events, and the recipient of emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// `acct_…`.
    pub id: String,
    /// Where disabling emails go.
    pub email: String,
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
    pub secret: String,
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
}

/// A claim request: who claims, until when, and at most how many.
#[derive(Debug, Clone, Copy)]
pub struct Lease {
    /// Identifies this claim; later updates must present it.
    pub token: u64,
    /// Unix ms after which another worker may take the delivery.
    pub until_ms: i64,
    /// The most deliveries to claim.
    pub max: u32,
}

/// Delivery status as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx arrived.
    Succeeded,
    /// Every attempt of its round failed.
    Failed,
    /// Its webhook is disabled; it resumes when the webhook is enabled.
    Paused,
}

impl DeliveryStatus {
    /// The stored and shown name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Paused => "paused",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => DeliveryStatus::Pending,
            "succeeded" => DeliveryStatus::Succeeded,
            "failed" => DeliveryStatus::Failed,
            "paused" => DeliveryStatus::Paused,
            _ => return None,
        })
    }
}

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
}

/// Everything a worker needs to send one claimed delivery.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// Internal key of the delivery.
    pub seq: i64,
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
    pub secret: String,
    /// The owning account.
    pub account_id: String,
    /// The account owner's address, for the disabling email.
    pub account_email: String,
}

/// What happened to one attempt, and what comes next.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// Internal key of the delivery.
    pub delivery_seq: i64,
    /// The claim token the attempt ran under.
    pub claim_token: u64,
    /// The attempt as it will be recorded.
    pub attempt: AttemptRecord,
    /// The next step.
    pub next: NextStep,
}

/// What follows an attempt.
#[derive(Debug, Clone)]
pub enum NextStep {
    /// The delivery succeeded.
    Succeeded,
    /// Try again at this Unix ms.
    RetryAt(i64),
    /// The round's last attempt failed: mark the delivery failed and disable the webhook,
    /// queueing this email if the webhook was still enabled.
    GiveUp {
        /// Internal key of the webhook to disable.
        webhook_seq: i64,
        /// Why the webhook is disabled.
        reason: String,
        /// The email to the owner.
        email: crate::domain::email::Email,
    },
}

/// An email in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEmail {
    /// Unique id; also the file name and Message-ID, so a resend is recognisable.
    pub id: String,
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
