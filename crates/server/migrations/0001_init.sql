-- The whole schema of the embedded store. Times are Unix milliseconds (INTEGER), except
-- events.created_at, which is the seconds shown in the envelope.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- SHA-256 of the API key, lowercase hex; the key itself is never stored.
    api_key_hash  TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL
);

CREATE TABLE webhooks (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    url             TEXT NOT NULL,
    -- JSON array of subscription patterns.
    events          TEXT NOT NULL,
    description     TEXT,
    secret          TEXT NOT NULL,
    enabled         INTEGER NOT NULL DEFAULT 1,
    disabled_reason TEXT,
    disabled_at     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks(account_id, seq);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    type        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    -- The exact envelope bytes every attempt sends and signs.
    body        BLOB NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    event_seq       INTEGER NOT NULL REFERENCES events(seq),
    webhook_seq     INTEGER NOT NULL REFERENCES webhooks(seq) ON DELETE CASCADE,
    -- pending | succeeded | failed | paused
    status          TEXT NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    -- attempt_count when the current round of retries began (a manual retry starts a new round).
    round_base      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    -- A worker's lease: the delivery is its own until claimed_until; claim_token proves it.
    claim_token     TEXT,
    claimed_until   INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_by_webhook ON deliveries(webhook_seq, seq);

CREATE TABLE attempts (
    delivery_seq   INTEGER NOT NULL REFERENCES deliveries(seq) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    duration_ms    INTEGER NOT NULL,
    status_code    INTEGER,
    -- timeout | connect | redirect | http_status | forbidden_target | body | request
    error_kind     TEXT,
    error_message  TEXT,
    response_body  TEXT,
    PRIMARY KEY (delivery_seq, number)
);

CREATE TABLE emails (
    id          TEXT PRIMARY KEY,
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    tries       INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX emails_unsent ON emails(sent_at);

CREATE TABLE inbox_requests (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    token       TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    method      TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        BLOB NOT NULL
);
CREATE INDEX inbox_by_token ON inbox_requests(token, seq);
