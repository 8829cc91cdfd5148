-- A webhook's filter on `data` fields (`domain::filter`), as JSON text; NULL: none.
ALTER TABLE webhooks ADD COLUMN filter TEXT;
