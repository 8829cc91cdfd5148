//! An account's own API keys, and the account a key opens: read on every request (through
//! the auth cache), written when a customer manages its keys.

use async_trait::async_trait;

use super::*;

/// An account's API keys and the account a key opens.
#[async_trait]
pub trait AccountKeys: Directory + Send + Sync {
    /// Creates an account at `now_ms` and returns it; `key` is the digest of its first key,
    /// which may do everything for the account (`full`: the command line's accounts, for a
    /// server run by one party for itself).
    async fn create_account(
        &self,
        email: &str,
        key: &crate::domain::api_key::KeyDigest,
        now_ms: i64,
    ) -> StoreResult<Account> {
        let account = crate::domain::account::NewAccount {
            email: email.to_owned(),
            name: None,
            external_id: None,
        };
        let (record, _) = self
            .open_account(&account, key, crate::domain::access::KeyScope::Full, now_ms)
            .await?;
        Ok(record.account())
    }

    /// An account by id (`NotFound` if none).
    async fn account(&self, id: &str) -> StoreResult<Account>;

    /// Adds a named key to the account, unless it holds `max_keys` keys already
    /// (`LimitReached`).
    async fn create_api_key(
        &self,
        account: &Account,
        name: &str,
        scope: crate::domain::access::KeyScope,
        key: &crate::domain::api_key::KeyDigest,
        now_ms: i64,
        max_keys: u32,
    ) -> StoreResult<ApiKeyRecord>;

    /// The account's keys that are not revoked, oldest first.
    async fn list_api_keys(&self, account: &Account) -> StoreResult<Vec<ApiKeyRecord>>;

    /// Revokes a key of the account, unless the rules of `domain::api_key::may_revoke` forbid
    /// it (`Conflict`; `callers_key_hash` is the key the request is made with); returns the
    /// revoked key's hash.
    async fn revoke_api_key(
        &self,
        account: &Account,
        id: &str,
        callers_key_hash: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<String>;

    /// Notes that a key was used (at most one write a minute per key).
    async fn touch_api_key(&self, key_hash: &str, now_ms: i64) -> StoreResult<()>;

    /// Finds the account whose key (not revoked) hashes to `api_key_hash`, and the key's scope.
    async fn account_key(
        &self,
        api_key_hash: &str,
    ) -> StoreResult<Option<(Account, crate::domain::access::KeyScope)>>;

    /// Finds the account whose key hashes to `api_key_hash`.
    async fn account_by_key_hash(&self, api_key_hash: &str) -> StoreResult<Option<Account>> {
        Ok(self
            .account_key(api_key_hash)
            .await?
            .map(|(account, _)| account))
    }
}
