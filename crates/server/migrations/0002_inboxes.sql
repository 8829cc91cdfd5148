-- Inboxes: receivers built into the server for trying the whole loop without running one.
CREATE TABLE inboxes (
    token       TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX inboxes_by_account ON inboxes(account_id, created_at);
