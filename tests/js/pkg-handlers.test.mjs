// The App Router route handlers of pkg-js in Node: createWebhookHandler (Svix-signed
// deliveries from the `svix` library, de-duplication, deny-list writes, onEvent failures,
// pause) and createRevokeHandler / createRestoreHandler against the fake Clerk Backend API.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Webhook } from "svix";

import {
  createRestoreHandler,
  createRevokeHandler,
  createWebhookHandler,
  memoryStore,
} from "../../pkg-js/index.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";
import { capture } from "./support/capture.mjs";

const WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ADMIN_TOKEN = "admin-token-for-tests-0123456789abcdef";
const SECRET_KEY = "sk_test_handlers_secret";

function delivery(event, { id = `msg_${randomUUID()}`, secret = WEBHOOK_SECRET, at = new Date() } = {}) {
  const body = JSON.stringify(event);
  const signature = new Webhook(secret).sign(id, at, body);
  return new Request("https://app.example.test/api/webhooks", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(at.getTime() / 1000)),
      "svix-signature": signature,
    },
    body,
  });
}

const sessionRevoked = (sid, uid) => ({ type: "session.revoked", object: "event", data: { id: sid, user_id: uid, object: "session" } });

test("webhook: a signed delivery is applied, deny-listed, handed to onEvent, then answered 200", async () => {
  const store = memoryStore();
  const events = [];
  const handler = createWebhookHandler({
    env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET },
    store,
    onEvent: async (event) => {
      await new Promise((r) => setTimeout(r, 20));
      events.push(event);
    },
  });
  const event = sessionRevoked("sess_wh_1", "user_wh_1");
  const req = delivery(event, { id: "msg_wh_1" });
  const [response, lines] = await capture(() => handler(req));
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { ok: true, svix_id: "msg_wh_1", type: "session.revoked" });
  assert.deepEqual(events, [event]);
  const entry = JSON.parse(await store.get("deny:session:sess_wh_1"));
  assert.equal(entry.source, "webhook");
  assert.equal(entry.reason, "session.revoked");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "webhook.accepted");
  assert.equal(lines[0].svix_id, "msg_wh_1");
  assert.equal(lines[0].session_id, "sess_wh_1");
  assert.deepEqual(lines[0].effects, ["deny_session"]);

  // Redelivery of the same svix-id: 200 duplicate, onEvent not called again.
  const [again, againLines] = await capture(() => handler(delivery(event, { id: "msg_wh_1" })));
  assert.equal(again.status, 200);
  assert.equal((await again.json()).duplicate, true);
  assert.equal(events.length, 1);
  assert.equal(againLines[0].event, "webhook.duplicate");
});

test("webhook: user.deleted deny-lists the user without expiry; other types only reach onEvent", async () => {
  const store = memoryStore();
  const seen = [];
  const handler = createWebhookHandler({
    env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET },
    store,
    onEvent: (event) => seen.push(event.type),
  });
  await capture(() => handler(delivery({ type: "user.deleted", object: "event", data: { id: "user_gone", deleted: true } })));
  assert.ok(await store.get("deny:user:user_gone"));
  const [response] = await capture(() => handler(delivery({ type: "organization.created", object: "event", data: { id: "org_1" } })));
  assert.equal(response.status, 200);
  assert.deepEqual(seen, ["user.deleted", "organization.created"]);
});

test("webhook: bad signature, stale timestamp, missing header and bad payload are 400 with a reason", async () => {
  const calls = [];
  const handler = createWebhookHandler({
    env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET },
    store: memoryStore(),
    onEvent: (e) => calls.push(e),
  });
  const event = sessionRevoked("sess_x", "user_x");
  const cases = [
    [delivery(event, { secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" }), "invalid-signature"],
    [delivery(event, { at: new Date(Date.now() - 10 * 60_000) }), "timestamp-too-old"],
    [new Request("https://a.test/api/webhooks", { method: "POST", body: "{}" }), "missing-header"],
    [delivery({ type: "session.revoked", data: {} }), "invalid-payload"],
  ];
  for (const [req, reason] of cases) {
    const [response, lines] = await capture(() => handler(req));
    assert.equal(response.status, 400, reason);
    const body = await response.json();
    assert.equal(body.error, "invalid-webhook");
    assert.equal(body.reason, reason);
    assert.equal(lines[0].event, "webhook.rejected");
    assert.equal(lines[0].reason, reason);
  }
  assert.equal(calls.length, 0);
});

test("webhook: onEvent throwing -> 500 (Svix retries), and the redelivery runs onEvent again", async () => {
  const store = memoryStore();
  let attempts = 0;
  const handler = createWebhookHandler({
    env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET },
    store,
    onEvent: () => {
      attempts += 1;
      if (attempts === 1) throw new Error("db down: email=someone@example.com");
    },
  });
  const event = sessionRevoked("sess_retry", "user_retry");
  const [first, lines] = await capture(() => handler(delivery(event, { id: "msg_retry" })));
  assert.equal(first.status, 500);
  assert.equal(lines[0].event, "webhook.failed");
  assert.equal(lines[0].store, "handler");
  assert.ok(!JSON.stringify(lines).includes("someone@example.com"));
  assert.ok(await store.get("deny:session:sess_retry"), "the edge entry was written before onEvent");
  const [second] = await capture(() => handler(delivery(event, { id: "msg_retry" })));
  assert.equal(second.status, 200);
  assert.equal(attempts, 2);
});

test("webhook: store failures answer 500; pause answers 503 with Retry-After; no secret is 500", async () => {
  const broken = {
    get: async () => null,
    put: async () => {
      throw new Error("down");
    },
    delete: async () => {},
  };
  const failing = createWebhookHandler({ env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET }, store: broken });
  const [response, lines] = await capture(() => failing(delivery(sessionRevoked("s", "u"))));
  assert.equal(response.status, 500);
  assert.equal(lines[0].store, "deny-list");

  const paused = createWebhookHandler({
    env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET, CLERK_WEBHOOKS_PAUSED: "true" },
  });
  const [pausedResponse, pausedLines] = await capture(() => paused(delivery(sessionRevoked("s", "u"))));
  assert.equal(pausedResponse.status, 503);
  assert.equal(pausedResponse.headers.get("retry-after"), "300");
  assert.equal(pausedLines[0].event, "webhook.paused");

  const unconfigured = createWebhookHandler({ env: {} });
  const [missing] = await capture(() => unconfigured(delivery(sessionRevoked("s", "u"))));
  assert.equal(missing.status, 500);

  const [getResponse] = await capture(() => paused(new Request("https://a.test/api/webhooks")));
  assert.equal(getResponse.status, 405);
});

test("webhook: a body over 256 KiB is refused without reading it all", async () => {
  const handler = createWebhookHandler({ env: { CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET } });
  const big = "x".repeat(300 * 1024);
  const declared = new Request("https://a.test/w", { method: "POST", body: big, headers: { "content-length": String(big.length) } });
  const [response] = await capture(() => handler(declared));
  assert.equal(response.status, 400);
  assert.equal((await response.json()).reason, "invalid-payload");
  const streamed = new Request("https://a.test/w", {
    method: "POST",
    duplex: "half",
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new Uint8Array(64 * 1024));
        controller.close();
      },
    }),
  });
  const [streamedResponse] = await capture(() => handler(streamed));
  assert.equal(streamedResponse.status, 400);
});

let clerk;
before(async () => {
  clerk = await startFakeClerk({ secretKey: SECRET_KEY });
});
after(async () => {
  await clerk?.close();
});

const adminEnv = () => ({ CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url, CLERK_ADMIN_TOKEN: ADMIN_TOKEN, CLERK_JWT_KEY: undefined });
const adminRequest = (path, body, token = ADMIN_TOKEN) =>
  new Request(`https://app.example.test${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });

test("revoke a user: deny-listed first, every active session revoked at Clerk, banned on request", async () => {
  clerk.addSession({ id: "sess_adm_1", user_id: "user_adm" });
  clerk.addSession({ id: "sess_adm_2", user_id: "user_adm" });
  clerk.addSession({ id: "sess_other", user_id: "user_other" });
  const store = memoryStore();
  const revoke = createRevokeHandler({ env: adminEnv(), store });
  const [response, lines] = await capture(() =>
    revoke(adminRequest("/api/admin/revoke", { user_id: "user_adm", ban: true, reason: "INC-7 stolen laptop" })),
  );
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  assert.equal(body.edge_deny_listed, true);
  assert.deepEqual(body.revoked.sort(), ["sess_adm_1", "sess_adm_2"]);
  assert.equal(body.banned, true);
  assert.equal(clerk.state.sessions.get("sess_other").status, "active");
  assert.equal(clerk.state.users.get("user_adm").banned, true);
  const entry = JSON.parse(await store.get("deny:user:user_adm"));
  assert.equal(entry.source, "admin");
  assert.equal(entry.reason, "INC-7 stolen laptop");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "admin.revoke");
  assert.equal(lines[0].target, "user:user_adm");
  assert.equal(lines[0].user_id, "user_adm");
  assert.equal(lines[0].operator_reason, "INC-7 stolen laptop");
  assert.equal(lines[0].revoked_sessions, 2);
  assert.equal(lines[0].banned, true);
  assert.equal(lines[0].ok, true);
  assert.ok(!JSON.stringify(lines).includes(ADMIN_TOKEN) && !JSON.stringify(lines).includes(SECRET_KEY));

  const restore = createRestoreHandler({ env: adminEnv(), store });
  const [restored, restoreLines] = await capture(() => restore(adminRequest("/api/admin/restore", { user_id: "user_adm", unban: true })));
  assert.equal(restored.status, 200);
  assert.equal((await restored.json()).unbanned, true);
  assert.equal(await store.get("deny:user:user_adm"), null);
  assert.equal(clerk.state.users.get("user_adm").banned, false);
  assert.equal(restoreLines[0].event, "admin.restore");
});

test("revoke a session: one write, before Clerk is asked, without expiry (KV takes one write per second per key)", async () => {
  clerk.addSession({ id: "sess_single", user_id: "user_single" });
  const puts = [];
  const inner = memoryStore();
  const store = { ...inner, put: async (k, v, o) => (puts.push([k, o?.ttlSeconds ?? null]), inner.put(k, v, o)) };
  const revoke = createRevokeHandler({ env: adminEnv(), store });
  const [response] = await capture(() => revoke(adminRequest("/r", { session_id: "sess_single" })));
  assert.equal(response.status, 200);
  assert.equal(clerk.state.sessions.get("sess_single").status, "revoked");
  assert.deepEqual(puts, [["deny:session:sess_single", null]]);
});

test("revoke: a custom store's failing put answers 500 with its error redacted and capped, in the answer and the line", async () => {
  clerk.addSession({ id: "sess_store_down", user_id: "user_store_down" });
  const leak = "sk_live_storeleak0123456789";
  const store = {
    ...memoryStore(),
    put: async () => {
      throw new Error(`redis://admin:hunter2@cache.internal:6379 refused; token=abc.def.ghi ${leak} ${"x".repeat(2000)}`);
    },
  };
  const revoke = createRevokeHandler({ env: adminEnv(), store });
  const [response, lines] = await capture(() => revoke(adminRequest("/r", { session_id: "sess_store_down" })));
  assert.equal(response.status, 500);
  const text = await response.text();
  const body = JSON.parse(text);
  assert.equal(body.edge_deny_listed, false);
  assert.match(body.edge_error, /refused/);
  assert.ok(body.edge_error.length <= 200, `capped: ${body.edge_error.length}`);
  const line = JSON.stringify(lines);
  for (const secret of [leak, "hunter2", "abc.def.ghi", "x".repeat(300)]) {
    assert.ok(!text.includes(secret), `answer leaks ${secret.slice(0, 20)}`);
    assert.ok(!line.includes(secret), `audit line leaks ${secret.slice(0, 20)}`);
  }
  assert.equal(lines.at(-1).event, "admin.revoke");
});

test("admin routes: 404 without CLERK_ADMIN_TOKEN, 401 for credentials, 422 for bodies, 502 when Clerk is down", async () => {
  const [notFound] = await capture(() => createRevokeHandler({ env: {} })(adminRequest("/r", { user_id: "user_a" })));
  assert.equal(notFound.status, 404);
  const revoke = createRevokeHandler({ env: adminEnv(), store: memoryStore() });
  const [missing] = await capture(() => revoke(adminRequest("/r", { user_id: "user_a" }, null)));
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get("www-authenticate"), "Bearer");
  const [wrong, wrongLines] = await capture(() => revoke(adminRequest("/r", { user_id: "user_a" }, "x".repeat(40))));
  assert.equal(wrong.status, 401);
  assert.equal(wrongLines[0].event, "admin.denied");
  const [unprocessable] = await capture(() => revoke(adminRequest("/r", { user_id: "nope" })));
  assert.equal(unprocessable.status, 422);

  const down = createRevokeHandler({ env: { ...adminEnv(), CLERK_API_URL: "http://127.0.0.1:9" }, store: memoryStore() });
  const [bad] = await capture(() => down(adminRequest("/r", { session_id: "sess_zzz" })));
  const body = await bad.json();
  assert.equal(bad.status, 502);
  assert.equal(body.edge_deny_listed, true);
  assert.equal(body.clerk_reachable, false);
});

test("admin: Clerk refusing the ban (402) is reported precisely, not retried, and the rest stands", async () => {
  clerk.addSession({ id: "sess_402", user_id: "user_402" });
  clerk.setFault("banUser", { kind: "reject", status: 402, times: 1 });
  const before = clerk.requests.length;
  const store = memoryStore();
  const revoke = createRevokeHandler({ env: adminEnv(), store });
  const [response, lines] = await capture(() => revoke(adminRequest("/r", { user_id: "user_402", ban: true })));
  const body = await response.json();
  assert.equal(response.status, 502, JSON.stringify(body));
  assert.equal(body.edge_deny_listed, true);
  assert.deepEqual(body.revoked, ["sess_402"]);
  assert.equal(body.banned, false);
  assert.match(body.ban_error, /402 payment_required/);
  assert.equal(body.clerk_reachable, true);
  const bans = clerk.requests.slice(before).filter((r) => r.route === "banUser");
  assert.equal(bans.length, 1, "a 402 is final: not retried");
  assert.equal(clerk.state.users.get("user_402").banned, false);
  assert.ok(await store.get("deny:user:user_402"), "the edge entry stands");
  assert.equal(lines[0].ok, false);
});

for (const form of ["seconds", "date"]) {
test(`admin: a Retry-After (${form}) longer than one call can wait is reported as rate limiting, not as Clerk down`, async () => {
  clerk.addSession({ id: `sess_slow_${form}`, user_id: "user_slow" });
  clerk.setFault("revokeSession", { kind: "rate-limit", retryAfter: 30, form, times: 1 });
  const revoke = createRevokeHandler({ env: adminEnv(), store: memoryStore() });
  const [response] = await capture(() => revoke(adminRequest("/r", { session_id: `sess_slow_${form}` })));
  const body = await response.json();
  assert.equal(response.status, 502, JSON.stringify(body));
  assert.equal(body.clerk_reachable, true);
  assert.match(body.failed[0].error, /rate-limiting.*30 s/);
  assert.doesNotMatch(body.message, /unreachable/);
});
}

test("admin: a body stream that fails mid-way answers 400 body-unreadable with one line, and changes nothing", async () => {
  const store = memoryStore();
  const revoke = createRevokeHandler({ env: adminEnv(), store });
  const failing = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"user_id":"user_'));
      controller.error(new Error("client went away"));
    },
  });
  const request = new Request("https://app.example.test/r", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
    body: failing,
    duplex: "half",
  });
  const [response, lines] = await capture(() => revoke(request));
  assert.equal(response.status, 400);
  assert.equal((await response.json()).error, "body-unreadable");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "admin.revoke");
  assert.equal(lines[0].reason, "body-unreadable");
  assert.equal(lines[0].ok, false);
  assert.equal(await store.get("deny:user:user_"), null);
});

test("admin without CLERK_SECRET_KEY: the edge entry is written and the report says why Clerk was not called", async () => {
  const env = { CLERK_ADMIN_TOKEN: ADMIN_TOKEN };
  const store = memoryStore();
  const [response] = await capture(() => createRevokeHandler({ env, store })(adminRequest("/r", { session_id: "sess_nokey" })));
  const body = await response.json();
  assert.equal(response.status, 502);
  assert.equal(body.edge_deny_listed, true);
  assert.match(body.failed[0].error, /CLERK_SECRET_KEY/);
  assert.ok(await store.get("deny:session:sess_nokey"));
});
