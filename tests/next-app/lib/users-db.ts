// The app's own copy of its users, in SQLite through Node's built-in `node:sqlite` (Node
// >= 22.5; no native dependency): the tables of the Worker's D1 schema
// (migrations/0001_init.sql `users`, migrations/0002_deleted_users.sql `deleted_users`), and
// the webhook route's guarded upsert: a stored row newer than the write is kept, and an id
// with a tombstone is never brought back. Route handlers using it run on the Node runtime.
//
// The file is USERS_DB_PATH, else `.data/users.db` under the app's directory (git-ignored).
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";

import type { StoredUserRow, SyncUser } from "clerk-edge-guard";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  primary_email TEXT,
  first_name TEXT,
  last_name TEXT,
  banned INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deleted_users (
  id TEXT PRIMARY KEY,
  deleted_at INTEGER NOT NULL
);
`;

/** The Worker's statement (src/worker/webhooks.rs): insert or update, never over a newer row
 * or a tombstone. */
const UPSERT_USER_SQL = `
INSERT INTO users (id, primary_email, first_name, last_name, banned, updated_at)
SELECT ?1, ?2, ?3, ?4, ?5, ?6
WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE id = ?1)
ON CONFLICT(id) DO UPDATE SET
  primary_email = excluded.primary_email,
  first_name = excluded.first_name,
  last_name = excluded.last_name,
  banned = excluded.banned,
  updated_at = excluded.updated_at
WHERE excluded.updated_at >= users.updated_at`;

/** Ids per `IN (…)` query: far below SQLite's limit on bound parameters. */
const CHUNK = 500;

const globalKey = Symbol.for("clerk-edge-guard-example.users-db");
type Cached = { path: string; db: DatabaseSync };

export function usersDbPath(): string {
  return process.env.USERS_DB_PATH || join(process.cwd(), ".data", "users.db");
}

/** The database, opened (and its tables created) once per process. */
export function usersDb(): DatabaseSync {
  const path = usersDbPath();
  const holder = globalThis as unknown as Record<symbol, Cached | undefined>;
  const cached = holder[globalKey];
  if (cached && cached.path === path) return cached.db;
  mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
  db.exec(SCHEMA);
  holder[globalKey] = { path, db };
  return db;
}

function chunks(ids: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < ids.length; i += CHUNK) out.push(ids.slice(i, i + CHUNK));
  return out;
}

/** The stored rows of these ids (`banned` as SQLite's 0/1, which resyncUsers accepts). */
export function getUsers(ids: string[]): StoredUserRow[] {
  const db = usersDb();
  return chunks(ids).flatMap((part) =>
    db
      .prepare(
        `SELECT id, primary_email, first_name, last_name, banned, updated_at FROM users WHERE id IN (${part.map(() => "?").join(",")})`,
      )
      .all(...part) as unknown as StoredUserRow[],
  );
}

/** Which of these ids were deleted (a processed user.deleted). */
export function getTombstones(ids: string[]): string[] {
  const db = usersDb();
  return chunks(ids).flatMap((part) =>
    (
      db
        .prepare(`SELECT id FROM deleted_users WHERE id IN (${part.map(() => "?").join(",")})`)
        .all(...part) as Array<{ id: string }>
    ).map((row) => row.id),
  );
}

/** The guarded upsert; false when the row was newer or the id is tombstoned. */
export function upsertUser(user: SyncUser): boolean {
  const result = usersDb()
    .prepare(UPSERT_USER_SQL)
    .run(user.id, user.primary_email, user.first_name, user.last_name, user.banned ? 1 : 0, user.updated_at);
  return Number(result.changes) > 0;
}

/** Removes a user and records the tombstone (what user.deleted does), in one transaction. */
export function deleteUser(id: string, now = Date.now()): void {
  const db = usersDb();
  db.exec("BEGIN IMMEDIATE");
  try {
    db.prepare("DELETE FROM users WHERE id = ?").run(id);
    db.prepare("INSERT INTO deleted_users (id, deleted_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING").run(id, now);
    db.exec("COMMIT");
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

/** Up to `limit` rows with ids after `afterId`, in id order: the integrity check's sweep. */
export function listUsers(afterId: string | null, limit: number): Array<{ id: string; updated_at: number }> {
  const db = usersDb();
  const rows =
    afterId === null
      ? db.prepare("SELECT id, updated_at FROM users ORDER BY id LIMIT ?").all(limit)
      : db.prepare("SELECT id, updated_at FROM users WHERE id > ? ORDER BY id LIMIT ?").all(afterId, limit);
  return rows as Array<{ id: string; updated_at: number }>;
}
