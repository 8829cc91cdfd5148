-- Secret rotation with overlap: the previous secret keeps signing (beside the new one) until
-- previous_secret_until (Unix ms).
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT;
ALTER TABLE webhooks ADD COLUMN previous_secret_until BIGINT;
