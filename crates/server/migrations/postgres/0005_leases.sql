-- Leases move to a table of their own. Claiming a delivery used to rewrite its row, and with it
-- an entry in each of the delivery's seven indexes; a lease row is small, has two indexes and
-- lives only while its attempt is in flight. A delivery is claimed while its lease row exists
-- with until_ms >= now; every change an attempt's result makes is conditional on the token.
CREATE TABLE leases (
    delivery_seq BIGINT PRIMARY KEY,
    webhook_seq  BIGINT NOT NULL,
    token        BIGINT NOT NULL,
    until_ms     BIGINT NOT NULL
);
CREATE INDEX leases_by_webhook ON leases(webhook_seq);
INSERT INTO leases (delivery_seq, webhook_seq, token, until_ms)
SELECT seq, webhook_seq, claim_token, claimed_until FROM deliveries
WHERE claim_token IS NOT NULL AND claimed_until IS NOT NULL;
DROP INDEX deliveries_claimed;
ALTER TABLE deliveries DROP COLUMN claim_token, DROP COLUMN claimed_until;
-- Only pending deliveries are looked up by due time; finished ones leave this index.
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(next_attempt_at) WHERE status = 'pending';
