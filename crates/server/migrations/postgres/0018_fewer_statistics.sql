-- No statistics for the columns no plan reads them for. ANALYZE sorts a sample of each column,
-- and these took half of its time (20,000 events and 20,000 deliveries: 167 ms, 83 ms
-- without them): envelope bodies, which nothing filters on, and the unique `evt_`/`dlv_`
-- ids, which are only looked up through their unique indexes (one row, whatever the
-- statistics say). Upkeep analyses these tables whenever they have doubled, beside the
-- claims and results.
ALTER TABLE events ALTER COLUMN body SET STATISTICS 0;
ALTER TABLE events ALTER COLUMN id SET STATISTICS 0;
ALTER TABLE deliveries ALTER COLUMN id SET STATISTICS 0;
