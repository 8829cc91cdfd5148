-- The whole schema of the PostgreSQL store: the same tables as the embedded SQLite store.
-- Times are Unix milliseconds (BIGINT), except events.created_at, the envelope's seconds.

CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    -- SHA-256 of the API key, lowercase hex; the key itself is never stored.
    api_key_hash  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE webhooks (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    url             TEXT NOT NULL,
    -- JSON array of subscription patterns.
    events          TEXT NOT NULL,
    description     TEXT,
    secret          TEXT NOT NULL,
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason TEXT,
    disabled_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks(account_id, seq);

CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    type        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    -- The exact envelope bytes every attempt sends and signs.
    body        BYTEA NOT NULL,
    UNIQUE (account_id, id)
);

CREATE TABLE deliveries (
    seq             BIGSERIAL PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    account_id      TEXT NOT NULL,
    event_seq       BIGINT NOT NULL REFERENCES events(seq),
    webhook_seq     BIGINT NOT NULL REFERENCES webhooks(seq) ON DELETE CASCADE,
    -- pending | succeeded | failed | paused
    status          TEXT NOT NULL,
    attempt_count   INTEGER NOT NULL DEFAULT 0,
    round_base      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    -- A worker's lease: the delivery is its own until claimed_until; claim_token proves it.
    claim_token     BIGINT,
    claimed_until   BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at);
CREATE INDEX deliveries_by_webhook ON deliveries(webhook_seq, seq);
CREATE INDEX deliveries_webhook_due ON deliveries(webhook_seq, next_attempt_at, seq) WHERE status = 'pending';
CREATE INDEX deliveries_claimed ON deliveries(webhook_seq, claimed_until) WHERE claim_token IS NOT NULL;

CREATE TABLE attempts (
    delivery_seq   BIGINT NOT NULL REFERENCES deliveries(seq) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    started_at     BIGINT NOT NULL,
    duration_ms    BIGINT NOT NULL,
    status_code    INTEGER,
    error_kind     TEXT,
    error_message  TEXT,
    response_body  TEXT,
    PRIMARY KEY (delivery_seq, number)
);

CREATE TABLE emails (
    id            TEXT PRIMARY KEY,
    recipient     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    sent_at       BIGINT,
    tries         INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    claim_token   BIGINT,
    claimed_until BIGINT,
    next_try_at   BIGINT NOT NULL DEFAULT 0,
    dead_at       BIGINT
);
CREATE INDEX emails_due ON emails(next_try_at) WHERE sent_at IS NULL AND dead_at IS NULL;

CREATE TABLE inboxes (
    token       TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX inboxes_by_account ON inboxes(account_id, created_at);

CREATE TABLE inbox_requests (
    seq         BIGSERIAL PRIMARY KEY,
    token       TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    method      TEXT NOT NULL,
    headers     TEXT NOT NULL,
    body        BYTEA NOT NULL
);
CREATE INDEX inbox_by_token ON inbox_requests(token, seq);

-- GET /healthz writes (and removes) a row here to prove the store can still write.
CREATE TABLE health_probe (
    at   BIGINT NOT NULL,
    pad  BYTEA NOT NULL
);
