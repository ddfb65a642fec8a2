-- The resync and integrity-check jobs (POST /__clerk/admin/resync, /verify-sync).
--
-- One row per kind ('resync', 'verify'): the current or last job, as the JSON the core
-- (src/admin/sync/) reads back. `version` goes up with every commit: a step commits its
-- writes only while the version it read is still current, so a cancel, or a second runner,
-- can never interleave with a half-applied page. `state` mirrors the JSON's for SQL guards.
CREATE TABLE IF NOT EXISTS sync_jobs (
  kind TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  job TEXT NOT NULL
);

-- The Clerk user ids a job's walk has seen, so that its sweep can find rows whose user no
-- longer exists in Clerk. Emptied when the job starts and when it ends.
CREATE TABLE IF NOT EXISTS sync_seen (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  PRIMARY KEY (kind, id)
);
