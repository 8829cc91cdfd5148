-- Pending deliveries are no longer indexed by due time alone: every hot statement reads them
-- per webhook (`deliveries_webhook_due`), and since claims walk `due_webhooks` nothing hot
-- reads them across webhooks. With this index beside the per-webhook one, the planner could
-- answer "the oldest unclaimed delivery of this webhook" by walking every webhook's due
-- deliveries in time order and filtering (a generic plan chose it: a webhook behind another
-- one's backlog had that whole backlog read for each probe). The operator's reads that still
-- look across webhooks (queue counts, accounts with late deliveries) scan the pending
-- deliveries through the per-webhook index instead; one index fewer to write per delivery.
DROP INDEX IF EXISTS deliveries_due;
