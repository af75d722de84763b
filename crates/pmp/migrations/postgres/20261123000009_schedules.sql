-- Schedules: a cron expression in a time zone that fires an operation (a power action or a
-- snapshot with retention) over guests as a bulk job. `next_run_ms` is claimed with a
-- compare-and-set by whichever instance sees it due first, so a tick fires exactly once
-- however many instances run; the bulk job's idempotency key repeats that guarantee.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    action TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    next_run_ms BIGINT,
    last_run_ms BIGINT,
    last_job_id TEXT,
    created_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules (enabled, next_run_ms);
