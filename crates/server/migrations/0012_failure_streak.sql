-- A webhook's consecutive failed attempts, over all its deliveries (`domain::health`): from
-- `OPENS_AFTER` on, its circuit is open and it holds one attempt in flight at most. A success
-- sets it back to 0.
ALTER TABLE webhooks ADD COLUMN failure_streak INTEGER NOT NULL DEFAULT 0;
