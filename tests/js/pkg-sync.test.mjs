// resyncUsers and verifySync of pkg-js in Node against the fake Clerk Backend API: the core's
// job (src/admin/sync/, through src/js_sync.rs) driven with fetch, an in-memory table with the
// webhook rules, and a virtual clock for the waits (one test uses real timers).
// Needs `npm --prefix pkg-js run build` first (scripts/test.sh does it).
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { resyncUsers, SyncError, verifySync } from "../../pkg-js/index.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";

const SECRET_KEY = "sk_test_pkg_sync_secret_0123456789";

let clerk;
before(async () => {
  clerk = await startFakeClerk({ secretKey: SECRET_KEY });
});
after(() => clerk.close());
beforeEach(() => {
  clerk.clearFaults();
  for (const id of [...clerk.state.users.keys()]) clerk.deleteUser(id);
  clerk.requests.length = 0;
});

/** The user as the table stores it (the Worker's `users` columns). */
function record(user) {
  const email = user.email_addresses.find((e) => e.id === user.primary_email_address_id);
  return {
    id: user.id,
    primary_email: email ? email.email_address : null,
    first_name: user.first_name,
    last_name: user.last_name,
    banned: user.banned,
    updated_at: user.updated_at,
  };
}

/** An application table with the webhook route's guarded upsert, counting every write. */
function table() {
  const rows = new Map();
  const tombstones = new Set();
  const writes = new Map();
  return {
    rows,
    tombstones,
    writes,
    getUsers: async (ids) => ids.filter((id) => rows.has(id)).map((id) => ({ ...rows.get(id) })),
    getTombstones: async (ids) => ids.filter((id) => tombstones.has(id)),
    upsertUser: async (user) => {
      const row = rows.get(user.id);
      if (tombstones.has(user.id) || (row && row.updated_at > user.updated_at)) return false;
      rows.set(user.id, { ...user });
      writes.set(user.id, (writes.get(user.id) ?? 0) + 1);
      return true;
    },
    listUsers: async (afterId, limit) =>
      [...rows.keys()]
        .sort()
        .filter((id) => afterId === null || id > afterId)
        .slice(0, limit)
        .map((id) => ({ id, updated_at: rows.get(id).updated_at })),
  };
}

/** A virtual clock: waits advance it at once and are recorded. */
function clock() {
  const c = { t: Date.now(), sleeps: [] };
  c.now = () => c.t;
  c.sleep = async (ms) => {
    c.sleeps.push(ms);
    c.t += ms;
  };
  return c;
}

function options(t, c, extra = {}) {
  const lines = [];
  return {
    lines,
    secretKey: SECRET_KEY,
    apiUrl: clerk.url,
    reason: "INC-7",
    pageSize: 100,
    getUsers: t.getUsers,
    upsertUser: t.upsertUser,
    getTombstones: t.getTombstones,
    now: c.now,
    sleep: c.sleep,
    log: (line) => lines.push(line),
    ...extra,
  };
}

function assertNoSecret(...values) {
  for (const value of values) {
    assert.ok(!JSON.stringify(value).includes(SECRET_KEY), `the secret key leaked: ${JSON.stringify(value).slice(0, 300)}`);
  }
}

const listRequests = () => clerk.requestsTo("listUsers");

test("resyncUsers applies every Clerk user once, page by page, with the webhook rules", async () => {
  const users = clerk.addUsers(1_234, { seed: 11 });
  const t = table();
  // Drift: 50 stale rows, 20 newer rows (kept), 3 tombstoned ids (never brought back).
  for (const user of users.slice(0, 50)) t.rows.set(user.id, { ...record(user), first_name: "Stale", updated_at: user.updated_at - 1 });
  for (const user of users.slice(50, 70)) t.rows.set(user.id, { ...record(user), last_name: "Newer", updated_at: user.updated_at + 1 });
  for (const user of users.slice(70, 73)) t.tombstones.add(user.id);
  const c = clock();
  const progress = [];
  const o = options(t, c, { onProgress: (status, cursor) => progress.push([status, cursor]) });
  const result = await resyncUsers(o);

  assert.equal(result.state, "done");
  assert.equal(result.lastError, null);
  assert.equal(result.total_users, 1_234);
  assert.equal(result.users_seen, 1_234);
  assert.equal(result.pages, 13);
  assert.deepEqual(
    [result.inserted, result.updated, result.unchanged, result.kept_newer, result.conflicts, result.written, result.raced],
    [1_234 - 73, 50, 0, 20, 3, 1_234 - 73 + 50, 0],
  );
  assert.equal(typeof result.cursor, "string");
  // Every write once; newer rows and tombstones untouched; rows say what Clerk says.
  assert.equal(t.writes.size, 1_234 - 73 + 50);
  assert.ok([...t.writes.values()].every((n) => n === 1));
  assert.equal(t.rows.get(users[55].id).last_name, "Newer");
  assert.ok(!t.rows.has(users[71].id));
  assert.deepEqual(t.rows.get(users[500].id), record(users[500]));
  assert.deepEqual(t.rows.get(users[10].id), record(users[10]));
  // Cursor pages, oldest first; one count call; progress after every page.
  const lists = listRequests();
  assert.equal(lists.length, 13);
  assert.equal(clerk.requestsTo("countUsers").length, 1);
  for (const [index, request] of lists.entries()) {
    const query = new URLSearchParams(request.query);
    assert.equal(query.get("order_by"), "+created_at");
    assert.equal(query.get("limit"), "100");
    assert.equal(query.has("offset"), false);
    assert.equal(query.get("starting_after"), index === 0 ? null : users[index * 100 - 1].id);
  }
  assert.equal(progress.length, 13);
  assert.deepEqual(progress.map(([s]) => s.pages), Array.from({ length: 13 }, (_, i) => i + 1));
  assert.equal(progress[12][0].state, "done");
  assert.equal(progress[5][0].state, "running");
  // The audit lines: start and done, with the reason and the counters.
  const events = o.lines.map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => [e.event, e.action, e.operator_reason]), [
    ["admin.resync", "start", "INC-7"],
    ["admin.resync", "done", "INC-7"],
  ]);
  assert.equal(events[1].inserted, 1_234 - 73);
  assertNoSecret(result, progress, o.lines);

  // A second run finds everything in place and writes nothing.
  const again = await resyncUsers(options(t, c));
  assert.equal(again.state, "done");
  assert.deepEqual([again.inserted, again.updated, again.unchanged, again.written], [0, 0, 1_234 - 3 - 20, 0]);
  assert.ok([...t.writes.values()].every((n) => n === 1));
});

test("a 429 burst is waited out as Retry-After asks, and is not an error", async () => {
  clerk.addUsers(250, { seed: 12 });
  clerk.setFault("listUsers", { kind: "rate-limit", retryAfter: 4, times: 3 });
  const t = table();
  const c = clock();
  const result = await resyncUsers(options(t, c));
  assert.equal(result.state, "done");
  assert.equal(result.inserted, 250);
  assert.equal(result.errors, 0);
  assert.equal(result.rate_limited_seconds, 12);
  assert.deepEqual(c.sleeps, [4_000, 4_000, 4_000]);
  assert.equal(listRequests().filter((r) => r.status === 429).length, 3);
});

test("a rate limit is waited out with real timers too", async () => {
  clerk.addUsers(30, { seed: 13 });
  clerk.setFault("countUsers", { kind: "rate-limit", retryAfter: 1, times: 1 });
  const t = table();
  const started = Date.now();
  const { now: _now, sleep: _sleep, ...real } = options(t, clock());
  const result = await resyncUsers(real);
  assert.equal(result.state, "done");
  assert.equal(result.inserted, 30);
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
});

test("5xx answers back off, then the run fails; its cursor resumes it and each user is written once", async () => {
  const users = clerk.addUsers(450, { seed: 14 });
  const t = table();
  const c = clock();
  const o = options(t, c, {
    onProgress: (status) => {
      // Clerk falls over after the second page.
      if (status.pages === 2) clerk.setFault("listUsers", { kind: "error", status: 500, times: 8 });
    },
  });
  const failed = await resyncUsers(o);
  assert.equal(failed.state, "failed");
  assert.equal(failed.pages, 2);
  assert.equal(failed.errors, 8);
  assert.match(failed.lastError, /500/);
  assert.match(failed.lastError, /resume/);
  assert.equal(failed.lastError, failed.last_error);
  // Exponential backoff between the attempts: 1 s, 2 s, 4 s, … capped at 60 s.
  assert.deepEqual(c.sleeps, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000]);
  assert.equal(t.rows.size, 200);
  assertNoSecret(failed, o.lines);
  assert.deepEqual(
    o.lines.map((line) => JSON.parse(line)).map((e) => [e.action, e.state]),
    [["start", "running"], ["failed", "failed"]],
  );

  const before = listRequests().length;
  const resumed = await resyncUsers(options(t, c, { cursor: failed.cursor, reason: "INC-7 resume" }));
  assert.equal(resumed.state, "done");
  assert.equal(resumed.resumes, 1);
  assert.equal(resumed.last_operator_reason, "INC-7 resume");
  assert.equal(resumed.inserted, 450);
  assert.equal(resumed.pages, 5);
  assert.equal(t.rows.size, 450);
  assert.equal(t.writes.size, 450);
  assert.ok([...t.writes.values()].every((n) => n === 1), "each user upserted once");
  const first = new URLSearchParams(listRequests()[before].query);
  assert.equal(first.get("starting_after"), users[199].id);
  // A finished run has nothing to resume.
  await assert.rejects(resyncUsers(options(t, c, { cursor: resumed.cursor })), (error) => {
    assert.ok(error instanceof SyncError);
    assert.equal(error.code, "nothing-to-resume");
    assert.equal(error.status, 409);
    return true;
  });
});

test("an abort stops the run after the current page, cancelled; its cursor resumes it", async () => {
  clerk.addUsers(520, { seed: 15 });
  const t = table();
  const c = clock();
  const controller = new AbortController();
  const aborted = await resyncUsers(
    options(t, c, {
      signal: controller.signal,
      onProgress: (status) => {
        if (status.pages === 3) controller.abort();
      },
    }),
  );
  assert.equal(aborted.state, "cancelled");
  assert.equal(aborted.pages, 3);
  assert.equal(t.rows.size, 300);
  assert.match(aborted.last_operator_reason, /aborted/);

  const done = await resyncUsers(options(t, c, { cursor: aborted.cursor }));
  assert.equal(done.state, "done");
  assert.equal(done.inserted, 520);
  assert.ok([...t.writes.values()].every((n) => n === 1));
  assert.equal(t.writes.size, 520);
});

test("an abort during a wait ends it at once", async () => {
  clerk.addUsers(10, { seed: 16 });
  clerk.setFault("countUsers", { kind: "rate-limit", retryAfter: 600, times: 1 });
  const t = table();
  const { now: _now, sleep: _sleep, ...real } = options(t, clock());
  const started = Date.now();
  const result = await resyncUsers({ ...real, signal: AbortSignal.timeout(200) });
  assert.equal(result.state, "cancelled");
  assert.ok(Date.now() - started < 5_000);
  assert.equal(t.rows.size, 0);
  const done = await resyncUsers({ ...real, cursor: result.cursor });
  assert.equal(done.state, "done");
  assert.equal(t.rows.size, 10);
});

test("a dry run counts and writes nothing; its cursor cannot become a real run", async () => {
  const users = clerk.addUsers(120, { seed: 17 });
  const t = table();
  t.rows.set(users[0].id, { ...record(users[0]), first_name: "Old", updated_at: 1 });
  const c = clock();
  const controller = new AbortController();
  const dry = await resyncUsers(
    options(t, c, {
      dryRun: true,
      upsertUser: undefined,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    }),
  );
  assert.equal(dry.state, "cancelled");
  assert.equal(dry.dry_run, true);
  await assert.rejects(resyncUsers(options(t, c, { cursor: dry.cursor, dryRun: false })), { code: "invalid-field" });
  const finished = await resyncUsers(options(t, c, { cursor: dry.cursor, upsertUser: () => assert.fail("a dry run writes") }));
  assert.equal(finished.state, "done");
  assert.deepEqual([finished.inserted, finished.updated, finished.written], [119, 1, 0]);
  assert.equal(t.rows.size, 1);
  assert.equal(t.rows.get(users[0].id).first_name, "Old");
});

test("refusals: options the core refuses reject with its codes; a bad key fails the run", async () => {
  const t = table();
  const c = clock();
  await assert.rejects(resyncUsers(options(t, c, { reason: "" })), { name: "SyncError", code: "invalid-field", status: 400 });
  await assert.rejects(resyncUsers(options(t, c, { pageSize: 501 })), (error) => {
    assert.equal(error.code, "invalid-field");
    assert.match(error.message, /1 to 500/);
    return true;
  });
  await assert.rejects(resyncUsers(options(t, c, { cursor: "{}" })), { code: "invalid-cursor" });
  await assert.rejects(resyncUsers(options(t, c, { getUsers: undefined })), TypeError);
  await assert.rejects(resyncUsers(options(t, c, { upsertUser: undefined })), TypeError);

  clerk.addUsers(5, { seed: 18 });
  const wrongKey = "sk_test_not_the_key_987654321";
  const o = options(t, c, { secretKey: wrongKey });
  const refused = await resyncUsers(o);
  assert.equal(refused.state, "failed");
  assert.match(refused.lastError, /CLERK_SECRET_KEY/);
  assert.equal(clerk.requests.length, 1, "a refused key is not retried");
  assert.ok(!JSON.stringify([refused, o.lines]).includes(wrongKey));

  const missing = await resyncUsers(options(t, c, { secretKey: undefined }));
  assert.equal(missing.state, "failed");
  assert.match(missing.lastError, /CLERK_SECRET_KEY is not set/);
  assert.equal(clerk.requests.length, 1, "no request without a key");
});

test("a failing callback fails the run without applying the page; a resume takes it again", async () => {
  clerk.addUsers(150, { seed: 19 });
  const t = table();
  const c = clock();
  let calls = 0;
  const flaky = async (user) => {
    calls += 1;
    if (calls === 120) throw new Error(`db down (connection string had ${SECRET_KEY})`);
    return t.upsertUser(user);
  };
  const o = options(t, c, { upsertUser: flaky });
  const failed = await resyncUsers(o);
  assert.equal(failed.state, "failed");
  assert.equal(failed.pages, 1);
  assert.equal(failed.errors, 1);
  assert.match(failed.lastError, /storage: upsertUser failed \(db down/);
  assert.match(failed.lastError, /\[redacted\]/);
  assertNoSecret(failed, o.lines);

  const done = await resyncUsers(options(t, c, { cursor: failed.cursor }));
  assert.equal(done.state, "done");
  assert.equal(t.rows.size, 150);
  // The 19 users written before the failure are found in place the second time.
  assert.deepEqual([done.inserted, done.unchanged], [131, 19]);

  const badRows = await resyncUsers(options(table(), c, { getUsers: async () => [{ id: "x", updated_at: "yesterday" }] }));
  assert.equal(badRows.state, "failed");
  assert.match(badRows.lastError, /getUsers failed .*updated_at/);
});

test("verifySync reports missing, differing and extra rows, then nothing after a resync", async () => {
  const users = clerk.addUsers(640, { seed: 20 });
  const t = table();
  for (const user of users.slice(0, 600)) t.rows.set(user.id, record(user));
  // 40 missing; 7 differ (names, banned); 2 extra rows of users gone long ago.
  for (const user of users.slice(0, 5)) t.rows.get(user.id).first_name = "Drifted";
  for (const user of users.slice(5, 7)) t.rows.get(user.id).banned = !user.banned;
  for (const id of ["user_zz_gone_1", "user_zz_gone_2"]) {
    t.rows.set(id, { id, primary_email: null, first_name: null, last_name: null, banned: false, updated_at: 1_600_000_000_000 });
  }
  const c = clock();
  const progress = [];
  const o = {
    secretKey: SECRET_KEY,
    apiUrl: clerk.url,
    pageSize: 200,
    getUsers: t.getUsers,
    listUsers: t.listUsers,
    getTombstones: t.getTombstones,
    onProgress: (status) => progress.push(status),
    now: c.now,
    sleep: c.sleep,
    log: null,
  };
  const report = await verifySync(o);
  assert.equal(report.state, "done");
  assert.equal(report.in_sync, false);
  assert.equal(report.differences, 40 + 7 + 2);
  assert.equal(report.report.missing_in_edge.count, 40);
  assert.deepEqual(report.report.missing_in_edge.sample, users.slice(600).map((u) => u.id));
  assert.equal(report.report.differ.count, 7);
  assert.deepEqual(report.report.differ_by_field, { banned: 2, first_name: 5 });
  assert.deepEqual(report.report.missing_in_clerk.sample, ["user_zz_gone_1", "user_zz_gone_2"]);
  assert.equal(report.report.edge_rows, 602);
  assert.equal(report.report.matching, 593);
  assert.equal(progress.length, 4);
  assert.equal(report.cursor, undefined);
  assertNoSecret(report, progress);
  assert.equal(t.writes.size, 0, "verify writes nothing");

  // The resync fixes the missing and differing rows (it never removes rows).
  const resynced = await resyncUsers(options(t, c, { log: null }));
  assert.deepEqual([resynced.inserted, resynced.updated], [40, 7]);
  const after = await verifySync(o);
  assert.equal(after.report.missing_in_edge.count, 0);
  assert.equal(after.report.differ.count, 0);
  assert.equal(after.report.missing_in_clerk.count, 2);
  // The rows of deleted users go as a user.deleted webhook removes them.
  for (const id of ["user_zz_gone_1", "user_zz_gone_2"]) {
    t.rows.delete(id);
    t.tombstones.add(id);
  }
  const clean = await verifySync({ ...o, reason: "after INC-7" });
  assert.equal(clean.state, "done");
  assert.equal(clean.differences, 0);
  assert.equal(clean.in_sync, true);
  assert.equal(clean.report.matching, 640);
});

test("verifySync: users changed in the edge just now are not judged; listUsers is required", async () => {
  clerk.addUsers(3, { seed: 21 });
  const t = table();
  const c = clock();
  t.rows.set("user_zz_fresh", { id: "user_zz_fresh", primary_email: null, first_name: null, last_name: null, banned: false, updated_at: c.t - 60_000 });
  const base = { secretKey: SECRET_KEY, apiUrl: clerk.url, getUsers: t.getUsers, now: c.now, sleep: c.sleep, log: null };
  await assert.rejects(verifySync(base), TypeError);
  const report = await verifySync({ ...base, listUsers: t.listUsers });
  assert.equal(report.report.changed_during_check, 1);
  assert.equal(report.report.missing_in_clerk.count, 0);
  assert.equal(report.report.missing_in_edge.count, 3);
});

test("a cursor stored by onProgress survives a crash: the run continues after that page", async () => {
  clerk.addUsers(330, { seed: 22 });
  const t = table();
  const c = clock();
  let stored = null;
  const crashed = await resyncUsers(
    options(t, c, {
      onProgress: (status, cursor) => {
        if (status.pages === 3) throw new Error("the process died here");
        stored = cursor;
      },
    }),
  );
  // The throwing onProgress ends the run after its page; the cursor of page 2 is still good.
  assert.equal(crashed.state, "failed");
  assert.match(crashed.lastError, /onProgress failed \(the process died here\)/);
  assert.equal(crashed.pages, 3);
  assert.equal(t.rows.size, 300);
  const continued = await resyncUsers(options(t, c, { cursor: stored, reason: "after the crash" }));
  assert.equal(continued.state, "done");
  assert.equal(continued.resumes, 0, "a running job continues as it is");
  // Page 3 is taken again (its rows are found in place), then the rest.
  assert.deepEqual([continued.inserted, continued.unchanged, continued.written], [230, 100, 230]);
  assert.ok([...t.writes.values()].every((n) => n === 1));
});

// The main entry's edge build (edge.js) registers no resync wasm: there, resyncUsers and
// verifySync must refuse and say where to import them from. A fresh instance of sync.js has
// no loader, as under edge.js.
test("without the resync's wasm (the main entry on the edge), resyncUsers and verifySync name clerk-edge-guard/sync", async () => {
  const edgeSync = await import("../../pkg-js/sync.js?as-under-edge-entry");
  for (const [name, call] of [
    ["resyncUsers", () => edgeSync.resyncUsers({ secretKey: "sk_test_x", reason: "r", dryRun: true })],
    ["verifySync", () => edgeSync.verifySync({ secretKey: "sk_test_x", listUsers: async () => [] })],
  ]) {
    await assert.rejects(call, (error) => {
      assert.match(error.message, new RegExp(`^${name}: .*clerk-edge-guard/sync`));
      return true;
    });
  }
});
