-- Every rotated-out secret signs until its own grace period ends, so a webhook may have several
-- at once: a JSON array of {"secret", "until"} (Unix ms), oldest first. The single pair of
-- columns it replaces is copied over and no longer used.
ALTER TABLE webhooks ADD COLUMN previous_secrets TEXT;
UPDATE webhooks
SET previous_secrets = json_array(json_object('secret', previous_secret, 'until', previous_secret_until))
WHERE previous_secret IS NOT NULL AND previous_secret_until IS NOT NULL;
