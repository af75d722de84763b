-- Who acted and how (`user`, `token:ID`, `system`, `anonymous`), on what, with what outcome,
-- in which request: the audit entry answers "who did what, when, from where" by itself.
-- Older entries keep empty values, and their hashes stay valid (see `audit::chain::hash`).
ALTER TABLE security_events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE security_events ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE security_events ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
ALTER TABLE security_events ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
