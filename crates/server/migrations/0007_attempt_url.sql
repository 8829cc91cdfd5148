-- Where each attempt was sent: a webhook's URL may change after its attempts, and the log and
-- GET /v1/deliveries/{id}/request show the URL an attempt really went to. NULL for attempts
-- recorded before this column.
ALTER TABLE attempts ADD COLUMN url TEXT;
