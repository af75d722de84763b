-- What a job acts on (`server/vmid` for guest operations), so job lists filter by target.
ALTER TABLE jobs ADD COLUMN target TEXT;
CREATE INDEX jobs_target ON jobs (target);
