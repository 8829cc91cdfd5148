-- The webhooks that may have a delivery to claim, and from when: a claim reads these rows
-- instead of probing the queue of every webhook (with a thousand far endpoints that was most
-- of the database's time, in proportion to the webhooks rather than the work).
--
-- The row of a webhook is a hint that claims check, never a decision: whenever a delivery of
-- the webhook is pending and no lease holds it, a row exists whose `due_ms` is at most that
-- delivery's `next_attempt_at`. The triggers below keep that true for every statement that
-- makes a delivery pending (stored, retried, resumed); the one statement that gives leases
-- back with their deliveries still pending (a stop's) adds the rows itself, and a lease that
-- runs out is found by the claims in `leases`. A claim removes (or moves later) only the rows it
-- locked, and decides so in a statement after the lock, so a delivery made pending by a
-- transaction that committed meanwhile is always seen (see `store::postgres::engine`).
CREATE TABLE due_webhooks (
    webhook_seq BIGINT PRIMARY KEY,
    due_ms      BIGINT NOT NULL
);
CREATE INDEX due_webhooks_by_due ON due_webhooks(due_ms, webhook_seq);

INSERT INTO due_webhooks (webhook_seq, due_ms)
SELECT webhook_seq, MIN(next_attempt_at) FROM deliveries WHERE status = 'pending'
GROUP BY webhook_seq;

-- Rows for the pending deliveries a statement stored or changed. In webhook order, so that two
-- statements never wait for each other's rows in a cycle; `ON CONFLICT DO UPDATE` locks the row
-- even when it is not moved earlier, which keeps a claim from removing it before this commits.
CREATE FUNCTION due_webhooks_of_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO due_webhooks AS r (webhook_seq, due_ms)
    SELECT webhook_seq, MIN(next_attempt_at) FROM changed WHERE status = 'pending'
    GROUP BY webhook_seq ORDER BY webhook_seq
    ON CONFLICT (webhook_seq) DO UPDATE SET due_ms = EXCLUDED.due_ms
        WHERE EXCLUDED.due_ms < r.due_ms;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_inserted_due AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION due_webhooks_of_deliveries();
CREATE TRIGGER deliveries_updated_due AFTER UPDATE ON deliveries
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
    EXECUTE FUNCTION due_webhooks_of_deliveries();
