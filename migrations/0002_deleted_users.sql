-- Tombstones of users deleted through the user.deleted webhook.
--
-- Svix does not keep deliveries in order: a user.updated sent before the deletion can arrive
-- (or be retried) after it. Without a record of the deletion that late upsert would bring the
-- user back into `users`. Clerk never reuses a user id, so a tombstone is final: the webhook
-- route inserts into `users` only when no row for the id is here. One small row per deleted
-- user; `users` itself keeps only live users, so readers need no extra filter.
CREATE TABLE IF NOT EXISTS deleted_users (
  id TEXT PRIMARY KEY,
  -- When the edge processed the deletion, Unix milliseconds.
  deleted_at INTEGER NOT NULL
);
