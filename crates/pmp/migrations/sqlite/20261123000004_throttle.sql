-- Failed-attempt counters for sign-in throttling, per account and per client address, kept in
-- the database so every portal instance sees the same counts.
CREATE TABLE throttle (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
