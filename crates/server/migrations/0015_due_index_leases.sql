-- The due indexes carry each delivery's lease: a claim steps over the deliveries in flight at
-- the head of a webhook's queue (up to the per-webhook limit of them), and the claim loop's
-- "when is the next delivery due" over every delivery in flight, on index entries alone, where
-- each step read the delivery's row to see its lease. Both test `claimed_until`, which is set
-- and cleared together with `claim_token`.
UPDATE deliveries SET claimed_until = NULL WHERE claim_token IS NULL AND claimed_until IS NOT NULL;
DROP INDEX deliveries_webhook_due;
CREATE INDEX deliveries_webhook_due ON deliveries(webhook_seq, next_attempt_at, seq, claimed_until)
    WHERE status = 'pending';
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(status, next_attempt_at, claimed_until);
