-- Vacuums leave the empty pages at the end of the delivery tables in place instead of cutting
-- them off. Cutting them takes the table's exclusive lock, which a vacuum waits for among the
-- claims and results that use these tables every few milliseconds (up to seconds per vacuum)
-- and, once it has it, holds against them while it checks the pages; the tables refill those
-- pages within moments anyway (`leases` and `due_webhooks` are emptied and filled all day).
ALTER TABLE deliveries SET (vacuum_truncate = false);
ALTER TABLE leases SET (vacuum_truncate = false);
ALTER TABLE due_webhooks SET (vacuum_truncate = false);
