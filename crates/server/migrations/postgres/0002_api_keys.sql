-- Several named API keys per account, each revocable; accounts.api_key_hash stays as the
-- account's first key's hash (unused by lookups from here on).
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id),
    name         TEXT NOT NULL,
    -- The key's first characters, to tell keys apart; the key itself is never stored.
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_account ON api_keys(account_id);
INSERT INTO api_keys (id, account_id, name, prefix, key_hash, created_at)
SELECT 'key_' || md5(random()::text || id), id, 'default', 'cdh_', api_key_hash, created_at FROM accounts;
