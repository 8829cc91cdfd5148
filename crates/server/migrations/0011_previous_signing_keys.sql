-- A rotated-out Ed25519 key keeps signing (a second `v1a` entry) until its rotation's grace
-- period ends, as rotated-out secrets do: a JSON array of {"secret", "until"} (Unix ms; the
-- key sealed as `signing_key` is), oldest first. NULL: none.
ALTER TABLE webhooks ADD COLUMN previous_signing_keys TEXT;
