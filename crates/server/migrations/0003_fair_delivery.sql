-- Delivery that holds under load: fair, per-webhook claims; a readiness probe; an outbox
-- claimed under leases.

-- GET /healthz writes (and removes) a row here to prove the store can still write.
CREATE TABLE health_probe (
    at   INTEGER NOT NULL,
    pad  BLOB NOT NULL
);

-- One webhook's due work, oldest first (in the claims' order): the fair claim visits webhooks,
-- then this index.
CREATE INDEX deliveries_webhook_due ON deliveries(webhook_seq, next_attempt_at, seq) WHERE status = 'pending';
-- Deliveries under a lease; their count per webhook is the concurrency it uses right now.
CREATE INDEX deliveries_claimed ON deliveries(webhook_seq, claimed_until) WHERE claim_token IS NOT NULL;

-- The outbox: claimed under a lease like deliveries, retried with backoff, and dead-lettered
-- (dead_at) after repeated failures so that a few undeliverable emails never block the rest.
ALTER TABLE emails ADD COLUMN claim_token TEXT;
ALTER TABLE emails ADD COLUMN claimed_until INTEGER;
ALTER TABLE emails ADD COLUMN next_try_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE emails ADD COLUMN dead_at INTEGER;
CREATE INDEX emails_due ON emails(next_try_at) WHERE sent_at IS NULL AND dead_at IS NULL;
