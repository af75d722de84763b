-- Proxmox VE servers (a cluster or a single node) the portal manages. Credentials are sealed
-- with the data key (XChaCha20-Poly1305, bound to the server and the field), never stored in
-- the clear. Each member (node) is reached at its own URL and pinned to its own certificate.
CREATE TABLE servers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    -- 'token' (auth_id is user@realm!name) or 'password' (auth_id is user@realm).
    auth_kind TEXT NOT NULL,
    auth_id TEXT NOT NULL,
    secret TEXT NOT NULL,
    totp TEXT,
    enabled BOOLEAN NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);

CREATE TABLE server_members (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (server_id, name)
);

-- What a PVE-backed job must remember to resume after a crash (the UPID it follows, the log
-- lines already copied), so a new worker follows the same task instead of starting another.
ALTER TABLE jobs ADD COLUMN checkpoint TEXT;
