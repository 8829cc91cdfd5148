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

    /// The accounts of `ids` that exist, in no particular order: a batch of events for many
    /// accounts reads them in a few statements rather than one each.
    async fn accounts(&self, ids: &[&str]) -> StoreResult<Vec<Account>>;

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

/// A stored scope; one this build does not know reads as the narrowest.
pub(super) fn stored_scope(name: &str) -> crate::domain::access::KeyScope {
    crate::domain::access::KeyScope::parse(name).unwrap_or(crate::domain::access::KeyScope::Read)
}

/// An API key as listed, from a row of `id, name, prefix, created_at, last_used_at, scope`.
pub(super) fn api_key_from<R>(row: &R) -> ApiKeyRecord
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    ApiKeyRecord {
        id: row.get("id"),
        name: row.get("name"),
        prefix: row.get("prefix"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        scope: stored_scope(&row.get::<String, _>("scope")),
    }
}

/// Implements [`AccountKeys`] for a store whose pools are the fields `$reads` and `$writes`,
/// of the database `$db` (with `insert_api_key`, which opening an account uses too);
/// `$lock` locks the account's row while its keys are counted (PostgreSQL's `FOR UPDATE`, so
/// two instances cannot both take the last slot; none on SQLite, whose one writer is alone).
/// The statements are the same on both stores (numbered parameters, see `statements`).
macro_rules! impl_account_keys {
    ($store:ty, $db:ty, reads: $reads:ident, writes: $writes:ident, lock: $lock:literal) => {
        impl $store {
            /// Adds a key named `name` to the account `account_id` in `tx`.
            async fn insert_api_key(
                tx: &mut sqlx::Transaction<'_, $db>,
                account_id: &str,
                name: &str,
                scope: $crate::domain::access::KeyScope,
                key: &$crate::domain::api_key::KeyDigest,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::ApiKeyRecord> {
                let record = $crate::store::ApiKeyRecord {
                    id: $crate::domain::new_id(cdhooks_core::event::API_KEY_ID_PREFIX),
                    name: name.to_owned(),
                    prefix: key.prefix.clone(),
                    created_at: now_ms,
                    last_used_at: None,
                    scope,
                };
                sqlx::query($crate::store::statements::INSERT_API_KEY)
                    .bind(&record.id)
                    .bind(account_id)
                    .bind(&record.name)
                    .bind(&record.prefix)
                    .bind(&key.hash)
                    .bind(now_ms)
                    .bind(scope.as_str())
                    .execute(&mut **tx)
                    .await?;
                Ok(record)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::keys::AccountKeys for $store {
            async fn account(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::Account> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT id, email FROM accounts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.$reads)
                    .await?
                    .ok_or($crate::store::StoreError::NotFound)?;
                Ok($crate::store::Account {
                    id: row.get("id"),
                    email: row.get("email"),
                })
            }

            async fn accounts(
                &self,
                ids: &[&str],
            ) -> $crate::store::StoreResult<Vec<$crate::store::Account>> {
                use sqlx::Row as _;
                let mut accounts = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(500) {
                    let mut select =
                        sqlx::QueryBuilder::<$db>::new("SELECT id, email FROM accounts WHERE id IN (");
                    let mut list = select.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    select.push(")");
                    for row in select.build().fetch_all(&self.$reads).await? {
                        accounts.push($crate::store::Account {
                            id: row.get("id"),
                            email: row.get("email"),
                        });
                    }
                }
                Ok(accounts)
            }

            async fn create_api_key(
                &self,
                account: &$crate::store::Account,
                name: &str,
                scope: $crate::domain::access::KeyScope,
                key: &$crate::domain::api_key::KeyDigest,
                now_ms: i64,
                max_keys: u32,
            ) -> $crate::store::StoreResult<$crate::store::ApiKeyRecord> {
                let mut tx = self.$writes.begin().await?;
                let active: i64 = sqlx::query_scalar(concat!(
                    "SELECT (SELECT COUNT(*) FROM api_keys WHERE account_id = a.id AND revoked_at IS NULL)
                     FROM accounts a WHERE a.id = $1 ",
                    $lock
                ))
                .bind(&account.id)
                .fetch_one(&mut *tx)
                .await?;
                if active >= i64::from(max_keys) {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::LimitReached("API keys"));
                }
                let record =
                    Self::insert_api_key(&mut tx, &account.id, name, scope, key, now_ms).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn list_api_keys(
                &self,
                account: &$crate::store::Account,
            ) -> $crate::store::StoreResult<Vec<$crate::store::ApiKeyRecord>> {
                let rows = sqlx::query(
                    "SELECT id, name, prefix, created_at, last_used_at, scope FROM api_keys
                     WHERE account_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
                )
                .bind(&account.id)
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows.iter().map($crate::store::keys::api_key_from).collect())
            }

            async fn revoke_api_key(
                &self,
                account: &$crate::store::Account,
                id: &str,
                callers_key_hash: Option<&str>,
                now_ms: i64,
            ) -> $crate::store::StoreResult<String> {
                use sqlx::Row as _;
                let mut tx = self.$writes.begin().await?;
                let row = sqlx::query(
                    "SELECT key_hash, (SELECT COUNT(*) FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL) AS active
                     FROM api_keys WHERE id = $2 AND account_id = $1 AND revoked_at IS NULL",
                )
                .bind(&account.id)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                // A refusal ends the transaction here, so the connection goes back clean.
                let Some(row) = row else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::NotFound);
                };
                let hash: String = row.get("key_hash");
                let active: i64 = row.get("active");
                let is_callers = callers_key_hash
                    .is_some_and(|callers| $crate::domain::api_key::hashes_equal(callers, &hash));
                if let Err(why) =
                    $crate::domain::api_key::may_revoke(active.max(0) as u64, is_callers)
                {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::Conflict(why));
                }
                sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(hash)
            }

            /// Notes a key's use, at most once per `domain::api_key::TOUCH_EVERY_MS`.
            async fn touch_api_key(
                &self,
                key_hash: &str,
                now_ms: i64,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1
                     WHERE key_hash = $2 AND (last_used_at IS NULL OR last_used_at < $1 - $3)",
                )
                .bind(now_ms)
                .bind(key_hash)
                .bind($crate::domain::api_key::TOUCH_EVERY_MS)
                .execute(&self.$writes)
                .await?;
                Ok(())
            }

            async fn account_key(
                &self,
                api_key_hash: &str,
            ) -> $crate::store::StoreResult<
                Option<($crate::store::Account, $crate::domain::access::KeyScope)>,
            > {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT a.id, a.email, k.key_hash, k.scope FROM api_keys k JOIN accounts a ON a.id = k.account_id
                     WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                )
                .bind(api_key_hash)
                .fetch_optional(&self.$reads)
                .await?;
                // The lookup goes through an index; the final comparison is constant-time.
                Ok(row
                    .filter(|row| {
                        $crate::domain::api_key::hashes_equal(row.get("key_hash"), api_key_hash)
                    })
                    .map(|row| {
                        (
                            $crate::store::Account {
                                id: row.get("id"),
                                email: row.get("email"),
                            },
                            $crate::store::keys::stored_scope(&row.get::<String, _>("scope")),
                        )
                    }))
            }
        }
    };
}
pub(super) use impl_account_keys;
