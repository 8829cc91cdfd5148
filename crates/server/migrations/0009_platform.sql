-- The provider's side: accounts it names and finds again, key scopes, platform keys, and
-- portal sessions that open the dashboard for one account.
ALTER TABLE accounts ADD COLUMN name TEXT;
ALTER TABLE accounts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX accounts_by_external_id ON accounts(external_id) WHERE external_id IS NOT NULL;
CREATE INDEX accounts_by_email ON accounts(email);

-- read | manage | full. Keys from before scopes emitted events; they keep doing so.
ALTER TABLE api_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';

CREATE TABLE platform_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE portal_sessions (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    token_hash  TEXT NOT NULL UNIQUE,
    read_only   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX portal_sessions_by_account ON portal_sessions(account_id, created_at);
