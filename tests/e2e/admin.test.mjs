// Admin revoke/restore end to end: the built Worker in workerd (`wrangler dev`), the fake
// Clerk Backend API (tests/support/fake-clerk.mjs) as CLERK_API_URL, an echo origin, and
// session tokens minted with jose. Every assertion is on what an operator or a user sees:
// status and JSON of the admin answer, what the fake Clerk received and now holds, whether a
// token still passes on a protected path, and the audit lines (parsed, field by field).
//
// Worker starts: one fully configured Worker for every admin case, then two small ones in
// parallel (admin token unset: 404; admin token too short: 500 misconfigured).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startOrigin, startWorker } from "./support/index.mjs";
import { createSigningKey, mintToken, sessionClaims } from "./support/tokens.mjs";

// Distinctive values that must never show up in a log line or an answer.
const SECRET_KEY = "sk_test_adminE2eSecretKey5f3a9c1e7b2d4068aa";
const ADMIN_TOKEN = "admin-e2e-token-3b9f1c7e5a2d4086-c4e1a9b7f3d5";
const WRONG_TOKEN = "admin-e2e-wrong-token-0d2f4b6a8c1e3957-77aa";

const REVOKE = "/__clerk/admin/revoke";
const RESTORE = "/__clerk/admin/restore";

/** Reads a response's body as JSON when it is JSON, else as text. */
async function read(res) {
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { res, status: res.status, headers: res.headers, body, text };
}

describe("admin routes with CLERK_ADMIN_TOKEN set", () => {
  let key;
  let origin;
  let clerk;
  let worker;
  const bodies = []; // every admin answer, checked for secrets at the end

  before(async () => {
    key = await createSigningKey("ins_admin_e2e");
    origin = await startOrigin();
    clerk = await startFakeClerk({ secretKey: SECRET_KEY });
    worker = await startWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_JWT_KEY: key.pem,
        CLERK_SECRET_KEY: SECRET_KEY,
        CLERK_API_URL: clerk.url,
        CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
      },
    });
  });

  after(async () => {
    await worker?.stop();
    await clerk?.close();
    await origin?.close();
  });

  /**
   * One admin call, tagged with a unique User-Agent so that its audit line can be found
   * (the `user_agent` field); returns the answer, its audit line and its duration.
   */
  async function admin(path, body, { token = ADMIN_TOKEN, headers = {}, method = "POST", raw } = {}) {
    const tag = `admin-e2e/${randomBytes(6).toString("hex")}`;
    const init = {
      method,
      headers: {
        "user-agent": tag,
        "content-type": "application/json",
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...headers,
      },
    };
    if (raw !== undefined) Object.assign(init, raw);
    else if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body);
    const started = performance.now();
    const answer = await read(await worker.fetch(path, init));
    answer.ms = performance.now() - started;
    bodies.push(answer.text);
    answer.audit = await worker.waitForAudit((event) => event.user_agent === tag);
    // Exactly one line per call: give a late duplicate a moment to show up.
    await sleep(50);
    const lines = worker.auditEvents().filter((event) => event.user_agent === tag);
    assert.equal(lines.length, 1, `one audit line per admin call, got ${JSON.stringify(lines)}`);
    return answer;
  }

  /** Whether a token of (sub, sid) passes on a protected path: "signed-in" or the reason. */
  async function access(sub, sid) {
    const token = await mintToken(key, sessionClaims({ sub, sid }));
    const res = await worker.fetch("/app/data", {
      headers: { authorization: `Bearer ${token}`, "user-agent": "admin-e2e-user" },
    });
    await res.arrayBuffer();
    if (res.status === 200) {
      assert.equal(res.headers.get("x-echo-origin"), "1", "a passing request reaches the origin");
      return "signed-in";
    }
    assert.equal(res.status, 401, `protected answer for ${sub}/${sid}`);
    assert.equal(res.headers.get("x-clerk-auth-status"), "signed-out");
    return res.headers.get("x-clerk-auth-reason");
  }

  /** The fake's requests made since `mark` (an index into its log). */
  const clerkCallsSince = (mark) => clerk.requests.slice(mark);

  /** Checks the fields every admin.revoke / admin.restore line has. */
  function assertAdminLine(audit, event, expected) {
    assert.equal(audit.event, event);
    assert.equal(audit.level, "warn");
    expected = { method: "POST", ...expected };
    assert.match(audit.ts, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(typeof audit.request_id, "string");
    for (const [name, value] of Object.entries(expected)) {
      assert.deepEqual(audit[name], value, `${event}.${name} in ${JSON.stringify(audit)}`);
    }
  }

  test("revoke by user: 101 active sessions over two pages of 100, all revoked, edge entry refuses the user", async () => {
    // The plan lists 100 sessions per page (LIST_PAGE_LIMIT, not configurable) and the fake
    // honours the limit it is sent, so two pages need more than 100 sessions. Tokens are
    // checked for three of them: the newest (page 1, first), one in the middle and the
    // oldest, which Clerk lists last (page 2).
    const user = "user_pages";
    const ids = Array.from({ length: 101 }, (_, i) => `sess_pages_${String(i).padStart(3, "0")}`);
    for (const id of ids) clerk.addSession({ id, user_id: user });
    clerk.addSession({ id: "sess_bystander", user_id: "user_bystander" });
    const watched = [ids[100], ids[50], ids[0]];
    for (const sid of watched) assert.equal(await access(user, sid), "signed-in", "before the revoke");

    const mark = clerk.requests.length;
    const answer = await admin(REVOKE, { user_id: user, reason: "INC-101 stolen laptop" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get("cache-control"), "no-store");
    assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
    const body = answer.body;
    assert.equal(body.action, "revoke");
    assert.equal(body.target, user);
    assert.equal(body.target_type, "user");
    assert.equal(body.dry_run, false);
    assert.equal(body.edge_deny_listed, true);
    assert.equal(body.sessions_found.length, 101);
    assert.deepEqual([...body.revoked].sort(), [...ids].sort());
    assert.deepEqual(body.failed, []);
    assert.equal(body.banned, null);
    assert.equal(body.clerk_reachable, true);
    assert.equal(body.message, "edge deny-list written; revoked 101 of 101 sessions at Clerk");

    const calls = clerkCallsSince(mark);
    const lists = calls.filter((c) => c.route === "listSessions");
    assert.deepEqual(
      lists.map((c) => c.query),
      [
        { user_id: user, limit: "100", offset: "0" },
        { user_id: user, limit: "100", offset: "100" },
      ],
    );
    assert.ok(calls.every((c) => c.authorized && c.apiVersion), "every call carries the secret key and API version");
    const revokes = calls.filter((c) => c.route === "revokeSession");
    assert.equal(revokes.length, 101);
    assert.equal(calls.length, 103, "two lists, 101 revokes, nothing else (no ban)");
    for (const id of ids) assert.equal(clerk.state.sessions.get(id).status, "revoked");
    assert.equal(clerk.state.sessions.get("sess_bystander").status, "active");
    assert.equal(clerk.state.users.get(user).banned, false);

    for (const sid of watched) assert.equal(await access(user, sid), "user-revoked", `token of ${sid}`);
    assert.equal(await access("user_bystander", "sess_bystander"), "signed-in", "another user is untouched");
    const denied = await worker.waitForAudit((e) => e.event === "auth.denied" && e.user_id === user);
    assert.equal(denied.reason, "user-revoked");

    assertAdminLine(answer.audit, "admin.revoke", {
      path: REVOKE,
      target: `user:${user}`,
      user_id: user,
      revoked_sessions: 101,
      failed_sessions: 0,
      sessions_found: 101,
      banned: false,
      ban_requested: false,
      edge_deny_listed: true,
      clerk_reachable: true,
      ok: true,
      status: 200,
      dry_run: false,
      operator_reason: "INC-101 stolen laptop",
    });
  });

  test("revoke by user without ban: pending sessions are revoked too, ended ones are left alone", async () => {
    const user = "user_pending";
    clerk.addSession({ id: "sess_pending_live", user_id: user });
    clerk.addSession({ id: "sess_pending_task", user_id: user, status: "pending" });
    clerk.addSession({ id: "sess_pending_old", user_id: user, status: "ended" });
    const answer = await admin(REVOKE, { user_id: user, reason: "INC-7 pending" });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual([...answer.body.sessions_found].sort(), ["sess_pending_live", "sess_pending_task"]);
    assert.deepEqual([...answer.body.revoked].sort(), ["sess_pending_live", "sess_pending_task"]);
    assert.equal(clerk.state.sessions.get("sess_pending_task").status, "revoked");
    assert.equal(clerk.state.sessions.get("sess_pending_old").status, "ended", "an ended session is not touched");
    assert.equal(clerk.state.users.get(user).banned, false);
  });

  test("dry run: lists only; nothing changes at Clerk or at the edge", async () => {
    const user = "user_dry";
    clerk.addSession({ id: "sess_dry_a", user_id: user });
    clerk.addSession({ id: "sess_dry_b", user_id: user });
    const mark = clerk.requests.length;
    const answer = await admin(REVOKE, { user_id: user, ban: true, dry_run: true, reason: "checking" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.dry_run, true);
    assert.equal(answer.body.edge_deny_listed, false);
    assert.deepEqual([...answer.body.sessions_found].sort(), ["sess_dry_a", "sess_dry_b"]);
    assert.deepEqual(answer.body.revoked, []);
    assert.equal(answer.body.banned, null);
    assert.equal(
      answer.body.message,
      `dry run, nothing changed: would deny-list ${user} at the edge; would revoke 2 active sessions at Clerk; would ban the user at Clerk`,
    );
    const calls = clerkCallsSince(mark);
    assert.deepEqual(
      calls.map((c) => `${c.method} ${c.route}`),
      ["GET listSessions"],
      "a dry run only reads",
    );
    assert.equal(clerk.state.sessions.get("sess_dry_a").status, "active");
    assert.equal(clerk.state.users.get(user).banned, false);
    assert.equal(await access(user, "sess_dry_a"), "signed-in", "no edge entry was written");
    assertAdminLine(answer.audit, "admin.revoke", {
      target: `user:${user}`,
      revoked_sessions: 0,
      sessions_found: 2,
      banned: false,
      ban_requested: true,
      edge_deny_listed: false,
      ok: true,
      status: 200,
      dry_run: true,
      operator_reason: "checking",
    });
  });

  test("ban, then restore with unban: the user is banned at Clerk, refused, then let back in", async () => {
    const user = "user_ban";
    clerk.addSession({ id: "sess_ban_a", user_id: user });
    clerk.addSession({ id: "sess_ban_b", user_id: user });
    const mark = clerk.requests.length;
    const answer = await admin(REVOKE, { user_id: user, ban: true, reason: "INC-7 abuse" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.banned, true);
    assert.deepEqual([...answer.body.revoked].sort(), ["sess_ban_a", "sess_ban_b"]);
    assert.equal(
      answer.body.message,
      "edge deny-list written; revoked 2 of 2 sessions at Clerk; user banned at Clerk",
    );
    assert.deepEqual(
      clerkCallsSince(mark).map((c) => `${c.route} ${c.status}`),
      ["listSessions 200", "revokeSession 200", "revokeSession 200", "banUser 200"],
    );
    assert.equal(clerk.state.users.get(user).banned, true, "the fake shows the user banned");
    assert.equal(await access(user, "sess_ban_a"), "user-revoked");
    assertAdminLine(answer.audit, "admin.revoke", {
      target: `user:${user}`,
      revoked_sessions: 2,
      banned: true,
      ban_requested: true,
      ok: true,
      dry_run: false,
      operator_reason: "INC-7 abuse",
    });

    const restoreMark = clerk.requests.length;
    const restored = await admin(RESTORE, { user_id: user, unban: true, reason: "INC-7 cleared" });
    assert.equal(restored.status, 200, restored.text);
    assert.deepEqual(restored.body, {
      action: "restore",
      target: user,
      target_type: "user",
      dry_run: false,
      edge_deny_removed: true,
      unbanned: true,
      clerk_reachable: true,
      message: "edge deny-list entry removed; user unbanned at Clerk",
    });
    assert.deepEqual(
      clerkCallsSince(restoreMark).map((c) => `${c.method} ${c.path} ${c.status}`),
      [`POST /v1/users/${user}/unban 200`],
    );
    assert.equal(clerk.state.users.get(user).banned, false, "the fake shows the user unbanned");
    assert.equal(await access(user, "sess_ban_a"), "signed-in", "restored: the token passes again");
    assert.equal(await access(user, "sess_ban_b"), "signed-in");
    assertAdminLine(restored.audit, "admin.restore", {
      path: RESTORE,
      target: `user:${user}`,
      user_id: user,
      edge_deny_removed: true,
      unbanned: true,
      unban_requested: true,
      clerk_reachable: true,
      ok: true,
      status: 200,
      dry_run: false,
      operator_reason: "INC-7 cleared",
    });
  });

  test("restore of the two-page user lets their tokens through again", async () => {
    const answer = await admin(RESTORE, { user_id: "user_pages" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.edge_deny_removed, true);
    assert.equal(answer.body.unbanned, null, "not asked");
    assert.equal(await access("user_pages", "sess_pages_000"), "signed-in");
    assertAdminLine(answer.audit, "admin.restore", {
      target: "user:user_pages",
      unbanned: false,
      unban_requested: false,
      ok: true,
      operator_reason: null,
    });
  });

  for (const form of ["seconds", "date"]) {
  test(`429 with Retry-After (${form}): the list is retried after the wait, then the revoke succeeds`, async () => {
    const user = `user_rate_${form}`;
    clerk.addSession({ id: `sess_rate_${form}`, user_id: user });
    clerk.setFault("listSessions", { kind: "rate-limit", retryAfter: 1, form, times: 1 });
    const mark = clerk.requests.length;
    const answer = await admin(REVOKE, { user_id: user });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body.revoked, [`sess_rate_${form}`]);
    assert.ok(answer.ms >= 1000, `waited for Retry-After (took ${answer.ms.toFixed(0)} ms)`);
    assert.deepEqual(
      clerkCallsSince(mark).map((c) => `${c.route} ${c.status}${c.fault ? ` ${c.fault}` : ""}`),
      ["listSessions 429 rate-limit", "listSessions 200", "revokeSession 200"],
    );
    assert.equal(clerk.state.sessions.get(`sess_rate_${form}`).status, "revoked");
    assert.equal(answer.audit.ok, true);
  });
  }

  test("revoke by session: that session is refused, another session of the same user passes; restore lets it back", async () => {
    const user = "user_two";
    clerk.addSession({ id: "sess_two_a", user_id: user });
    clerk.addSession({ id: "sess_two_b", user_id: user });
    const mark = clerk.requests.length;
    const answer = await admin(REVOKE, { session_id: "sess_two_a", reason: "INC-9 token leaked" });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.body.target_type, "session");
    assert.deepEqual(answer.body.revoked, ["sess_two_a"]);
    assert.equal(answer.body.edge_deny_listed, true);
    assert.deepEqual(
      clerkCallsSince(mark).map((c) => `${c.method} ${c.path}`),
      ["POST /v1/sessions/sess_two_a/revoke"],
    );
    assert.equal(clerk.state.sessions.get("sess_two_a").status, "revoked");
    assert.equal(clerk.state.sessions.get("sess_two_b").status, "active");
    assert.equal(await access(user, "sess_two_a"), "session-revoked");
    assert.equal(await access(user, "sess_two_b"), "signed-in");
    assertAdminLine(answer.audit, "admin.revoke", {
      target: "session:sess_two_a",
      session_id: "sess_two_a",
      revoked_sessions: 1,
      banned: false,
      ok: true,
      dry_run: false,
      operator_reason: "INC-9 token leaked",
    });
    assert.equal(answer.audit.user_id, undefined, "a session target names no user");

    const restored = await admin(RESTORE, { session_id: "sess_two_a" });
    assert.equal(restored.status, 200, restored.text);
    assert.equal(restored.body.edge_deny_removed, true);
    assert.match(restored.body.message, /stays revoked/);
    assert.equal(await access(user, "sess_two_a"), "signed-in", "the edge entry is gone");
    assertAdminLine(restored.audit, "admin.restore", { target: "session:sess_two_a", ok: true });
  });

  test("Clerk down (no answer): the edge entry is still written, the answer is 502 naming the failure", async () => {
    const user = "user_down";
    clerk.addSession({ id: "sess_down_a", user_id: user });
    assert.equal(await access(user, "sess_down_a"), "signed-in");
    clerk.setFault("*", { kind: "hang" });
    let answer;
    try {
      answer = await admin(REVOKE, { user_id: user, ban: true, reason: "INC-12" });
    } finally {
      clerk.clearFaults();
    }
    assert.equal(answer.status, 502, answer.text);
    assert.equal(answer.body.edge_deny_listed, true);
    assert.equal(answer.body.clerk_reachable, false);
    assert.equal(answer.body.banned, false);
    assert.match(answer.body.list_error, /Clerk API unreachable \(no answer within 1200 ms/);
    assert.match(answer.body.ban_error, /not attempted/);
    assert.equal(
      answer.body.message,
      "edge deny-list written; Clerk API unreachable: sessions not revoked and user not banned at Clerk — retry the call when Clerk is back",
    );
    assert.ok(answer.ms < 8000, `bounded by the call budget (took ${answer.ms.toFixed(0)} ms)`);
    assert.equal(clerk.state.sessions.get("sess_down_a").status, "active", "Clerk changed nothing");
    assert.equal(await access(user, "sess_down_a"), "user-revoked", "refused at the edge at once");
    assertAdminLine(answer.audit, "admin.revoke", {
      target: `user:${user}`,
      revoked_sessions: 0,
      banned: false,
      edge_deny_listed: true,
      clerk_reachable: false,
      ok: false,
      status: 502,
      operator_reason: "INC-12",
    });
  });

  test("missing or wrong admin token: 401, admin.denied, nothing done", async () => {
    const user = "user_guarded";
    clerk.addSession({ id: "sess_guarded", user_id: user });
    const mark = clerk.requests.length;

    const missing = await admin(REVOKE, { user_id: user }, { token: null });
    assert.equal(missing.status, 401, missing.text);
    assert.equal(missing.headers.get("www-authenticate"), "Bearer");
    assert.equal(missing.body.error, "admin-token-missing");
    assertAdminLine(missing.audit, "admin.denied", { reason: "admin-token-missing", status: 401, ok: false });
    assert.equal(missing.audit.target, undefined, "the body of a refused call is not read");

    const wrong = await admin(REVOKE, { user_id: user, ban: true }, { token: WRONG_TOKEN });
    assert.equal(wrong.status, 401, wrong.text);
    assert.equal(wrong.body.error, "admin-token-invalid");
    assertAdminLine(wrong.audit, "admin.denied", { reason: "admin-token-invalid", status: 401, ok: false });

    const basic = await admin(REVOKE, { user_id: user }, { headers: { authorization: `Basic ${ADMIN_TOKEN}` } });
    assert.equal(basic.status, 401, "only the Bearer scheme counts");

    assert.equal(clerkCallsSince(mark).length, 0, "Clerk was not called");
    assert.equal(clerk.state.users.get(user).banned, false);
    assert.equal(await access(user, "sess_guarded"), "signed-in", "no edge entry");
  });

  test("GET is 405 with Allow: POST", async () => {
    const answer = await admin(REVOKE, undefined, { method: "GET" });
    assert.equal(answer.status, 405);
    assert.equal(answer.headers.get("allow"), "POST");
    assert.equal(answer.body.error, "method-not-allowed");
    assertAdminLine(answer.audit, "admin.denied", { method: "GET", reason: "method-not-allowed", status: 405 });
  });

  test("bad bodies are refused with a status and a message naming the problem", async () => {
    const mark = clerk.requests.length;
    const cases = [
      { what: "not JSON", body: "{user_id:", status: 400, error: "invalid-json" },
      { what: "not an object", body: "[]", status: 422, error: "body-not-object" },
      { what: "unknown field", body: { user_id: "user_x", bann: true }, status: 422, error: "unknown-field", message: /`bann`/ },
      { what: "both ids", body: { user_id: "user_x", session_id: "sess_x" }, status: 422, error: "target-ambiguous" },
      { what: "no id", body: { reason: "x" }, status: 422, error: "target-missing" },
      { what: "bad id prefix", body: { user_id: "sess_x" }, status: 422, error: "invalid-id", message: /`user_id` must be user_/ },
      { what: "ban of a session", body: { session_id: "sess_x", ban: true }, status: 422, error: "invalid-field" },
      { what: "duplicate field", body: '{"user_id":"user_a","user_id":"user_b"}', status: 422, error: "duplicate-field" },
      { what: "too large", body: { user_id: "user_x", reason: "x".repeat(9000) }, status: 413, error: "body-too-large" },
      { what: "wrong content type", body: { user_id: "user_x" }, headers: { "content-type": "text/plain" }, status: 415, error: "unsupported-media-type" },
      { what: "no content type", body: { user_id: "user_x" }, headers: { "content-type": "" }, status: 415, error: "unsupported-media-type" },
    ];
    for (const c of cases) {
      const answer = await admin(REVOKE, c.body, { headers: c.headers ?? {} });
      assert.equal(answer.status, c.status, `${c.what}: ${answer.text}`);
      assert.equal(answer.body.error, c.error, c.what);
      assert.equal(typeof answer.body.message, "string", c.what);
      if (c.message) assert.match(answer.body.message, c.message, c.what);
      assert.equal(answer.headers.get("cache-control"), "no-store", c.what);
      assertAdminLine(answer.audit, "admin.revoke", { reason: c.error, status: c.status, ok: false });
    }
    assert.equal(clerkCallsSince(mark).length, 0, "no bad body reaches Clerk");
  });

  test("a body sent without Content-Length (chunked) is read with the same limit", async () => {
    const chunked = (parts) => ({
      body: new ReadableStream({
        start(controller) {
          for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
          controller.close();
        },
      }),
      duplex: "half",
    });
    const big = await admin(REVOKE, undefined, {
      raw: chunked(['{"user_id":"user_x","reason":"', "y".repeat(5000), "y".repeat(5000), '"}']),
    });
    assert.equal(big.status, 413, big.text);
    assert.equal(big.body.error, "body-too-large");

    clerk.addSession({ id: "sess_chunked", user_id: "user_chunked" });
    const small = await admin(REVOKE, undefined, { raw: chunked(['{"user_id":"user_chunked",', '"dry_run":true}']) });
    assert.equal(small.status, 200, small.text);
    assert.deepEqual(small.body.sessions_found, ["sess_chunked"]);
  });

  test("no log line after startup and no answer carries the admin token, the secret key or a session token", async () => {
    const ready = worker.lines.findIndex((l) => /Ready on/.test(l.text));
    const runtime = worker.lines.slice(ready + 1).map((l) => l.text);
    assert.ok(worker.auditEvents().some((e) => e.event === "admin.revoke"));
    for (const text of [...runtime, ...bodies]) {
      // "eyJ": the start of every JWT, so no session token sent to /app/data either.
      for (const secret of [ADMIN_TOKEN, SECRET_KEY, WRONG_TOKEN, "eyJ"]) {
        assert.ok(!text.includes(secret), `a line or answer leaks ${secret.slice(0, 12)}…: ${text.slice(0, 200)}`);
      }
    }
    for (const event of worker.auditEvents()) {
      assert.equal(event.authorization, undefined);
      for (const value of Object.values(event)) {
        assert.ok(!String(value).includes(ADMIN_TOKEN) && !String(value).includes(SECRET_KEY));
      }
    }
  });
});

describe("admin routes without a usable CLERK_ADMIN_TOKEN", () => {
  let unset;
  let short;

  before(async () => {
    [unset, short] = await Promise.all([
      startWorker({ vars: { CLERK_JWT_KEY: (await createSigningKey()).pem } }),
      startWorker({ vars: { CLERK_JWT_KEY: (await createSigningKey()).pem, CLERK_ADMIN_TOKEN: "too-short-admin-token" } }),
    ]);
  });

  after(async () => {
    await Promise.all([unset?.stop(), short?.stop()]);
  });

  const post = (worker, path) =>
    worker
      .fetch(path, {
        method: "POST",
        headers: { authorization: "Bearer too-short-admin-token", "content-type": "application/json" },
        body: JSON.stringify({ user_id: "user_x" }),
      })
      .then(read);

  test("admin token unset: both routes answer 404, as if absent", async () => {
    for (const path of [REVOKE, RESTORE]) {
      const answer = await post(unset, path);
      assert.equal(answer.status, 404, answer.text);
      assert.equal(answer.body.error, "not-found");
      assert.equal(answer.headers.get("cache-control"), "no-store");
    }
  });

  test("admin token too short: 500 misconfigured naming the variable, never its value", async () => {
    const answer = await post(short, REVOKE);
    assert.equal(answer.status, 500, answer.text);
    assert.equal(answer.body.error, "misconfigured");
    assert.match(answer.body.message, /CLERK_ADMIN_TOKEN must be at least 32 characters/);
    assert.ok(!answer.text.includes("too-short-admin-token"));
    const audit = await short.waitForAudit((e) => e.event === "admin.denied");
    assert.equal(audit.reason, "misconfigured");
    assert.equal(audit.status, 500);
    const invalid = await short.waitForAudit((e) => e.event === "config.invalid");
    assert.equal(invalid.variable, "CLERK_ADMIN_TOKEN");
    assert.ok(!JSON.stringify(invalid).includes("too-short-admin-token"));
  });
});
