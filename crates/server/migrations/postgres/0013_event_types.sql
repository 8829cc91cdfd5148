-- The event catalog as data (`domain::event_type`): each type with the JSON Schema of its
-- `data` (JSON text), an example (JSON text), a version counting schema changes, and a
-- deprecation mark (Unix ms; NULL: current). `seq` keeps the catalog's order: the docs' nine,
-- then the provider's in the order added. `event_catalog_seeded` says the nine were written
-- once, so that a seeded type the provider deleted does not come back at the next start.
CREATE TABLE event_types (
    seq             BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL,
    schema          TEXT NOT NULL,
    example         TEXT NOT NULL,
    version         BIGINT NOT NULL DEFAULT 1,
    deprecated_at   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE event_catalog_seeded (
    seeded_at       BIGINT NOT NULL
);
