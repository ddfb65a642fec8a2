// Every dependency failing, in workerd (`wrangler dev`): one test per row of the README's
// "When a dependency fails" table, asserting what the user gets (status, body, headers),
// what the operator gets (the audit line, health, the diagnosis) and that nothing is lost
// (a webhook is applied on redelivery, a revoke that did not reach KV does not say success).
//
// Faults:
// - KV and D1: the built Worker behind fault-injecting bindings (support/faulty-bindings.mjs),
//   switched at runtime through the wrapper's own route; the production build carries no
//   trace of it (last test).
// - Backend API and JWKS: the fake Backend API's faults (tests/support/fake-clerk.mjs).
// - Frontend API: the fake Frontend API's faults (tests/support/fake-frontend-api.mjs).
//
// Worker starts: three, at once (bindings, Backend API/JWKS, handshake).
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { DOCUMENT_HEADERS, HttpClient, formatTrace } from "./support/cookie-jar.mjs";
import { FAULT_ROUTE, startFaultyWorker } from "./support/faulty-bindings.mjs";
import { seedExpiredSession, startInstance } from "./support/handshake.mjs";
import { repoRoot, startOrigin, startWorker, svixHeaders } from "./support/index.mjs";
import { createSigningKey, jwksOf, mintToken, sessionClaims } from "./support/tokens.mjs";

const SECRET_KEY = "sk_test_faultsE2eSecretKey7c1d9e3b5a2f40688e";
const ADMIN_TOKEN = "faults-e2e-admin-token-5e2b8c1d9f3a4760-aa17";
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;

const unique = (prefix) => `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 16)}`;

/** Reads an answer: status, headers, JSON body (or text), and how long it took. */
async function call(worker, path, init = {}) {
  const tag = `faults-e2e/${randomBytes(6).toString("hex")}`;
  const started = performance.now();
  const res = await worker.fetch(path, { ...init, headers: { "user-agent": tag, ...init.headers } });
  const text = await res.text();
  const ms = performance.now() - started;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body, text, ms, tag };
}

/** The audit line of the call tagged `tag` with event `event`. */
const lineOf = (worker, answer, event) =>
  worker.waitForAudit((e) => e.user_agent === answer.tag && e.event === event, 5_000);

const bearer = (token) => ({ authorization: `Bearer ${token}` });
const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };
/** An admin POST (revoke, restore) with a JSON body. */
const adminPost = (worker, path, body) =>
  call(worker, path, { method: "POST", headers: adminHeaders, body: JSON.stringify(body) });

/** A Svix delivery of a Clerk event (re-signed per attempt, as Svix does). */
function delivery(type, data) {
  return { id: `msg_${randomUUID()}`, body: JSON.stringify({ type, object: "event", timestamp: Date.now(), data }) };
}
const deliver = (worker, message) =>
  call(worker, "/__clerk/webhooks", { method: "POST", headers: svixHeaders(message, { secret: WEBHOOK_SECRET }), body: message.body });
const userData = (id) => ({
  id,
  object: "user",
  primary_email_address_id: `idn_${id}`,
  email_addresses: [{ id: `idn_${id}`, email_address: `${id}@example.test` }],
  first_name: "Ada",
  last_name: "Lovelace",
  banned: false,
  created_at: 1_767_225_600_000,
  updated_at: Date.now(),
});

/** The diagnosis' verdict per check. */
async function verdicts(worker) {
  const answer = await call(worker, "/__clerk/admin/diagnose", { headers: adminHeaders });
  assert.equal(answer.status, 200, answer.text);
  return Object.fromEntries(answer.body.checks.map((c) => [c.name, c.verdict]));
}

let origin;
before(async () => {
  origin = await startOrigin();
});
after(() => origin?.close());

describe("KV (CLERK_EDGE) and D1 (CLERK_DB) failing", () => {
  let key;
  let clerk;
  let worker;

  before(async () => {
    key = await createSigningKey("ins_faults_bindings");
    clerk = await startFakeClerk({ secretKey: SECRET_KEY });
    worker = await startFaultyWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_JWT_KEY: key.pem,
        CLERK_SECRET_KEY: SECRET_KEY,
        CLERK_API_URL: clerk.url,
        CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
        CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
        CLERK_STATUS_URL: `${clerk.url}/status.json`,
      },
    });
  });

  after(async () => {
    await worker?.setFaults({}).catch(() => {});
    await worker?.stop();
    await clerk?.close();
  });

  /** A signed-in request of a new user and session (so no deny-list read is cached). */
  async function signedIn(path = "/faults/page") {
    const sub = unique("user");
    const sid = unique("sess");
    const token = await mintToken(key, sessionClaims({ sub, sid }));
    return { sub, sid, token, ask: () => call(worker, path, { headers: bearer(token) }) };
  }

  /** The 500 of a protected request whose deny-list read failed, and its worker.error line. */
  async function assertFailedClosed(answer, problem) {
    assert.equal(answer.status, 500, answer.text);
    assert.equal(answer.body.error, "internal-error");
    assert.match(answer.body.message, /deny-list could not be read/);
    assert.equal(answer.headers.get("x-echo-origin"), null, "nothing was forwarded");
    assert.equal(answer.headers.get("cache-control"), "no-store");
    const line = await lineOf(worker, answer, "worker.error");
    assert.equal(line.level, "error");
    assert.equal(line.reason, "internal-error");
    assert.equal(line.detail, "deny-list");
    assert.match(line.problem, problem);
    assert.equal(line.status, 500);
    assert.equal(line.request_id, answer.body.request_id);
  }

  test("KV read fails or times out: signed-in requests fail closed (500), worker.error names the deny-list, diagnose fails deny_list", async () => {
    for (const [fault, problem, atLeastMs] of [
      [{ kind: "error" }, /^KV CLERK_EDGE read failed$/, 0],
      [{ kind: "timeout", ms: 800 }, /^KV CLERK_EDGE read failed$/, 750],
    ]) {
      const user = await signedIn();
      await worker.setFaults({ "kv.read": fault });
      const refused = await user.ask();
      await assertFailedClosed(refused, problem);
      assert.ok(refused.ms >= atLeastMs, `${fault.kind}: answered after the binding gave up (${refused.ms.toFixed(0)} ms)`);
      const checks = await verdicts(worker);
      assert.equal(checks.deny_list, "fail", JSON.stringify(checks));
      const health = await call(worker, "/__clerk/health");
      assert.equal(health.body.status, "ok", "health reads no binding: the diagnosis is where a KV outage shows");
      await worker.setFaults({});
      assert.equal((await user.ask()).status, 200, `${fault.kind}: the same token passes once KV answers`);
    }
  });

  test("KV read hangs: the edge's own 2 s deadline fails the request closed instead of hanging", async () => {
    const user = await signedIn();
    await worker.setFaults({ "kv.read": { kind: "hang" } });
    const refused = await user.ask();
    await worker.setFaults({});
    await assertFailedClosed(refused, /^KV CLERK_EDGE read: no answer within 2000 ms$/);
    assert.ok(refused.ms >= 1_900 && refused.ms < 5_000, `bounded by the deadline (${refused.ms.toFixed(0)} ms)`);
  });

  test("KV read slow (400 ms): signed in, the wait shows in Server-Timing's clerk-denylist", async () => {
    const user = await signedIn();
    await worker.setFaults({ "kv.read": { kind: "slow", ms: 400 } });
    const answer = await user.ask();
    await worker.setFaults({});
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get("x-echo-origin"), "1");
    const timing = answer.headers.get("server-timing");
    const denylist = Number(/clerk-denylist;dur=([\d.]+)/.exec(timing)?.[1]);
    assert.ok(denylist >= 350, `clerk-denylist shows the slow reads: ${timing}`);
  });

  test("KV write fails or times out on admin revoke: 500 (never success), admin.revoke ok:false; repeated once KV is back, the user is refused", async () => {
    for (const fault of [{ kind: "error" }, { kind: "timeout", ms: 800 }]) {
      const user = await signedIn();
      clerk.addSession({ id: user.sid, user_id: user.sub });
      assert.equal((await user.ask()).status, 200);
      await worker.setFaults({ "kv.write": fault });
      const body = { user_id: user.sub, reason: "INC-faults" };
      const failed = await adminPost(worker, "/__clerk/admin/revoke", body);
      await worker.setFaults({});
      assert.equal(failed.status, 500, failed.text);
      assert.equal(failed.body.edge_deny_listed, false, failed.text);
      assert.match(failed.body.message, /edge deny-list write FAILED/);
      const line = await lineOf(worker, failed, "admin.revoke");
      assert.equal(line.ok, false);
      assert.equal(line.status, 500);
      assert.equal(line.edge_deny_listed, false);
      assert.equal(line.operator_reason, "INC-faults");
      // Repeating the call (as the answer says) is what makes it stick.
      const repeated = await adminPost(worker, "/__clerk/admin/revoke", body);
      assert.equal(repeated.status, 200, repeated.text);
      assert.equal(repeated.body.edge_deny_listed, true);
      const refused = await user.ask();
      assert.equal(refused.status, 401, `${fault.kind}: ${refused.text}`);
      assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");
    }
  });

  test("KV write slow (500 ms) on admin revoke: 200, the answer waits for the write", async () => {
    const user = await signedIn();
    clerk.addSession({ id: user.sid, user_id: user.sub });
    await worker.setFaults({ "kv.write": { kind: "slow", ms: 500 } });
    const done = await adminPost(worker, "/__clerk/admin/revoke", { session_id: user.sid, reason: "INC-slow-kv" });
    await worker.setFaults({});
    assert.equal(done.status, 200, done.text);
    assert.equal(done.body.edge_deny_listed, true);
    assert.ok(done.ms >= 500, `the write was awaited (${done.ms.toFixed(0)} ms)`);
    assert.equal((await user.ask()).headers.get("x-clerk-auth-reason"), "session-revoked");
  });

  test("KV write fails on a session.revoked webhook: 500 (Svix redelivers), nothing recorded; the redelivery applies it", async () => {
    const user = await signedIn();
    const message = delivery("session.revoked", { id: user.sid, object: "session", user_id: user.sub, status: "revoked" });
    await worker.setFaults({ "kv.write": { kind: "error" } });
    const failed = await deliver(worker, message);
    await worker.setFaults({});
    assert.equal(failed.status, 500, failed.text);
    assert.equal(failed.body.error, "not-processed");
    assert.match(failed.body.message, /kv failed.*Svix will redeliver/);
    const line = await lineOf(worker, failed, "webhook.failed");
    assert.deepEqual([line.step, line.svix_id, line.status], ["kv", message.id, 500]);
    const redelivered = await deliver(worker, message);
    assert.equal(redelivered.status, 200, redelivered.text);
    assert.equal(redelivered.body.duplicate, undefined, "applied, not taken for a duplicate");
    assert.equal((await user.ask()).headers.get("x-clerk-auth-reason"), "session-revoked");
  });

  /** Whether the users table holds `id`, read through the export route. */
  async function exported(id) {
    const answer = await call(worker, "/__clerk/admin/export", { headers: adminHeaders });
    assert.equal(answer.status, 200, answer.text);
    return answer.text.includes(`"${id}"`);
  }

  test("D1 read or write fails or times out on a webhook: 500 (Svix redelivers), the row is not written; the redelivery writes it", async () => {
    for (const [operation, fault] of [
      ["d1.read", { kind: "error" }],
      ["d1.write", { kind: "error" }],
      ["d1.write", { kind: "timeout", ms: 800 }],
    ]) {
      const id = unique("user");
      const message = delivery("user.created", userData(id));
      await worker.setFaults({ [operation]: fault });
      const failed = await deliver(worker, message);
      await worker.setFaults({});
      const context = `${operation} ${fault.kind}: ${failed.text}`;
      assert.equal(failed.status, 500, context);
      assert.match(failed.body.message, /d1 failed.*Svix will redeliver/, context);
      const line = await lineOf(worker, failed, "webhook.failed");
      assert.deepEqual([line.step, line.svix_id, line.type], ["d1", message.id, "user.created"], context);
      assert.equal(await exported(id), false, `${context}: nothing half-written`);
      const redelivered = await deliver(worker, message);
      assert.equal(redelivered.status, 200, redelivered.text);
      assert.equal(redelivered.body.duplicate, undefined, "applied, not taken for a duplicate");
      assert.equal(await exported(id), true, `${context}: the redelivery wrote the row`);
      assert.equal((await deliver(worker, message)).body.duplicate, true, "and is recorded once applied");
    }
  });

  test("D1 slow (500 ms): the webhook is applied (200), within Svix's 15 s", async () => {
    const id = unique("user");
    await worker.setFaults({ "d1.read": { kind: "slow", ms: 500 }, "d1.write": { kind: "slow", ms: 500 } });
    const applied = await deliver(worker, delivery("user.created", userData(id)));
    await worker.setFaults({});
    assert.equal(applied.status, 200, applied.text);
    assert.ok(applied.ms >= 1_000, `both D1 steps waited (${applied.ms.toFixed(0)} ms)`);
    assert.equal(await exported(id), true);
  });

  test("D1 failing: protected requests do not use it (still 200); diagnose fails d1, the export ends with an error line", async () => {
    const user = await signedIn();
    await worker.setFaults({ "d1.read": { kind: "error" }, "d1.write": { kind: "error" } });
    try {
      assert.equal((await user.ask()).status, 200);
      const checks = await verdicts(worker);
      assert.equal(checks.d1, "fail", JSON.stringify(checks));
      assert.equal(checks.deny_list, "ok");
      // Streamed: the 200 and its header line leave before D1 is read, so the failure is the
      // last line (never the "end" line a complete export closes with).
      const exportAnswer = await call(worker, "/__clerk/admin/export", { headers: adminHeaders });
      const lines = exportAnswer.text.trim().split("\n").map((line) => JSON.parse(line));
      assert.equal(lines.at(-1).type, "error", exportAnswer.text);
      assert.match(lines.at(-1).message, /reading D1 failed.*incomplete, run it again/);
      assert.ok(!lines.some((line) => line.type === "end"), exportAnswer.text);
    } finally {
      await worker.setFaults({});
    }
  });
});

describe("the Backend API and its JWKS failing", () => {
  let key;
  let clerk;
  let worker;

  before(async () => {
    key = await createSigningKey("ins_faults_jwks");
    clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key) });
    worker = await startWorker({
      vars: { ORIGIN_URL: origin.url, CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url, CLERK_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  });

  after(async () => {
    await worker?.stop();
    await clerk?.close();
  });

  const ask = async (sub = unique("user")) =>
    call(worker, "/faults/jwks", { headers: bearer(await mintToken(key, sessionClaims({ sub, sid: unique("sess") }))) });
  // The JWKS is fetched at most once per 5 s per isolate, failed attempts included.
  const fetchInterval = () => sleep(5_100);

  test("JWKS 5xx or timeout with no key cached: 401 jwk-remote-failed-to-load, keys.refresh_failed, health degraded", async () => {
    for (const [fault, problem, atLeastMs] of [
      [{ kind: "error", status: 503 }, /HTTP 503/, 0],
      [{ kind: "hang" }, /no answer within 1200 ms/, 1_150],
    ]) {
      clerk.setFault("jwks", fault);
      const refused = await ask();
      clerk.clearFaults();
      assert.equal(refused.status, 401, refused.text);
      assert.equal(refused.headers.get("x-clerk-auth-reason"), "jwk-remote-failed-to-load");
      assert.ok(refused.ms >= atLeastMs && refused.ms < 4_000, `one bounded attempt (${refused.ms.toFixed(0)} ms)`);
      const line = await lineOf(worker, refused, "keys.refresh_failed");
      assert.match(line.problem, problem);
      const denied = await lineOf(worker, refused, "auth.denied");
      assert.equal(denied.status, 401);
      const health = await call(worker, "/__clerk/health");
      assert.equal(health.body.status, "degraded", health.text);
      await fetchInterval();
    }
  });

  test("JWKS slow (700 ms): signed in, the wait shows in Server-Timing's clerk-jwks; health back to ok", async () => {
    clerk.setFault("jwks", { kind: "delay", ms: 700, times: 1 });
    const answer = await ask();
    assert.equal(answer.status, 200, answer.text);
    const jwks = Number(/clerk-jwks;dur=([\d.]+)/.exec(answer.headers.get("server-timing"))?.[1]);
    assert.ok(jwks >= 650, answer.headers.get("server-timing"));
    assert.equal((await call(worker, "/__clerk/health")).body.status, "ok");
  });

  test("Backend API 5xx on admin revoke: 502 naming Clerk, the edge entry written first (the user is refused), retried 3 times", async () => {
    const sub = unique("user");
    clerk.addSession({ id: unique("sess"), user_id: sub });
    clerk.requests.length = 0;
    clerk.setFault("*", { kind: "error", status: 503 });
    const answer = await adminPost(worker, "/__clerk/admin/revoke", { user_id: sub, reason: "INC-5xx" });
    clerk.clearFaults();
    assert.equal(answer.status, 502, answer.text);
    assert.equal(answer.body.edge_deny_listed, true);
    assert.match(answer.body.message, /retry the call when Clerk is back/);
    assert.equal(clerk.requests.filter((r) => r.route === "listSessions").length, 3, "3 attempts, backed off");
    const line = await lineOf(worker, answer, "admin.revoke");
    assert.deepEqual([line.ok, line.status, line.edge_deny_listed], [false, 502, true]);
    const refused = await ask(sub);
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");
    // Diagnose says what is wrong while it lasts.
    clerk.setFault("listUsers", { kind: "error", status: 503 });
    const checks = await verdicts(worker);
    clerk.clearFaults();
    assert.equal(checks.backend_api, "fail", JSON.stringify(checks));
  });

  test("Backend API slow (600 ms) on admin revoke: 200, every Clerk call awaited", async () => {
    const sub = unique("user");
    const sid = unique("sess");
    clerk.addSession({ id: sid, user_id: sub });
    clerk.setFault("*", { kind: "delay", ms: 600 });
    const answer = await adminPost(worker, "/__clerk/admin/revoke", { user_id: sub, reason: "INC-slow" });
    clerk.clearFaults();
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body.revoked, [sid], answer.text);
    assert.ok(answer.ms >= 1_200, `list + revoke, both slow (${answer.ms.toFixed(0)} ms)`);
    assert.equal(clerk.state.sessions.get(sid).status, "revoked");
  });
});

describe("the Frontend API failing (Clerk's handshake)", () => {
  let instance;
  let worker;

  before(async () => {
    instance = await startInstance({ secretKey: SECRET_KEY, kid: "ins_faults_fapi" });
    worker = await startWorker({
      vars: { ORIGIN_URL: origin.url, CLERK_JWT_KEY: instance.key.pem, ...instance.appEnv(instance.pkLive) },
    });
  });

  after(async () => {
    await worker?.stop();
    await instance?.close();
  });

  /** A browser with an expired session of the instance's user, for `maxHops` requests. */
  async function returningVisitor(maxHops) {
    const client = new HttpClient({ maxHops });
    await seedExpiredSession(client.jar, worker.url, instance.key, { sub: instance.userId, sid: instance.sessionId });
    origin.clear();
    return client;
  }

  test("Frontend API 5xx: the edge's 307 to it is immediate; the browser gets Clerk's error, the origin nothing", async () => {
    instance.reset();
    instance.fapi.setFault({ kind: "error", status: 503 });
    try {
      const client = await returningVisitor(4);
      const result = await client.get(`${worker.url}/faults/page`, { headers: DOCUMENT_HEADERS });
      const context = formatTrace(result.trace);
      assert.deepEqual(result.trace.map((hop) => hop.status), [307, 503], context);
      assert.equal(result.trace[0].headers.get("x-clerk-auth-status"), "handshake", context);
      assert.equal(origin.requests.length, 0, "nothing reached the origin");
      const line = await worker.waitForAudit((e) => e.auth_status === "handshake" && e.path === "/faults/page");
      assert.equal(line.status, 307);
    } finally {
      instance.fapi.setFault(null);
    }
  });

  test("Frontend API hangs: the edge never waits on it (its 307 comes at once); only the browser's hop hangs", async () => {
    instance.reset();
    instance.fapi.setFault({ kind: "hang" });
    try {
      const client = await returningVisitor(1);
      const started = performance.now();
      const edge = await client.get(`${worker.url}/faults/page`, { headers: DOCUMENT_HEADERS });
      const edgeMs = performance.now() - started;
      assert.equal(edge.status, 307, formatTrace(edge.trace));
      assert.ok(edgeMs < 1_000, `the edge answered in ${edgeMs.toFixed(0)} ms`);
      const location = edge.trace[0].rawLocation;
      await assert.rejects(fetch(location, { redirect: "manual", signal: AbortSignal.timeout(1_000) }), /TimeoutError|aborted/);
    } finally {
      instance.fapi.setFault(null);
    }
  });

  test("Frontend API slow (800 ms): the handshake completes and the page is served signed in", async () => {
    instance.reset();
    instance.fapi.setFault({ kind: "delay", ms: 800 });
    try {
      const client = await returningVisitor(4);
      const result = await client.get(`${worker.url}/faults/page`, { headers: DOCUMENT_HEADERS });
      assert.equal(result.status, 200, formatTrace(result.trace));
      assert.equal(origin.requests.at(-1).headers["x-clerk-user-id"], instance.userId);
    } finally {
      instance.fapi.setFault(null);
    }
  });
});

test("the production build carries no trace of the fault switch", () => {
  for (const file of ["index.js", "index_bg.wasm"]) {
    const bytes = readFileSync(join(repoRoot, "build", file));
    // What the wrapper imports is there, so the search below reads a real build.
    assert.ok(bytes.includes(Buffer.from("SyncRunner")) || bytes.includes(Buffer.from("syncrunner")), `build/${file} is the built Worker`);
    for (const trace of [FAULT_ROUTE, "test-only-fault", "injected fault", "faulty-bindings"]) {
      assert.equal(bytes.includes(Buffer.from(trace)), false, `build/${file} contains "${trace}"`);
    }
  }
});
