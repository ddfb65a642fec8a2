-- Users kept in sync from Clerk webhooks (user.created / user.updated / user.deleted) and
-- the ban flag set by the admin routes.
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  primary_email TEXT,
  first_name TEXT,
  last_name TEXT,
  banned INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);

-- One row per Svix delivery id: a redelivery of an already processed webhook is answered
-- 200 {"duplicate":true} without being applied twice.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
  svix_id TEXT PRIMARY KEY,
  event_type TEXT,
  received_at INTEGER NOT NULL
);
