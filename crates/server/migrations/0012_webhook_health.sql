-- A webhook's health (`domain::health`): its consecutive failed attempts, over all its
-- deliveries — from `OPENS_AFTER` on its circuit is open and it holds one attempt in flight at
-- most; a success sets it back to 0 — and until when (Unix ms) its endpoint asked, with
-- `Retry-After` on a 429 or 503, to be sent nothing. NULL: no hold.
ALTER TABLE webhooks ADD COLUMN failure_streak INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhooks ADD COLUMN held_until INTEGER;
