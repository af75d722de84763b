-- API authentication, personal tokens, two-factor login and the security-event record.
-- `auth_epoch` is bumped whenever a user's rights or credentials change (disabled, demoted,
-- reset); every JWT carries the epoch it was issued under, so one bump voids them all.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN auth_epoch BIGINT NOT NULL DEFAULT 0;

-- Opaque refresh tokens, stored hashed. Each use spends the token and issues its successor in
-- the same family; presenting a spent one revokes the whole family (it was stolen or replayed).
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- Personal API tokens (`pmp_<id>_<secret>`), shown once and stored as the secret's SHA-256.
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    last_used_ip TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
CREATE UNIQUE INDEX api_tokens_secret ON api_tokens (secret_hash);

-- TOTP seeds, encrypted with the data key. `last_step` is the newest time step accepted, so a
-- code cannot be used twice. Unconfirmed rows are enrolments in progress.
CREATE TABLE totp (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_enc TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL
);

-- Single-use recovery codes, stored as SHA-256 (they are random, so no slow hash is needed).
CREATE TABLE recovery_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Sign-ins in progress between the password and the TOTP step, stored hashed, minutes long.
CREATE TABLE pending_logins (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);

-- Exponential lockout: each lock of a key lasts twice as long as the one before.
ALTER TABLE throttle ADD COLUMN locks BIGINT NOT NULL DEFAULT 0;

-- Security events (sign-ins, failures, lockouts, 2FA and token changes, password changes).
-- The audit log is built around these; user_id is kept as text without a foreign key so that
-- deleting a user never erases what they did.
CREATE TABLE security_events (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT,
    username TEXT,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX security_events_at ON security_events (at);
CREATE INDEX security_events_user ON security_events (user_id);
