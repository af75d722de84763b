-- Alerts: what the anomaly and inventory rules raised. At most one firing alert per rule and
-- subject (the partial unique index), so a repeated condition bumps `hits` instead of raising
-- (and notifying) again; a resolved alert stays for the record.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    state TEXT NOT NULL,
    first_at BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    resolved_at BIGINT,
    hits BIGINT NOT NULL
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (rule, subject) WHERE state = 'firing';
CREATE INDEX alerts_recent ON alerts (last_at);

-- Administrators' changes to a rule's defaults (rules without a row use their defaults).
CREATE TABLE alert_rules (
    rule TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    threshold BIGINT NOT NULL,
    window_secs BIGINT NOT NULL
);

-- Where alerts are sent. `target` holds the non-secret settings as JSON; the secret (an HMAC
-- key, a token, an SMTP password) is sealed with the data key.
CREATE TABLE notification_channels (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    secret TEXT,
    enabled BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
