-- Webhooks that ask for Ed25519 (Standard Webhooks v1a) hold their signing key: `whsk_` +
-- base64 of the seed, sealed like secrets when the server has a key file. NULL: HMAC only.
ALTER TABLE webhooks ADD COLUMN signing_key TEXT;
