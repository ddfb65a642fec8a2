// The webhook-outage runbook end to end: resync, verify-sync and export of the built Worker
// in workerd (`wrangler dev`, its Durable Object and local D1), against the fake Backend API
// (tests/support/fake-clerk.mjs) serving a generated population with cursor pagination.
// Asserted on what an operator sees: the routes' answers, the job's status while it runs,
// the exported NDJSON, what the fake was asked, and the audit lines.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startWorker, svixHeaders } from "./support/index.mjs";

const SECRET_KEY = "sk_test_resyncE2eSecretKey9a8b7c6d5e4f3a2b1c";
const ADMIN_TOKEN = "admin-resync-e2e-token-5b7d9f1a3c5e7092-aa";
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;

const RESYNC = "/__clerk/admin/resync";
const VERIFY = "/__clerk/admin/verify-sync";
const EXPORT = "/__clerk/admin/export";

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const jsonAdmin = { ...admin, "content-type": "application/json" };

async function call(worker, path, { method = "GET", body, headers } = {}) {
  const res = await worker.fetch(path, {
    method,
    headers: headers ?? (body === undefined ? admin : jsonAdmin),
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** Polls a job's status until it leaves `running` (or `until` says stop). */
async function waitForJob(worker, path, { timeoutMs = 240_000, until = (job) => job.state !== "running" } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status, json } = await call(worker, path);
    assert.equal(status, 200);
    if (json.job && until(json.job)) return json.job;
    if (Date.now() > deadline) throw new Error(`job still ${json.job?.state} after ${timeoutMs} ms: ${JSON.stringify(json)}`);
    await sleep(150);
  }
}

async function exportLines(worker) {
  const res = await worker.fetch(EXPORT, { headers: admin });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^application\/x-ndjson/);
  const text = await res.text();
  return text.trimEnd().split("\n").map((line) => JSON.parse(line));
}

function svixDelivery(type, data) {
  const message = { id: `msg_${randomUUID()}`, body: JSON.stringify({ type, object: "event", timestamp: Date.now(), data }) };
  return { body: message.body, headers: svixHeaders(message, { secret: WEBHOOK_SECRET }) };
}

function workerVars(clerk) {
  return {
    ORIGIN_URL: "http://127.0.0.1:9",
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_API_URL: clerk.url,
    CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
    CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
  };
}

describe("resync, verify-sync and export in wrangler dev", () => {
  let clerk;
  let worker;

  before(async () => {
    clerk = await startFakeClerk({ secretKey: SECRET_KEY });
    worker = await startWorker({ vars: workerVars(clerk) });
  });

  after(async () => {
    await worker?.stop();
    await clerk?.close();
  });

  test("bad input gets a clear error and changes nothing", async () => {
    const before = await call(worker, RESYNC);
    assert.equal(before.status, 200);
    assert.equal(before.json.job, null);
    assert.match(before.json.message, /no resync has run yet/);

    const cases = [
      [{ body: "{" }, 400, "invalid-json"],
      [{ body: "[]" }, 422, "body-not-object"],
      [{ body: {} }, 422, "invalid-field"],
      [{ body: { reason: "r", page_size: 501 } }, 422, "invalid-field"],
      [{ body: { reason: "r", page_size: "10" } }, 422, "invalid-field"],
      [{ body: { reason: "r", dry_run: "yes" } }, 422, "invalid-field"],
      [{ body: { reason: "r", force: true } }, 422, "unknown-field"],
      [{ body: '{"reason":"a","reason":"b"}' }, 422, "duplicate-field"],
      [{ body: { reason: "r", resume: true, page_size: 10 } }, 422, "invalid-field"],
      [{ body: { reason: "r" }, headers: { ...admin, "content-type": "text/plain" } }, 415, "unsupported-media-type"],
      [{ body: { reason: "x".repeat(9000) } }, 413, "body-too-large"],
      [{ body: { reason: "r" }, headers: { authorization: "Bearer wrong-token-0000000000000000000", "content-type": "application/json" } }, 401, "admin-token-invalid"],
      [{ body: { reason: "r" }, headers: { "content-type": "application/json" } }, 401, "admin-token-missing"],
      [{ body: { reason: "r", resume: true } }, 409, "nothing-to-resume"],
    ];
    for (const [options, status, code] of cases) {
      const answer = await call(worker, RESYNC, { method: "POST", ...options });
      assert.equal(answer.status, status, `${JSON.stringify(options).slice(0, 80)}: ${answer.text}`);
      assert.equal(answer.json.error, code);
      assert.ok(answer.json.message.length > 10, answer.text);
    }
    const verifyOnly = await call(worker, VERIFY, { method: "POST", body: { reason: "r", dry_run: true } });
    assert.equal(verifyOnly.status, 422);
    assert.match(verifyOnly.json.message, /reason, page_size, resume/);

    for (const path of [`${RESYNC}/cancel`, `${VERIFY}/cancel`]) {
      const cancelNothing = await call(worker, path, { method: "POST", body: { reason: "r" } });
      assert.equal(cancelNothing.status, 409, path);
      assert.equal(cancelNothing.json.error, "nothing-to-cancel");
    }
    const cancelWithoutReason = await call(worker, `${VERIFY}/cancel`, { method: "POST", body: {} });
    assert.equal(cancelWithoutReason.status, 422);

    for (const [path, method, allow] of [
      [`${RESYNC}/cancel`, "GET", "POST"],
      [EXPORT, "POST", "GET"],
      [RESYNC, "DELETE", "GET, POST"],
    ]) {
      const answer = await call(worker, path, { method, headers: admin });
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.equal(answer.headers.get("allow"), allow);
    }

    // Nothing was started, and the table is empty.
    assert.equal((await call(worker, RESYNC)).json.job, null);
    assert.equal((await call(worker, VERIFY)).json.job, null);
    const lines = await exportLines(worker);
    assert.deepEqual(lines.at(-1), { type: "end", users: 0, tombstones: 0 });
    const denied = worker.auditEvents().filter((e) => e.event === "admin.denied");
    assert.ok(denied.some((e) => e.reason === "admin-token-invalid"));
  });

  test("webhooks delivered during a resync are not undone by it", async () => {
    const users = clerk.addUsers(3_000, { seed: 11 });
    // The walk is oldest first: the last users are reached last.
    const late = users.at(-2);
    const deleted = users.at(-1);
    clerk.setFault("listUsers", { kind: "delay", ms: 250 });
    const started = await call(worker, RESYNC, { method: "POST", body: { reason: "INC-7 webhook outage" } });
    assert.equal(started.status, 202, started.text);
    assert.equal(started.json.job.state, "running");

    const second = await call(worker, RESYNC, { method: "POST", body: { reason: "again" } });
    assert.equal(second.status, 409);
    assert.equal(second.json.error, "job-running");
    assert.equal(second.json.job.id, started.json.job.id);

    // A newer update and a deletion, delivered while the walk has not reached the users.
    const update = svixDelivery("user.updated", {
      ...late,
      first_name: "FromWebhook",
      updated_at: late.updated_at + 60_000,
    });
    const updated = await worker.fetch("/__clerk/webhooks", { method: "POST", headers: update.headers, body: update.body });
    assert.equal(updated.status, 200, await updated.text());
    const removal = svixDelivery("user.deleted", { id: deleted.id, object: "user", deleted: true });
    const removed = await worker.fetch("/__clerk/webhooks", { method: "POST", headers: removal.headers, body: removal.body });
    assert.equal(removed.status, 200, await removed.text());

    const running = await call(worker, RESYNC);
    assert.equal(running.json.job.state, "running", "the webhooks landed before the walk ended");
    clerk.setFault("listUsers", null);
    const job = await waitForJob(worker, RESYNC);
    assert.equal(job.state, "done");
    assert.equal(job.users_seen, 3_000);
    assert.equal(job.kept_newer, 1);
    assert.equal(job.conflicts, 1);
    assert.equal(job.inserted, 2_998);
    assert.equal(job.written, 2_998);

    const lines = await exportLines(worker);
    const byId = new Map(lines.filter((l) => l.type === "user").map((l) => [l.id, l]));
    assert.equal(byId.get(late.id).first_name, "FromWebhook");
    assert.equal(byId.has(deleted.id), false);
    assert.ok(lines.some((l) => l.type === "tombstone" && l.id === deleted.id));

    // The check says exactly that: one row newer than Clerk's answer, one tombstoned id.
    const check = await call(worker, VERIFY, { method: "POST", body: { reason: "INC-7 check" } });
    assert.equal(check.status, 202, check.text);
    const verified = await waitForJob(worker, VERIFY);
    assert.equal(verified.in_sync, false);
    assert.equal(verified.differences, 2);
    assert.deepEqual(verified.report.differ.sample, [late.id]);
    assert.deepEqual(verified.report.differ_by_field, { first_name: 1 });
    assert.deepEqual(verified.report.tombstoned.sample, [deleted.id]);

    // Clerk catches up (as it would have: the webhooks came from it): zero differences.
    clerk.updateUser(late.id, { first_name: "FromWebhook", updated_at: late.updated_at + 60_000 });
    clerk.deleteUser(deleted.id);
    await call(worker, VERIFY, { method: "POST", body: { reason: "INC-7 check 2" } });
    const clean = await waitForJob(worker, VERIFY);
    assert.equal(clean.differences, 0);
    assert.equal(clean.in_sync, true);
  });

  test("429 and 500 bursts are waited out; a cancel stops it and a resume finishes it", async () => {
    const changed = [...clerk.state.users.values()].slice(0, 500);
    for (const user of changed) clerk.updateUser(user.id, { last_name: "Renamed" });
    clerk.setFault("*", { kind: "error", status: 500, times: 3 });
    clerk.setFault("listUsers", { kind: "rate-limit", retryAfter: 1, times: 3 });
    await call(worker, RESYNC, { method: "POST", body: { reason: "INC-8", page_size: 250 } });
    const job = await waitForJob(worker, RESYNC);
    assert.equal(job.state, "done", job.last_error);
    assert.equal(job.errors, 3);
    assert.equal(job.rate_limited_seconds, 3);
    assert.equal(job.updated, 500);
    assert.equal(job.unchanged, 2_499);
    assert.equal(job.pages, 12);

    // Cancel mid-run, then resume.
    clerk.setFault("listUsers", { kind: "delay", ms: 300 });
    await call(worker, RESYNC, { method: "POST", body: { reason: "INC-9", page_size: 100 } });
    await waitForJob(worker, RESYNC, { until: (j) => j.pages >= 3 });
    const cancelled = await call(worker, `${RESYNC}/cancel`, { method: "POST", body: { reason: "wrong time" } });
    assert.equal(cancelled.status, 200, cancelled.text);
    assert.equal(cancelled.json.job.state, "cancelled");
    await sleep(800);
    const still = (await call(worker, RESYNC)).json.job;
    assert.equal(still.state, "cancelled");
    const pagesAtCancel = still.pages;
    await sleep(700);
    assert.equal((await call(worker, RESYNC)).json.job.pages, pagesAtCancel, "a cancelled job takes no step");
    clerk.setFault("listUsers", null);
    const resumed = await call(worker, RESYNC, { method: "POST", body: { reason: "INC-9 resume", resume: true } });
    assert.equal(resumed.status, 202, resumed.text);
    assert.equal(resumed.json.job.resumes, 1);
    const done = await waitForJob(worker, RESYNC);
    assert.equal(done.state, "done");
    assert.equal(done.users_seen, 2_999);
    assert.equal(done.unchanged, 2_999);

    const lines = worker.auditEvents().filter((e) => e.event === "admin.resync" && e.job_id === done.id);
    assert.deepEqual(
      lines.map((e) => e.action),
      ["start", "cancel", "resume", "done"],
    );
    assert.deepEqual(
      lines.map((e) => e.operator_reason),
      ["INC-9", "wrong time", "INC-9 resume", "INC-9"],
    );
  });

  test("rows of users deleted in Clerk: reported by the check, removed by remove_deleted", async () => {
    // Created by webhook an hour ago; Clerk no longer has them (their user.deleted was lost).
    const ghosts = ["user_ghost_1", "user_ghost_2", "user_ghost_3"];
    for (const id of ghosts) {
      const created = svixDelivery("user.created", {
        id,
        object: "user",
        first_name: "Ghost",
        last_name: null,
        banned: false,
        primary_email_address_id: null,
        email_addresses: [],
        updated_at: Date.now() - 3_600_000,
      });
      const res = await worker.fetch("/__clerk/webhooks", { method: "POST", headers: created.headers, body: created.body });
      assert.equal(res.status, 200, await res.text());
    }
    await call(worker, VERIFY, { method: "POST", body: { reason: "INC-12" } });
    const found = await waitForJob(worker, VERIFY);
    assert.deepEqual(found.report.missing_in_clerk, { count: 3, sample: ghosts });
    assert.equal(found.differences, 3);

    await call(worker, RESYNC, { method: "POST", body: { reason: "INC-12", remove_deleted: true, dry_run: true } });
    const dry = await waitForJob(worker, RESYNC);
    assert.equal(dry.state, "done", dry.last_error);
    assert.equal(dry.removed, 3);
    assert.equal(dry.written, 0);
    let lines = await exportLines(worker);
    assert.equal(lines.filter((l) => l.type === "user" && ghosts.includes(l.id)).length, 3, "a dry run removes nothing");

    await call(worker, RESYNC, { method: "POST", body: { reason: "INC-12", remove_deleted: true } });
    const done = await waitForJob(worker, RESYNC);
    assert.equal(done.removed, 3);
    assert.equal(done.written, 3);
    assert.equal(done.unchanged, 2_999);
    lines = await exportLines(worker);
    assert.equal(lines.filter((l) => l.type === "user" && ghosts.includes(l.id)).length, 0);
    assert.deepEqual(
      lines.filter((l) => l.type === "tombstone" && ghosts.includes(l.id)).map((l) => l.id),
      ghosts,
    );
    await call(worker, VERIFY, { method: "POST", body: { reason: "INC-12 check" } });
    const clean = await waitForJob(worker, VERIFY);
    assert.equal(clean.in_sync, true, JSON.stringify(clean.report));
  });

  test("100,000 users: resynced, verified and exported", async (t) => {
    clerk.addUsers(100_000, { seed: 12 });
    const before = clerk.requestsTo("listUsers").length;
    const t0 = Date.now();
    const started = await call(worker, RESYNC, { method: "POST", body: { reason: "INC-10 full resync" } });
    assert.equal(started.status, 202);
    const midway = await waitForJob(worker, RESYNC, { until: (j) => j.state !== "running" || j.users_seen >= 20_000 });
    if (midway.state === "running") {
      assert.ok(midway.total_users >= 102_999);
      assert.equal(typeof midway.eta_seconds, "number");
      assert.ok(midway.users_per_second > 0);
    }
    const job = await waitForJob(worker, RESYNC);
    const wallMs = Date.now() - t0;
    assert.equal(job.state, "done");
    assert.equal(job.inserted, 100_000);
    assert.equal(job.unchanged, 2_999);
    assert.equal(job.written, 100_000);
    const listCalls = clerk.requestsTo("listUsers").length - before;
    assert.equal(listCalls, 206, "205 full pages of 500 and the short last one");
    t.diagnostic(
      `resync of 102,999 users (100,000 new): ${wallMs} ms wall, ${Math.round(102_999 / (wallMs / 1000))} users/s, ` +
        `${job.api_calls} Backend API calls (${listCalls} pages + 1 count)`,
    );

    const v0 = Date.now();
    await call(worker, VERIFY, { method: "POST", body: { reason: "INC-10 check" } });
    const verified = await waitForJob(worker, VERIFY);
    assert.equal(verified.in_sync, true, JSON.stringify(verified.report));
    assert.equal(verified.report.edge_rows, 102_999);
    t.diagnostic(`verify-sync of 102,999 users: ${Date.now() - v0} ms wall`);

    const e0 = Date.now();
    const lines = await exportLines(worker);
    assert.equal(lines[0].type, "export");
    assert.deepEqual(lines.at(-1), { type: "end", users: 102_999, tombstones: 4 });
    assert.equal(lines.length, 1 + 102_999 + 4 + 1);
    const ids = lines.filter((l) => l.type === "user").map((l) => l.id);
    assert.deepEqual(ids, [...ids].sort(), "users in id order");
    assert.equal(new Set(ids).size, ids.length);
    t.diagnostic(`export of 102,999 users: ${Date.now() - e0} ms`);

    // Secrets never reach a log line.
    const output = worker.output();
    for (const secret of [SECRET_KEY, ADMIN_TOKEN, WEBHOOK_SECRET]) assert.ok(!output.includes(secret));
  });
});

describe("a resync survives a restart of wrangler dev", () => {
  let clerk;
  let first;
  let second;

  before(async () => {
    clerk = await startFakeClerk({ secretKey: SECRET_KEY });
  });

  after(async () => {
    await first?.stop();
    await second?.stop();
    second?.removeState?.();
    await clerk?.close();
  });

  test("stopped mid-run, started again on the same state: every user written once", async () => {
    clerk.addUsers(20_000, { seed: 21 });
    clerk.setFault("listUsers", { kind: "delay", ms: 200 });
    first = await startWorker({ vars: workerVars(clerk), keepPersistDir: true });
    const started = await call(first, RESYNC, { method: "POST", body: { reason: "INC-11" } });
    assert.equal(started.status, 202);
    const midway = await waitForJob(first, RESYNC, { until: (j) => j.pages >= 10 });
    assert.equal(midway.state, "running");
    await first.stop();

    clerk.setFault("listUsers", null);
    second = await startWorker({ vars: workerVars(clerk), persistDir: first.persistDir });
    // The status read re-arms the runner if its alarm did not survive the restart.
    const job = await waitForJob(second, RESYNC);
    assert.equal(job.state, "done", job.last_error);
    assert.equal(job.id, started.json.job.id);
    assert.equal(job.users_seen, 20_000);
    assert.equal(job.inserted, 20_000);
    assert.equal(job.written, 20_000);
    assert.ok(job.pages >= 40);
    // At most the page in flight at the stop was asked twice.
    const pages = clerk.requestsTo("listUsers").length;
    assert.ok(pages <= 42, `${pages} list calls`);

    await call(second, VERIFY, { method: "POST", body: { reason: "INC-11 check" } });
    const verified = await waitForJob(second, VERIFY);
    assert.equal(verified.differences, 0);
    assert.equal(verified.report.edge_rows, 20_000);
  });
});
