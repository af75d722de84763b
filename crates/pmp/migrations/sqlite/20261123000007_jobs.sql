-- The durable job queue. Times are Unix milliseconds: leases and retry delays are short.
-- A job is claimable when queued and due, or when running under a lease that lapsed (its
-- worker died); `attempts` counts claims. `idempotency_key` makes enqueueing the same work
-- twice return the first job.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    priority BIGINT NOT NULL,
    run_at_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    max_attempts BIGINT NOT NULL,
    idempotency_key TEXT UNIQUE,
    parent_id TEXT REFERENCES jobs (id) ON DELETE CASCADE,
    lease_owner TEXT,
    lease_until_ms BIGINT,
    cancel_requested BOOLEAN NOT NULL,
    result TEXT,
    error TEXT,
    created_by TEXT,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    finished_at_ms BIGINT
);
CREATE INDEX jobs_claimable ON jobs (state, run_at_ms);
CREATE INDEX jobs_parent ON jobs (parent_id);

-- What a job said while it ran (PVE task log lines, progress notes), in order.
CREATE TABLE job_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    at_ms BIGINT NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX job_log_job ON job_log (job_id, id);
