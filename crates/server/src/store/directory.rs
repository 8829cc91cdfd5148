//! The directory: accounts as the provider manages them, platform keys and portal sessions.
//!
//! A role of its own beside the delivery store: small tables, read on every request through
//! the auth cache and written rarely. The SQL is the same on both stores (numbered parameters,
//! see `statements`), so it is written once, here, and `impl_directory!` puts it on each
//! store with its read and write pools.

use async_trait::async_trait;

use super::{
    AccountFilter, AccountRecord, ApiKeyRecord, Attention, PlatformKeyRecord, PortalSessionRecord,
    StoreResult,
};
use crate::domain::access::KeyScope;
use crate::domain::account::{AccountChange, NewAccount};
use crate::domain::api_key::KeyDigest;

/// Accounts, platform keys and portal sessions.
#[async_trait]
pub trait Directory: Send + Sync {
    /// Creates an account with its first API key (of `scope`, named `default`); `Conflict`
    /// when another account has its external id.
    async fn open_account(
        &self,
        account: &NewAccount,
        key: &KeyDigest,
        scope: KeyScope,
        now_ms: i64,
    ) -> StoreResult<(AccountRecord, ApiKeyRecord)>;
    /// One account (`NotFound` if none).
    async fn account_record(&self, id: &str) -> StoreResult<AccountRecord>;
    /// Accounts matching `filter` after the cursor (an account id), by id.
    async fn list_accounts(
        &self,
        filter: &AccountFilter,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<AccountRecord>>;
    /// Accounts matching `filter` (by id, after the cursor) with a disabled webhook or a
    /// pending delivery due before `late_before_ms`, and why.
    async fn accounts_needing_attention(
        &self,
        filter: &AccountFilter,
        late_before_ms: i64,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(AccountRecord, Attention)>>;
    /// Applies a change (`Conflict` when the new external id is another account's).
    async fn update_account(&self, id: &str, change: &AccountChange) -> StoreResult<AccountRecord>;
    /// Deletes an account with everything it holds: webhooks, events, deliveries and their
    /// attempts, keys, inboxes and their captures, portal sessions. Returns the hashes of its
    /// keys and sessions (to forget at once), or `None` if there was no such account.
    async fn delete_account(&self, id: &str) -> StoreResult<Option<Vec<String>>>;

    /// Adds a platform key.
    async fn create_platform_key(
        &self,
        name: &str,
        key: &KeyDigest,
        now_ms: i64,
    ) -> StoreResult<PlatformKeyRecord>;
    /// The platform keys that are not revoked, oldest first.
    async fn list_platform_keys(&self) -> StoreResult<Vec<PlatformKeyRecord>>;
    /// Revokes a platform key, unless it is the caller's own (`Conflict`); returns its hash.
    async fn revoke_platform_key(
        &self,
        id: &str,
        callers_key_hash: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<String>;
    /// Whether a platform key (not revoked) hashes to `key_hash`; notes its use (at most one
    /// write a minute).
    async fn platform_key_valid(&self, key_hash: &str, now_ms: i64) -> StoreResult<bool>;

    /// Opens a portal session for the account.
    async fn create_portal_session(
        &self,
        account_id: &str,
        token: &KeyDigest,
        read_only: bool,
        expires_at_ms: i64,
        now_ms: i64,
    ) -> StoreResult<PortalSessionRecord>;
    /// Revokes one of the account's sessions; returns its token's hash.
    async fn revoke_portal_session(
        &self,
        account_id: &str,
        id: &str,
        now_ms: i64,
    ) -> StoreResult<String>;
    /// The session (not revoked) whose token hashes to `token_hash`, and its account —
    /// expired or not (the caller decides, with its clock).
    async fn portal_session(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(super::Account, PortalSessionRecord)>>;
}

/// The columns an [`AccountRecord`] is read from.
pub(super) const ACCOUNT_COLUMNS: &str = "id, email, name, external_id, created_at";

/// Implements [`Directory`] for a store whose pools are the fields `$reads` and `$writes`;
/// `$cleanup` are the store's own statements to run (with `$1` the account id) before an
/// account's deliveries go. An account's first key is added as any other, by the store's
/// `insert_api_key` (`impl_account_keys!`).
macro_rules! impl_directory {
    ($store:ty, reads: $reads:ident, writes: $writes:ident, cleanup: $cleanup:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::directory::Directory for $store {
            async fn open_account(
                &self,
                account: &$crate::domain::account::NewAccount,
                key: &$crate::domain::api_key::KeyDigest,
                scope: $crate::domain::access::KeyScope,
                now_ms: i64,
            ) -> $crate::store::StoreResult<(
                $crate::store::AccountRecord,
                $crate::store::ApiKeyRecord,
            )> {
                use cdhooks_core::event::ACCOUNT_ID_PREFIX;
                let record = $crate::store::AccountRecord {
                    id: $crate::domain::new_id(ACCOUNT_ID_PREFIX),
                    email: account.email.clone(),
                    name: account.name.clone(),
                    external_id: account.external_id.clone(),
                    created_at: now_ms,
                };
                let mut tx = self.$writes.begin().await?;
                sqlx::query(
                    "INSERT INTO accounts (id, email, api_key_hash, created_at, name, external_id)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&record.id)
                .bind(&record.email)
                .bind(&key.hash)
                .bind(now_ms)
                .bind(&record.name)
                .bind(&record.external_id)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::directory::external_id_taken)?;
                let first =
                    Self::insert_api_key(&mut tx, &record.id, "default", scope, key, now_ms).await?;
                tx.commit().await?;
                Ok((record, first))
            }

            async fn account_record(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<$crate::store::AccountRecord> {
                let row = sqlx::query(&format!(
                    "SELECT {} FROM accounts WHERE id = $1",
                    $crate::store::directory::ACCOUNT_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&self.$reads)
                .await?
                .ok_or($crate::store::StoreError::NotFound)?;
                Ok($crate::store::directory::account_from(&row))
            }

            async fn list_accounts(
                &self,
                filter: &$crate::store::AccountFilter,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<Vec<$crate::store::AccountRecord>> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM accounts
                     WHERE ($1 IS NULL OR email = $1) AND ($2 IS NULL OR external_id = $2)
                       AND ($3 IS NULL OR id > $3)
                     ORDER BY id LIMIT $4",
                    $crate::store::directory::ACCOUNT_COLUMNS
                ))
                .bind(filter.email.as_deref())
                .bind(filter.external_id.as_deref())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows
                    .iter()
                    .map($crate::store::directory::account_from)
                    .collect())
            }

            async fn accounts_needing_attention(
                &self,
                filter: &$crate::store::AccountFilter,
                late_before_ms: i64,
                after: Option<&str>,
                limit: u32,
            ) -> $crate::store::StoreResult<
                Vec<($crate::store::AccountRecord, $crate::store::Attention)>,
            > {
                use sqlx::Row as _;
                let rows = sqlx::query(&format!(
                    "SELECT {},
                        (SELECT COUNT(*) FROM webhooks w
                         WHERE w.account_id = accounts.id AND NOT w.enabled) AS disabled_webhooks,
                        (SELECT MIN(d.next_attempt_at) FROM deliveries d
                         WHERE d.account_id = accounts.id AND d.status = 'pending') AS oldest_due_at
                     FROM accounts
                     WHERE id IN (
                         SELECT account_id FROM webhooks WHERE NOT enabled
                         UNION
                         SELECT account_id FROM deliveries
                         WHERE status = 'pending' AND next_attempt_at < $1)
                       AND ($2 IS NULL OR id > $2)
                       AND ($3 IS NULL OR email = $3) AND ($4 IS NULL OR external_id = $4)
                     ORDER BY id LIMIT $5",
                    $crate::store::directory::ACCOUNT_COLUMNS
                ))
                .bind(late_before_ms)
                .bind(after)
                .bind(filter.email.as_deref())
                .bind(filter.external_id.as_deref())
                .bind(i64::from(limit))
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows
                    .iter()
                    .map(|row| {
                        (
                            $crate::store::directory::account_from(row),
                            $crate::store::Attention {
                                disabled_webhooks: row.get("disabled_webhooks"),
                                oldest_due_at: row.get("oldest_due_at"),
                            },
                        )
                    })
                    .collect())
            }

            async fn update_account(
                &self,
                id: &str,
                change: &$crate::domain::account::AccountChange,
            ) -> $crate::store::StoreResult<$crate::store::AccountRecord> {
                let mut tx = self.$writes.begin().await?;
                let row = sqlx::query(&format!(
                    "SELECT {} FROM accounts WHERE id = $1",
                    $crate::store::directory::ACCOUNT_COLUMNS
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::NotFound);
                };
                let mut record = $crate::store::directory::account_from(&row);
                let mut fields = $crate::domain::account::NewAccount {
                    email: record.email.clone(),
                    name: record.name.clone(),
                    external_id: record.external_id.clone(),
                };
                change.apply_to(&mut fields);
                sqlx::query(
                    "UPDATE accounts SET email = $1, name = $2, external_id = $3 WHERE id = $4",
                )
                .bind(&fields.email)
                .bind(&fields.name)
                .bind(&fields.external_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err($crate::store::directory::external_id_taken)?;
                tx.commit().await?;
                record.email = fields.email;
                record.name = fields.name;
                record.external_id = fields.external_id;
                Ok(record)
            }

            async fn delete_account(
                &self,
                id: &str,
            ) -> $crate::store::StoreResult<Option<Vec<String>>> {
                let mut tx = self.$writes.begin().await?;
                let hashes: Vec<String> = sqlx::query_scalar(
                    "SELECT key_hash FROM api_keys WHERE account_id = $1
                     UNION ALL SELECT token_hash FROM portal_sessions WHERE account_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
                let cleanup: &[&str] = $cleanup;
                for statement in cleanup
                    .iter()
                    .chain($crate::store::directory::DELETE_ACCOUNT)
                {
                    sqlx::query(statement).bind(id).execute(&mut *tx).await?;
                }
                let gone = sqlx::query("DELETE FROM accounts WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok((gone > 0).then_some(hashes))
            }

            async fn create_platform_key(
                &self,
                name: &str,
                key: &$crate::domain::api_key::KeyDigest,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::PlatformKeyRecord> {
                let record = $crate::store::PlatformKeyRecord {
                    id: $crate::domain::new_id(cdhooks_core::event::PLATFORM_KEY_ID_PREFIX),
                    name: name.to_owned(),
                    prefix: key.prefix.clone(),
                    created_at: now_ms,
                    last_used_at: None,
                };
                sqlx::query(
                    "INSERT INTO platform_keys (id, name, prefix, key_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&record.id)
                .bind(&record.name)
                .bind(&record.prefix)
                .bind(&key.hash)
                .bind(now_ms)
                .execute(&self.$writes)
                .await?;
                Ok(record)
            }

            async fn list_platform_keys(
                &self,
            ) -> $crate::store::StoreResult<Vec<$crate::store::PlatformKeyRecord>> {
                use sqlx::Row as _;
                let rows = sqlx::query(
                    "SELECT id, name, prefix, created_at, last_used_at FROM platform_keys
                     WHERE revoked_at IS NULL ORDER BY created_at, id",
                )
                .fetch_all(&self.$reads)
                .await?;
                Ok(rows
                    .iter()
                    .map(|row| $crate::store::PlatformKeyRecord {
                        id: row.get("id"),
                        name: row.get("name"),
                        prefix: row.get("prefix"),
                        created_at: row.get("created_at"),
                        last_used_at: row.get("last_used_at"),
                    })
                    .collect())
            }

            async fn revoke_platform_key(
                &self,
                id: &str,
                callers_key_hash: Option<&str>,
                now_ms: i64,
            ) -> $crate::store::StoreResult<String> {
                let mut tx = self.$writes.begin().await?;
                let hash: Option<String> = sqlx::query_scalar(
                    "SELECT key_hash FROM platform_keys WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(hash) = hash else {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::NotFound);
                };
                if callers_key_hash
                    .is_some_and(|c| $crate::domain::api_key::hashes_equal(c, &hash))
                {
                    tx.rollback().await?;
                    return Err($crate::store::StoreError::Conflict(
                        "a request cannot revoke the key it is authenticated with; use another key",
                    ));
                }
                sqlx::query("UPDATE platform_keys SET revoked_at = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(hash)
            }

            async fn platform_key_valid(
                &self,
                key_hash: &str,
                now_ms: i64,
            ) -> $crate::store::StoreResult<bool> {
                let found: Option<String> = sqlx::query_scalar(
                    "SELECT key_hash FROM platform_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                )
                .bind(key_hash)
                .fetch_optional(&self.$reads)
                .await?;
                let valid = found
                    .is_some_and(|found| $crate::domain::api_key::hashes_equal(&found, key_hash));
                if valid {
                    sqlx::query(
                        "UPDATE platform_keys SET last_used_at = $1
                         WHERE key_hash = $2 AND (last_used_at IS NULL OR last_used_at < $1 - $3)",
                    )
                    .bind(now_ms)
                    .bind(key_hash)
                    .bind($crate::domain::api_key::TOUCH_EVERY_MS)
                    .execute(&self.$writes)
                    .await?;
                }
                Ok(valid)
            }

            async fn create_portal_session(
                &self,
                account_id: &str,
                token: &$crate::domain::api_key::KeyDigest,
                read_only: bool,
                expires_at_ms: i64,
                now_ms: i64,
            ) -> $crate::store::StoreResult<$crate::store::PortalSessionRecord> {
                let record = $crate::store::PortalSessionRecord {
                    id: $crate::domain::new_id(cdhooks_core::event::PORTAL_SESSION_ID_PREFIX),
                    account_id: account_id.to_owned(),
                    read_only,
                    created_at: now_ms,
                    expires_at: expires_at_ms,
                };
                let inserted = sqlx::query(
                    "INSERT INTO portal_sessions
                        (id, account_id, token_hash, read_only, created_at, expires_at)
                     SELECT $1, id, $2, $3, $4, $5 FROM accounts WHERE id = $6",
                )
                .bind(&record.id)
                .bind(&token.hash)
                .bind(i64::from(read_only))
                .bind(now_ms)
                .bind(expires_at_ms)
                .bind(account_id)
                .execute(&self.$writes)
                .await?
                .rows_affected();
                if inserted == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(record)
            }

            async fn revoke_portal_session(
                &self,
                account_id: &str,
                id: &str,
                now_ms: i64,
            ) -> $crate::store::StoreResult<String> {
                let hash: Option<String> = sqlx::query_scalar(
                    "UPDATE portal_sessions SET revoked_at = $1
                     WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL
                     RETURNING token_hash",
                )
                .bind(now_ms)
                .bind(id)
                .bind(account_id)
                .fetch_optional(&self.$writes)
                .await?;
                hash.ok_or($crate::store::StoreError::NotFound)
            }

            async fn portal_session(
                &self,
                token_hash: &str,
            ) -> $crate::store::StoreResult<
                Option<($crate::store::Account, $crate::store::PortalSessionRecord)>,
            > {
                use sqlx::Row as _;
                let row = sqlx::query(
                    "SELECT s.id, s.account_id, s.token_hash, s.read_only, s.created_at,
                            s.expires_at, a.email
                     FROM portal_sessions s JOIN accounts a ON a.id = s.account_id
                     WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
                )
                .bind(token_hash)
                .fetch_optional(&self.$reads)
                .await?;
                Ok(row
                    .filter(|row| {
                        $crate::domain::api_key::hashes_equal(row.get("token_hash"), token_hash)
                    })
                    .map(|row| {
                        (
                            $crate::store::Account {
                                id: row.get("account_id"),
                                email: row.get("email"),
                            },
                            $crate::store::PortalSessionRecord {
                                id: row.get("id"),
                                account_id: row.get("account_id"),
                                read_only: row.get::<i64, _>("read_only") != 0,
                                created_at: row.get("created_at"),
                                expires_at: row.get("expires_at"),
                            },
                        )
                    }))
            }
        }
    };
}
pub(super) use impl_directory;

/// What deleting an account removes besides the account row, in an order the foreign keys
/// allow (each statement takes the account id as `$1`).
pub(super) const DELETE_ACCOUNT: &[&str] = &[
    "DELETE FROM attempts WHERE delivery_seq IN (SELECT seq FROM deliveries WHERE account_id = $1)",
    "DELETE FROM deliveries WHERE account_id = $1",
    "DELETE FROM events WHERE account_id = $1",
    "DELETE FROM webhooks WHERE account_id = $1",
    "DELETE FROM inbox_requests WHERE token IN (SELECT token FROM inboxes WHERE account_id = $1)",
    "DELETE FROM inboxes WHERE account_id = $1",
    "DELETE FROM api_keys WHERE account_id = $1",
    "DELETE FROM portal_sessions WHERE account_id = $1",
];

/// Reads an account row of [`ACCOUNT_COLUMNS`].
pub(super) fn account_from<R: sqlx::Row>(row: &R) -> AccountRecord
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    AccountRecord {
        id: row.get("id"),
        email: row.get("email"),
        name: row.get("name"),
        external_id: row.get("external_id"),
        created_at: row.get("created_at"),
    }
}

/// A write refused for an external id another account has, as the conflict it is.
pub(super) fn external_id_taken(error: sqlx::Error) -> super::StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            super::StoreError::Conflict("another account has this external_id")
        }
        _ => error.into(),
    }
}
