//! The application layer: the use cases the API offers (register a webhook, emit an event,
//! retry a delivery, …), between HTTP (which only parses requests and renders answers) and
//! the domain rules, the store and the delivery engine.
//!
//! Each use case validates its input into domain types, reads the clock once, asks the store
//! (or the engine, for emitting) and tells the engine when work became due.

pub mod catalog;
pub mod matching;
pub mod platform;

pub use platform::{BatchEvent, OpenedAccount};

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use cdhooks_core::timestamp::Timestamp;

use crate::clock::SharedClock;
use crate::domain::event::{EmitEventRequest, NewEvent, TestEventRequest};
use crate::domain::target::TargetPolicy;
use crate::domain::webhook::{
    CreateWebhookRequest, NewWebhook, RotateSecretRequest, UpdateWebhookRequest, WebhookChange,
    WebhookSecret,
};
use crate::domain::ValidationError;
use crate::store::{
    Account, ApiKeyRecord, DeliveryRecord, EventRecord, InboxRequest, Store, StoreError,
    WebhookRecord,
};

/// How long (ms on the server's clock) a readiness probe's answer is reused, so `/healthz`
/// cannot be used to load the store with writes.
pub const READINESS_TTL_MS: i64 = 500;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server's own state cannot serve the request, whatever the storage does: a clock
    /// out of range, a stored secret or key that cannot be opened or cannot sign. Reported as
    /// an internal error (details in the log), never as the storage being unavailable.
    #[error("{0}")]
    Fault(String),
}

/// Result alias of the application layer.
pub type AppResult<T> = Result<T, AppError>;

/// An accepted event.
#[derive(Debug)]
pub struct EmittedEvent {
    /// The stored envelope, byte for byte what is delivered.
    pub envelope: Bytes,
    /// How many webhooks it fans out to.
    pub deliveries: u32,
}

/// A delivery's HTTP request as the API shows it.
#[derive(Debug)]
pub struct SentRequest {
    /// Where it goes.
    pub url: String,
    /// The attempt it stands for; `None` before the first.
    pub attempt: Option<u32>,
    /// Header names (lowercase) and values, in sending order.
    pub headers: Vec<(String, String)>,
    /// The envelope, byte for byte.
    pub body: Vec<u8>,
}

/// What the use cases need of the delivery engine: an accepted event handed over, and a
/// wake-up when work became due. [`crate::delivery::DeliveryEngine`] is the one that sends;
/// [`StoreOnly`] stores and leaves the sending to a running server (the command line).
#[async_trait::async_trait]
pub trait Deliverer: Send + Sync {
    /// Stores `event` with its deliveries and starts those that can start now; returns how
    /// many deliveries it fans out to.
    async fn accept(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
    ) -> Result<u32, StoreError>;
    /// Stores several events (of any accounts) with their deliveries, all or none; returns
    /// how many deliveries each fans out to. Their deliveries start from the claim loop.
    async fn accept_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> Result<Vec<u32>, StoreError>;
    /// Work became due: deliveries resumed, retried or recovered.
    fn wake(&self);
    /// A webhook's Ed25519 keys changed: what the deliverer keeps of them is stale.
    fn signing_keys_changed(&self, webhook_id: &str);
}

/// A [`Deliverer`] that only stores: the server running on the same store claims and sends.
pub struct StoreOnly(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl Deliverer for StoreOnly {
    async fn accept(
        &self,
        account: &Account,
        event: NewEvent,
        now_ms: i64,
    ) -> Result<u32, StoreError> {
        Ok(self
            .0
            .insert_event(account, event, now_ms, None)
            .await?
            .deliveries)
    }
    async fn accept_together(
        &self,
        events: Vec<(Account, NewEvent)>,
        now_ms: i64,
    ) -> Result<Vec<u32>, StoreError> {
        self.0.insert_events_together(events, now_ms).await
    }
    fn wake(&self) {}
    fn signing_keys_changed(&self, _: &str) {}
}

/// The use cases, over one store and one delivery engine.
pub struct App {
    /// Persistence.
    store: Arc<dyn Store>,
    /// Sends deliveries; new events go through it.
    engine: Arc<dyn Deliverer>,
    /// Which webhook URLs are accepted.
    policy: TargetPolicy,
    /// What time it is.
    clock: SharedClock,
    /// Seals secrets before they are stored, opens them where they are shown or sign.
    sealer: crate::domain::sealing::Sealer,
    /// The last readiness probe: when, and what it found.
    readiness: Mutex<Option<(i64, Result<(), String>)>>,
    /// The event catalog as last read.
    catalog: catalog::CatalogCache,
}

impl App {
    /// The use cases over `store` and `engine`.
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<dyn Deliverer>,
        policy: TargetPolicy,
        clock: SharedClock,
        sealer: crate::domain::sealing::Sealer,
    ) -> Self {
        App {
            store,
            engine,
            policy,
            clock,
            sealer,
            readiness: Mutex::new(None),
            catalog: catalog::CatalogCache::default(),
        }
    }

    /// The account an API key hashes to, and the key's scope.
    pub async fn account_key(
        &self,
        hash: &str,
    ) -> AppResult<Option<(Account, crate::domain::access::KeyScope)>> {
        Ok(self.store.account_key(hash).await?)
    }

    /// Notes a key's use (best effort: a failure only leaves `last_used_at` older).
    pub async fn touch_api_key(&self, key_hash: &str) {
        if let Err(error) = self
            .store
            .touch_api_key(key_hash, self.clock.now_ms())
            .await
        {
            tracing::debug!(%error, "could not note an API key's use");
        }
    }

    /// Adds a named API key to the account; returns it with the key, shown only now.
    pub async fn create_api_key(
        &self,
        account: &Account,
        name: &str,
        scope: crate::domain::access::KeyScope,
    ) -> AppResult<(ApiKeyRecord, String)> {
        crate::domain::api_key::validate_name(name)?;
        let key = crate::domain::api_key::generate();
        let record = self
            .store
            .create_api_key(
                account,
                name,
                scope,
                &crate::domain::api_key::digest(&key),
                self.clock.now_ms(),
                crate::domain::inbox::MAX_API_KEYS,
            )
            .await?;
        tracing::info!(account = %account.id, key = %record.id, name = %record.name, "API key created");
        Ok((record, key))
    }

    /// A page of the account's API keys, oldest first: up to `limit + 1` after the key
    /// `after` (the extra one says there is more). An account holds at most
    /// [`crate::domain::inbox::MAX_API_KEYS`], so the page is cut from the whole list.
    pub async fn api_keys(
        &self,
        account: &Account,
        after: Option<&str>,
        limit: u32,
    ) -> AppResult<Vec<ApiKeyRecord>> {
        let mut keys = self.store.list_api_keys(account).await?;
        // An unknown cursor starts from the beginning, as the other lists do.
        let start = after
            .and_then(|after| keys.iter().position(|k| k.id == after))
            .map_or(0, |i| i + 1);
        let mut page = keys.split_off(start);
        page.truncate(limit as usize + 1);
        Ok(page)
    }

    /// Revokes a key (never the last one, nor `callers_key_hash`, the key of the request);
    /// returns the revoked key's hash, for the caller to forget it at once.
    pub async fn revoke_api_key(
        &self,
        account: &Account,
        id: &str,
        callers_key_hash: Option<&str>,
    ) -> AppResult<String> {
        let hash = self
            .store
            .revoke_api_key(account, id, callers_key_hash, self.clock.now_ms())
            .await?;
        tracing::info!(account = %account.id, key = %id, "API key revoked");
        Ok(hash)
    }

    /// The webhook as it stands now: a previous secret whose grace period has ended no longer
    /// signs, and a hold that ended holds nothing, so neither is shown; the signing key is opened (for its public key, never shown).
    fn as_of_now(&self, mut record: WebhookRecord) -> WebhookRecord {
        let now = self.clock.now_ms();
        record.previous_secrets.retain(|p| p.signs_at(now));
        record.previous_signing_keys.retain(|p| p.signs_at(now));
        record.health.held_until = record.health.held_until.filter(|until| *until > now);
        let open = |stored: crate::store::PreviousSecret| match self.sealer.open(&stored.secret) {
            Ok(secret) => Some(crate::store::PreviousSecret { secret, ..stored }),
            Err(error) => {
                tracing::error!(webhook = %record.id, %error, "cannot open a previous signing key");
                None
            }
        };
        record.previous_signing_keys = std::mem::take(&mut record.previous_signing_keys)
            .into_iter()
            .filter_map(open)
            .collect();
        record.signing_key = record
            .signing_key
            .and_then(|key| match self.sealer.open(&key) {
                Ok(key) => Some(key),
                Err(error) => {
                    tracing::error!(webhook = %record.id, %error, "cannot open the signing key");
                    None
                }
            });
        record
    }

    /// Registers a webhook.
    pub async fn register_webhook(
        &self,
        account: &Account,
        request: CreateWebhookRequest,
    ) -> AppResult<WebhookRecord> {
        let catalog = self.catalog().await?;
        let mut webhook = NewWebhook::validate(request, &self.policy, &catalog)?;
        let secret = webhook.secret.clone();
        webhook.secret = self.sealer.seal(&secret);
        let signing_key = webhook.signing_key.clone();
        webhook.signing_key = signing_key.as_ref().map(|key| self.sealer.seal(key));
        let mut record = self
            .store
            .create_webhook(account, webhook, self.clock.now_ms())
            .await?;
        record.secret = secret;
        record.signing_key = signing_key;
        tracing::info!(webhook = %record.id, account = %account.id, "webhook registered");
        Ok(self.as_of_now(record))
    }

    /// A page of the account's webhooks.
    pub async fn webhooks(
        &self,
        account: &Account,
        after: Option<&str>,
        limit: u32,
    ) -> AppResult<Vec<WebhookRecord>> {
        let records = self.store.list_webhooks(account, after, limit).await?;
        let records = records.into_iter().map(|r| self.as_of_now(r)).collect();
        self.with_probes(account, records).await
    }

    /// One webhook.
    pub async fn webhook(&self, account: &Account, id: &str) -> AppResult<WebhookRecord> {
        let record = self.as_of_now(self.store.get_webhook(account, id).await?);
        let mut records = self.with_probes(account, vec![record]).await?;
        Ok(records.remove(0))
    }

    /// The webhooks with the attempts in flight of those whose circuit is open, so that their
    /// view tells `open` (waiting) from `probing` (its one attempt under way).
    async fn with_probes(
        &self,
        account: &Account,
        mut records: Vec<WebhookRecord>,
    ) -> AppResult<Vec<WebhookRecord>> {
        let open: Vec<String> = records
            .iter()
            .filter(|r| crate::domain::health::is_open(r.health.failure_streak))
            .map(|r| r.id.clone())
            .collect();
        if open.is_empty() {
            return Ok(records);
        }
        let in_flight = self
            .store
            .attempts_in_flight(account, &open, self.clock.now_ms())
            .await?;
        for record in &mut records {
            record.attempts_in_flight = in_flight.get(&record.id).copied().unwrap_or(0);
        }
        Ok(records)
    }

    /// Changes a webhook; enabling it resumes its paused deliveries at once.
    pub async fn change_webhook(
        &self,
        account: &Account,
        id: &str,
        request: UpdateWebhookRequest,
    ) -> AppResult<WebhookRecord> {
        let catalog = self.catalog().await?;
        let change = WebhookChange::validate(request, &self.policy, &catalog)?;
        if change.filter.is_some() || change.events.is_some() {
            let current = self.store.get_webhook(account, id).await?;
            change.check_filter(&current, &catalog)?;
        }
        let enabled = change.enabled;
        let record = self
            .store
            .update_webhook_and_deliveries(account, id, change, self.clock.now_ms())
            .await?;
        match enabled {
            Some(true) => {
                tracing::info!(webhook = %record.id, "webhook enabled");
                self.engine.wake();
            }
            Some(false) => tracing::info!(webhook = %record.id, "webhook disabled by its owner"),
            None => {}
        }
        Ok(self.as_of_now(record))
    }

    /// Replaces a webhook's signing secret (generated when none is given).
    pub async fn rotate_secret(
        &self,
        account: &Account,
        id: &str,
        request: RotateSecretRequest,
    ) -> AppResult<WebhookRecord> {
        let now = self.clock.now_ms();
        let grace_until = request.grace_until(now)?;
        let secret = match request.secret {
            Some(secret) => WebhookSecret::parse(secret)?,
            None => WebhookSecret::generate(),
        };
        let mut record = self
            .store
            .rotate_secret(account, id, self.sealer.seal(&secret), grace_until, now)
            .await?;
        record.secret = secret;
        tracing::info!(
            webhook = %record.id,
            previous_signs_until = grace_until.map_or_else(|| "now".to_owned(), |at| at.to_string()),
            "webhook secret rotated"
        );
        Ok(self.as_of_now(record))
    }

    /// Gives a webhook a new Ed25519 key pair (its first, switching it to `v1a`, or the next):
    /// the previous key keeps signing until the grace period ends, so receivers can move to
    /// the new public key meanwhile.
    pub async fn rotate_signing_key(
        &self,
        account: &Account,
        id: &str,
        request: crate::domain::webhook::RotateSigningKeyRequest,
    ) -> AppResult<WebhookRecord> {
        let now = self.clock.now_ms();
        let grace_until = request.grace_until(now)?;
        let key = crate::domain::webhook::generate_signing_key();
        let mut record = self
            .store
            .rotate_signing_key(account, id, self.sealer.seal(&key), grace_until, now)
            .await?;
        self.engine.signing_keys_changed(&record.id);
        record.signing_key = Some(key);
        record.secret = self
            .sealer
            .open(&record.secret)
            .map_err(|e| AppError::Fault(e.to_string()))?;
        tracing::info!(
            webhook = %record.id,
            previous_signs_until = grace_until.map_or_else(|| "now".to_owned(), |at| at.to_string()),
            "webhook signing key rotated"
        );
        Ok(self.as_of_now(record))
    }

    /// Sends a webhook's failed deliveries of a window again (a receiver that was down);
    /// returns how many.
    pub async fn recover_deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        request: crate::domain::webhook::RecoverRequest,
    ) -> AppResult<u64> {
        let now = self.clock.now_ms();
        let (since, until) = request.window(now)?;
        let recovered = self
            .store
            .recover_deliveries(account, webhook_id, since, until, now)
            .await?;
        tracing::info!(webhook = %webhook_id, recovered, "failed deliveries recovered");
        self.engine.wake();
        Ok(recovered)
    }

    /// Deletes a webhook and its deliveries.
    pub async fn delete_webhook(&self, account: &Account, id: &str) -> AppResult<()> {
        Ok(self.store.delete_webhook(account, id).await?)
    }

    /// Accepts an event: stored with its deliveries before this returns, and the deliveries
    /// that can start at once are sent.
    pub async fn emit_event(
        &self,
        account: &Account,
        request: EmitEventRequest,
    ) -> AppResult<EmittedEvent> {
        let catalog = self.catalog().await?;
        let now = self.clock.now_ms();
        let event = NewEvent::validate(request, Self::envelope_time(now)?, &catalog)?;
        let envelope = event.body.clone();
        let deliveries = self.engine.accept(account, event, now).await?;
        Ok(EmittedEvent {
            envelope,
            deliveries,
        })
    }

    /// Sends a test event (of a chosen or the first subscribed type, with the catalog's
    /// example data unless given) to one webhook only.
    pub async fn send_test_event(
        &self,
        account: &Account,
        webhook_id: &str,
        request: TestEventRequest,
    ) -> AppResult<EmittedEvent> {
        let webhook = self.store.get_webhook(account, webhook_id).await?;
        let catalog = self.catalog().await?;
        let emission = request.into_emission(&webhook.events, &catalog)?;
        let now = self.clock.now_ms();
        let mut event = NewEvent::validate_test(emission, Self::envelope_time(now)?, &catalog)?;
        event.only_webhook = Some(webhook.id);
        let envelope = event.body.clone();
        let deliveries = self.engine.accept(account, event, now).await?;
        Ok(EmittedEvent {
            envelope,
            deliveries,
        })
    }

    /// The envelope's `created_at` for an event accepted at `now_ms`.
    fn envelope_time(now_ms: i64) -> AppResult<Timestamp> {
        Timestamp::from_unix(now_ms.div_euclid(1000))
            .ok_or_else(|| AppError::Fault("the clock is out of range".to_owned()))
    }

    /// The request a delivery's latest attempt sent (or its first will send): the URL it went
    /// to (the webhook's URL now, before the first attempt), the signed headers at that
    /// attempt's time, the stored body. Signed with the webhook's secrets as they stand now.
    pub async fn delivery_request(&self, account: &Account, id: &str) -> AppResult<SentRequest> {
        let delivery = self.store.get_delivery(account, id).await?;
        let webhook = self
            .store
            .get_webhook(account, &delivery.webhook_id)
            .await?;
        let event = self.store.get_event(account, &delivery.event_id).await?;
        let sent_at_ms = delivery
            .attempts
            .last()
            .map_or_else(|| self.clock.now_ms(), |a| a.started_at);
        let unreadable = |e: crate::domain::sealing::OpenError| AppError::Fault(e.to_string());
        let secret = self.sealer.open(&webhook.secret).map_err(unreadable)?;
        let previous =
            crate::store::PreviousSecret::signing_at(&webhook.previous_secrets, sent_at_ms)
                .into_iter()
                .map(|p| self.sealer.open(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(unreadable)?;
        let signing_keys = crate::domain::webhook::SigningKeys::open(
            &self.sealer,
            webhook.signing_key.as_ref(),
            &webhook.previous_signing_keys,
        )
        .map_err(AppError::Fault)?;
        let headers = crate::delivery::send::message_headers(
            &secret,
            &previous.iter().collect::<Vec<_>>(),
            &signing_keys.signing_at(sent_at_ms),
            &event.id,
            &event.event_type,
            &event.body,
            sent_at_ms.div_euclid(1000).max(0) as u64,
        )
        .map_err(|e| AppError::Fault(format!("the stored secret cannot sign: {e}")))?;
        let url = delivery
            .attempts
            .last()
            .and_then(|a| a.url.clone())
            .unwrap_or(webhook.url);
        Ok(SentRequest {
            url,
            attempt: delivery.attempts.last().map(|a| a.number),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: event.body,
        })
    }

    /// One event.
    pub async fn event(&self, account: &Account, id: &str) -> AppResult<EventRecord> {
        Ok(self.store.get_event(account, id).await?)
    }

    /// A page of a webhook's deliveries, newest first.
    pub async fn deliveries(
        &self,
        account: &Account,
        webhook_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> AppResult<Vec<DeliveryRecord>> {
        Ok(self
            .store
            .list_deliveries(account, webhook_id, before, limit)
            .await?)
    }

    /// One delivery with its attempts.
    pub async fn delivery(&self, account: &Account, id: &str) -> AppResult<DeliveryRecord> {
        Ok(self.store.get_delivery(account, id).await?)
    }

    /// Sends a failed delivery again, in a new round of attempts.
    pub async fn retry_delivery(&self, account: &Account, id: &str) -> AppResult<DeliveryRecord> {
        let record = self
            .store
            .retry_delivery(account, id, self.clock.now_ms())
            .await?;
        self.engine.wake();
        Ok(record)
    }

    /// Creates an inbox and returns its token.
    pub async fn create_inbox(&self, account: &Account) -> AppResult<String> {
        Ok(self
            .store
            .create_inbox(
                account,
                self.clock.now_ms(),
                crate::domain::inbox::MAX_INBOXES,
            )
            .await?)
    }

    /// The account an inbox token belongs to, if any: asked before a capture's body is read.
    pub async fn inbox_owner(&self, token: &str) -> AppResult<Option<String>> {
        Ok(self.store.inbox_owner(token).await?)
    }

    /// Records a request that reached an inbox; returns the owning account's id.
    pub async fn capture(
        &self,
        token: String,
        method: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> AppResult<String> {
        let request = InboxRequest {
            token,
            received_at: self.clock.now_ms(),
            method,
            headers,
            body,
        };
        Ok(self
            .store
            .record_inbox_request(request, crate::domain::inbox::INBOX_KEEP)
            .await?)
    }

    /// What an inbox captured, newest first.
    pub async fn inbox_requests(
        &self,
        account: &Account,
        token: &str,
        limit: u32,
    ) -> AppResult<Vec<InboxRequest>> {
        Ok(self.store.inbox_requests(account, token, limit).await?)
    }

    /// Whether the server can do its job now: the store takes a real write. The answer is
    /// reused for [`READINESS_TTL_MS`].
    pub async fn readiness(&self) -> Result<(), String> {
        let now = self.clock.now_ms();
        if let Some((at, answer)) = self.last_readiness() {
            if (at..at + READINESS_TTL_MS).contains(&now) {
                return answer;
            }
        }
        let answer = self.store.check_writable(now).await.map_err(|error| {
            tracing::warn!(%error, "readiness: the store cannot write");
            match error {
                StoreError::Full(_) => "storage_full".to_owned(),
                _ => "storage_unavailable".to_owned(),
            }
        });
        *self.readiness.lock().unwrap_or_else(|p| p.into_inner()) = Some((now, answer.clone()));
        answer
    }

    fn last_readiness(&self) -> Option<(i64, Result<(), String>)> {
        self.readiness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
