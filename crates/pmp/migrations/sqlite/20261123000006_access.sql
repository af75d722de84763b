-- Authorization: roles (sets of privileges), groups of users, and ACL entries granting a role
-- to a user or a group on a path. Built-in roles are rewritten from the code's definition at
-- every start, so their privileges cannot drift. Administrators become an ACL entry (the
-- Administrator role on `/`), replacing the old `users.is_admin` flag.
CREATE TABLE roles (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    builtin BOOLEAN NOT NULL,
    privileges TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO roles (id, name, builtin, privileges, created_at) VALUES
    ('administrator', 'Administrator', TRUE, '', 0),
    ('operator', 'Operator', TRUE, '', 0),
    ('viewer', 'Viewer', TRUE, '', 0),
    ('auditor', 'Auditor', TRUE, '', 0),
    ('tenant', 'Tenant', TRUE, '', 0);

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES user_groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Exactly one of user_id and group_id is set.
CREATE TABLE acl (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    group_id TEXT REFERENCES user_groups (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    propagate BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
CREATE UNIQUE INDEX acl_user_entry ON acl (user_id, path, role_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX acl_group_entry ON acl (group_id, path, role_id) WHERE group_id IS NOT NULL;
CREATE INDEX acl_group ON acl (group_id);

INSERT INTO acl (id, user_id, group_id, path, role_id, propagate, created_at)
    SELECT 'admin-' || id, id, NULL, '/', 'administrator', TRUE, created_at
    FROM users WHERE is_admin = TRUE;
ALTER TABLE users DROP COLUMN is_admin;

-- A personal API token may be limited to one role on one path (and below).
ALTER TABLE api_tokens ADD COLUMN scope_role_id TEXT REFERENCES roles (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN scope_path TEXT;
