-- The audit trail is hash-chained: each event carries the hash of the event before it and its
-- own hash over both, so an edited, deleted or reordered entry breaks the chain at that point
-- (`pmp audit verify`). Events written before this migration have no hashes and come first.
ALTER TABLE security_events ADD COLUMN prev_hash TEXT;
ALTER TABLE security_events ADD COLUMN hash TEXT;
