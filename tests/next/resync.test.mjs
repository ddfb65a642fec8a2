// The example app's resync and integrity check end to end in a real Next.js production
// server: its route handlers (app/api/admin/resync, app/api/admin/verify-sync, Node runtime)
// run the package's resyncUsers / verifySync against the fake Backend API and keep the users
// in SQLite (lib/users-db.ts, node:sqlite), which the test then reads itself.
//
// Needs `npm --prefix pkg-js run build` first; installs and builds the app itself, sharing the
// build with the handshake tests (support/built-app.mjs).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { ensureAppBuilt } from "./support/built-app.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_resync_secret_key_0123";
const ADMIN_TOKEN = "next-resync-admin-token-0123456789abcdef";

let clerk;
let app;
let dir;
let dbPath;
let users;

before(async () => {
  const { built, ms } = await ensureAppBuilt();
  console.log(`next-app ${built ? "installed and built" : "build reused"} in ${ms} ms`);
  clerk = await startFakeClerk({ secretKey: SECRET_KEY });
  users = clerk.addUsers(730, { seed: 31 });
  dir = mkdtempSync(join(tmpdir(), "ceg-next-resync-"));
  dbPath = join(dir, "users.db");
  app = await startApp({
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_API_URL: clerk.url,
    CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
    USERS_DB_PATH: dbPath,
  });
});

after(async () => {
  await app?.stop();
  await clerk?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function post(path, body, token = ADMIN_TOKEN) {
  const headers = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return fetch(`${app.url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

function readRows() {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    return db.prepare("SELECT id, primary_email, first_name, last_name, banned, updated_at FROM users ORDER BY id").all();
  } finally {
    db.close();
  }
}

test("POST resync fills the SQLite users table, verify-sync then finds it in sync; a bad token gets 401", async () => {
  for (const [token, code] of [
    [null, "admin-token-missing"],
    ["not-the-admin-token", "admin-token-invalid"],
  ]) {
    for (const path of ["/api/admin/resync", "/api/admin/verify-sync"]) {
      const refused = await post(path, { reason: "INC-9" }, token);
      assert.equal(refused.status, 401, path);
      assert.equal(refused.headers.get("www-authenticate"), "Bearer");
      assert.equal((await refused.json()).error, code);
    }
  }
  assert.equal(clerk.requests.length, 0, "nothing reached Clerk");

  const noReason = await post("/api/admin/resync", {});
  assert.equal(noReason.status, 400);
  assert.equal((await noReason.json()).error, "invalid-field");

  const response = await post("/api/admin/resync", { reason: "INC-9", page_size: 200 });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("cache-control"), "no-store");
  const result = await response.json();
  assert.equal(result.state, "done", JSON.stringify(result));
  assert.equal(result.inserted, 730);
  assert.equal(result.written, 730);
  assert.equal(result.pages, 4);
  assert.equal(typeof result.cursor, "string");

  const rows = readRows();
  assert.equal(rows.length, 730);
  const byId = new Map(rows.map((row) => [row.id, row]));
  for (const user of [users[0], users[365], users[729]]) {
    const row = byId.get(user.id);
    assert.equal(row.first_name, user.first_name);
    assert.equal(row.last_name, user.last_name);
    assert.equal(row.banned, user.banned ? 1 : 0);
    assert.equal(row.updated_at, user.updated_at);
    assert.match(row.primary_email, /@example\.com$/);
  }

  const verified = await post("/api/admin/verify-sync", { reason: "after INC-9" });
  assert.equal(verified.status, 200);
  const report = await verified.json();
  assert.equal(report.state, "done");
  assert.equal(report.in_sync, true, JSON.stringify(report.report));
  assert.equal(report.differences, 0);
  assert.equal(report.report.matching, 730);
  assert.equal(report.report.edge_rows, 730);

  // A change in Clerk the webhook missed: the check sees it, a resync from scratch fixes it.
  clerk.updateUser(users[3].id, { first_name: "Changed" });
  const drifted = await (await post("/api/admin/verify-sync", {})).json();
  assert.equal(drifted.in_sync, false);
  assert.deepEqual(drifted.report.differ.sample, [users[3].id]);
  const again = await (await post("/api/admin/resync", { reason: "INC-9 again" })).json();
  assert.deepEqual([again.state, again.updated, again.unchanged], ["done", 1, 729]);
  assert.equal((await (await post("/api/admin/verify-sync", {})).json()).in_sync, true);

  // The audit lines of the runs are in the server's output; the secrets are not.
  await app.waitForAudit((e) => e.event === "admin.resync" && e.action === "done" && e.operator_reason === "INC-9");
  await app.waitForAudit((e) => e.event === "admin.verify_sync" && e.action === "done");
  assert.ok(!app.output().includes(SECRET_KEY));
  assert.ok(!app.output().includes(ADMIN_TOKEN));
});
