-- The server processes sharing this database, each with the time (the database's own clock, so
-- the processes' clocks need not agree) until which it counts as live. Each process renews its
-- row every second and claims for its share of the webhooks among the live ones; a process that
-- stops leaves, one that dies drops out when its time runs out.
CREATE TABLE instances (
    id          TEXT PRIMARY KEY,
    live_until  TIMESTAMPTZ NOT NULL
);
