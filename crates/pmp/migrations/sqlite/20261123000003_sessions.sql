-- Browser sessions. Only the SHA-256 of the cookie value is stored, so a copy of the database
-- opens no session. Idle and absolute expiry are enforced on every lookup. `id` names a session
-- on the sessions page without revealing anything about its token.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ip TEXT NOT NULL,
    user_agent TEXT NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
