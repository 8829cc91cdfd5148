//! The provider's use cases: accounts made, found, changed and deleted by its backend, events
//! emitted for any account (one at a time or in an all-or-nothing batch), platform keys, and
//! portal sessions that open the dashboard for one account.

use std::collections::HashMap;

use super::{App, AppResult, EmittedEvent};
use crate::domain::access::{self, KeyScope, PLATFORM_KEY_PREFIX, PORTAL_TOKEN_PREFIX};
use crate::domain::account::{
    AccountChange, CreateAccountRequest, NewAccount, UpdateAccountRequest,
};
use crate::domain::api_key;
use crate::domain::event::{EmitEventRequest, NewEvent};
use crate::domain::ValidationError;
use crate::store::{Account, AccountFilter, AccountRecord, PlatformKeyRecord, PortalSessionRecord};

/// The most events in one batch.
pub const MAX_BATCH_EVENTS: usize = 100;

/// A new account and its first API key (scope `manage`), shown once.
#[derive(Debug)]
pub struct OpenedAccount {
    /// The account.
    pub account: AccountRecord,
    /// Its first key.
    pub key: crate::store::ApiKeyRecord,
    /// The key itself.
    pub secret: String,
}

/// One event of a batch: for which account, and what.
#[derive(Debug)]
pub struct BatchEvent {
    /// `acct_…`.
    pub account_id: String,
    /// The event.
    pub request: EmitEventRequest,
}

impl App {
    /// Creates an account and its first API key (scope `manage`: it cannot emit real events).
    pub async fn open_account(&self, request: CreateAccountRequest) -> AppResult<OpenedAccount> {
        let account = NewAccount::validate(request)?;
        let secret = api_key::generate();
        let digest = api_key::digest(&secret);
        let now = self.clock.now_ms();
        let (record, key) = self
            .store
            .open_account(&account, &digest, KeyScope::Manage, now)
            .await?;
        tracing::info!(account = %record.id, "account created");
        Ok(OpenedAccount {
            account: record,
            key,
            secret,
        })
    }

    /// One account.
    pub async fn account_record(&self, id: &str) -> AppResult<AccountRecord> {
        Ok(self.store.account_record(id).await?)
    }

    /// The account requests act for (`NotFound` if none).
    pub async fn account(&self, id: &str) -> AppResult<Account> {
        Ok(self.store.account(id).await?)
    }

    /// A page of accounts (up to `limit + 1`), all or those with an email or external id.
    pub async fn accounts(
        &self,
        filter: AccountFilter,
        after: Option<&str>,
        limit: u32,
    ) -> AppResult<Vec<AccountRecord>> {
        let filter = Self::checked_filter(filter)?;
        Ok(self.store.list_accounts(&filter, after, limit + 1).await?)
    }

    /// A page of the accounts (all, or those with an email or external id) that need the
    /// operator (up to `limit + 1`): a webhook disabled, or a delivery late
    /// (`domain::account::LATE_AFTER_MS`).
    pub async fn accounts_needing_attention(
        &self,
        filter: AccountFilter,
        after: Option<&str>,
        limit: u32,
    ) -> AppResult<Vec<(AccountRecord, crate::store::Attention)>> {
        let filter = Self::checked_filter(filter)?;
        let late_before = crate::domain::account::late_before(self.clock.now_ms());
        Ok(self
            .store
            .accounts_needing_attention(&filter, late_before, after, limit + 1)
            .await?)
    }

    fn checked_filter(filter: AccountFilter) -> AppResult<AccountFilter> {
        Ok(AccountFilter {
            email: filter
                .email
                .as_deref()
                .map(crate::domain::account::validate_email)
                .transpose()?,
            external_id: filter
                .external_id
                .as_deref()
                .map(crate::domain::account::validate_external_id)
                .transpose()?,
        })
    }

    /// Changes an account's email, name or external id.
    pub async fn change_account(
        &self,
        id: &str,
        request: UpdateAccountRequest,
    ) -> AppResult<AccountRecord> {
        let change = AccountChange::validate(request)?;
        Ok(self.store.update_account(id, &change).await?)
    }

    /// Deletes an account and everything it holds; returns the hashes of its keys and
    /// sessions (to forget at once). Deleting an account that is gone already is no error.
    pub async fn delete_account(&self, id: &str) -> AppResult<Vec<String>> {
        let hashes = self.store.delete_account(id).await?;
        if hashes.is_some() {
            tracing::info!(account = %id, "account deleted");
        }
        Ok(hashes.unwrap_or_default())
    }

    /// Emits a batch of events for any accounts, all or none.
    pub async fn emit_batch(&self, batch: Vec<BatchEvent>) -> AppResult<Vec<EmittedEvent>> {
        if batch.is_empty() || batch.len() > MAX_BATCH_EVENTS {
            return Err(ValidationError::new(
                "invalid_batch",
                format!("`events` must hold 1 to {MAX_BATCH_EVENTS} events"),
            )
            .field("events")
            .into());
        }
        let catalog = self.catalog().await?;
        let now = self.clock.now_ms();
        let created_at = Self::envelope_time(now)?;
        let ids: Vec<&str> = batch.iter().map(|item| item.account_id.as_str()).collect();
        let accounts: HashMap<String, Account> = self
            .store
            .accounts(&ids)
            .await?
            .into_iter()
            .map(|account| (account.id.clone(), account))
            .collect();
        let mut events = Vec::with_capacity(batch.len());
        for (index, item) in batch.into_iter().enumerate() {
            let at_index = |mut e: ValidationError| {
                e.message = format!("events[{index}]: {}", e.message);
                e
            };
            let event = NewEvent::validate(item.request, created_at, &catalog).map_err(at_index)?;
            let Some(account) = accounts.get(&item.account_id) else {
                return Err(at_index(
                    ValidationError::new(
                        "unknown_account",
                        format!("no account `{}`", item.account_id),
                    )
                    .field("account"),
                )
                .into());
            };
            events.push((account.clone(), event));
        }
        let envelopes: Vec<_> = events.iter().map(|(_, e)| e.body.clone()).collect();
        let counts = self.engine.accept_together(events, now).await?;
        Ok(envelopes
            .into_iter()
            .zip(counts)
            .map(|(envelope, deliveries)| EmittedEvent {
                envelope,
                deliveries,
            })
            .collect())
    }

    /// Makes a platform key; returns it (shown once) with its record.
    pub async fn create_platform_key(&self, name: &str) -> AppResult<(PlatformKeyRecord, String)> {
        api_key::validate_name(name)?;
        let key = api_key::generate_with(PLATFORM_KEY_PREFIX);
        let record = self
            .store
            .create_platform_key(name, &api_key::digest(&key), self.clock.now_ms())
            .await?;
        tracing::info!(key = %record.id, name = %record.name, "platform key created");
        Ok((record, key))
    }

    /// The platform keys in use.
    pub async fn platform_keys(&self) -> AppResult<Vec<PlatformKeyRecord>> {
        Ok(self.store.list_platform_keys().await?)
    }

    /// Revokes a platform key (never the request's own); returns its hash.
    pub async fn revoke_platform_key(
        &self,
        id: &str,
        callers_key_hash: Option<&str>,
    ) -> AppResult<String> {
        let hash = self
            .store
            .revoke_platform_key(id, callers_key_hash, self.clock.now_ms())
            .await?;
        tracing::info!(key = %id, "platform key revoked");
        Ok(hash)
    }

    /// Whether a platform key hashes to `key_hash`.
    pub async fn platform_key_valid(&self, key_hash: &str) -> AppResult<bool> {
        Ok(self
            .store
            .platform_key_valid(key_hash, self.clock.now_ms())
            .await?)
    }

    /// Opens a portal session for an account; returns it with its token (shown once).
    pub async fn open_portal_session(
        &self,
        account_id: &str,
        ttl_seconds: Option<i64>,
        read_only: bool,
    ) -> AppResult<(PortalSessionRecord, String)> {
        let now = self.clock.now_ms();
        let expires_at = access::portal_expiry(now, ttl_seconds)?;
        let token = api_key::generate_with(PORTAL_TOKEN_PREFIX);
        let record = self
            .store
            .create_portal_session(
                account_id,
                &api_key::digest(&token),
                read_only,
                expires_at,
                now,
            )
            .await?;
        tracing::info!(account = %account_id, session = %record.id, "portal session opened");
        Ok((record, token))
    }

    /// Revokes a portal session; returns its token's hash.
    pub async fn revoke_portal_session(&self, account_id: &str, id: &str) -> AppResult<String> {
        Ok(self
            .store
            .revoke_portal_session(account_id, id, self.clock.now_ms())
            .await?)
    }

    /// The open portal session whose token hashes to `token_hash` (an expired one is none).
    pub async fn portal_session(
        &self,
        token_hash: &str,
    ) -> AppResult<Option<(Account, PortalSessionRecord)>> {
        let now = self.clock.now_ms();
        Ok(self
            .store
            .portal_session(token_hash)
            .await?
            .filter(|(_, session)| access::session_open(session.expires_at, now)))
    }

    /// The time now, as the clock the server runs on tells it (Unix ms).
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}
