// POST /__clerk/webhooks end to end: deliveries signed by the `svix` package reach the built
// Worker in workerd (`wrangler dev --local`), and the test reads back what they did in the
// local D1 database and at the edge (protected requests with jose-minted tokens).
//
// What each guarantee is shown by:
// - effects reach D1: "user.created, user.updated and user.deleted reach D1"
// - at-least-once in, applied once: "a replayed delivery answers duplicate and changes nothing"
// - out-of-order deliveries keep the newest: "out-of-order updates keep the newest"
// - no resurrection after delete: "a late user.updated does not bring a deleted user back"
// - revocation at the edge: "session.revoked ..." and "user.deleted ..."
// - nothing written on rejection: "refused deliveries answer 400 with their reason ..."
// - never 2xx for an event not applied, and the id recorded only after the effects:
//   "a storage failure answers 500 and records nothing, and the redelivery applies"
// - pause loses nothing: "a paused worker answers 503 ..." (then the same delivery succeeds)
// - audit lines: "audit lines carry the contract's fields and never the body or the secret"
//
// Three worker starts (the main one, a paused one, a misconfigured one), started together.
// Needs the built Worker: `bash scripts/build-worker.sh` (scripts/test.sh does it). Run:
// node --test tests/e2e/webhooks.test.mjs
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, test } from "node:test";

import { SignJWT, exportSPKI, generateKeyPair } from "jose";

import { queryD1, startOrigin, startWorker, svixHeaders as signedHeaders } from "./support/index.mjs";

const SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const OTHER_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
// Put in every body, so a body that reached a log line would be seen.
const BODY_MARKER = `body-marker-${randomUUID()}`;
const ISSUER = "https://e2e.clerk.accounts.dev";
const KID = "ins_e2e";

/** A Svix delivery: its id, body and signing time, sent as Svix does (re-signed per attempt). */
function delivery(type, data, { id = `msg_${randomUUID()}` } = {}) {
  const body = JSON.stringify({
    type,
    object: "event",
    timestamp: Date.now(),
    data: { ...data, private_metadata: { marker: BODY_MARKER } },
  });
  return { id, body };
}

function svixHeaders(message, { secret = SECRET, at = new Date() } = {}) {
  return signedHeaders(message, { secret, at });
}

async function deliver(worker, message, options = {}) {
  const headers = options.headers ?? svixHeaders(message, options);
  const res = await worker.fetch("/__clerk/webhooks", { method: "POST", headers, body: message.body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

function userData(id, { updatedAt, firstName = "Jane", email = `${id}@example.test`, banned = false } = {}) {
  return {
    id,
    object: "user",
    primary_email_address_id: `idn_${id}`,
    email_addresses: [{ id: `idn_${id}`, email_address: email }],
    first_name: firstName,
    last_name: "Doe",
    banned,
    created_at: 1_767_225_600_000,
    updated_at: updatedAt ?? Date.now(),
  };
}

const unique = (prefix) => `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
const sqlText = (value) => `'${String(value).replaceAll("'", "''")}'`;

let origin;
let worker;
let paused;
let misconfigured;
let pausedVars;
let signToken;

before(async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const jwtKey = await exportSPKI(publicKey);
  signToken = async ({ sub, sid }) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ sid })
      .setProtectedHeader({ alg: "RS256", kid: KID, typ: "JWT" })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setIssuedAt(now)
      .setNotBefore(now - 5)
      .setExpirationTime(now + 600)
      .sign(privateKey);
  };
  origin = await startOrigin();
  const common = { ORIGIN_URL: origin.url, CLERK_JWT_KEY: jwtKey };
  pausedVars = { ...common, CLERK_WEBHOOK_SIGNING_SECRET: SECRET };
  [worker, paused, misconfigured] = await Promise.all([
    startWorker({ vars: { ...common, CLERK_WEBHOOK_SIGNING_SECRET: SECRET } }),
    // Its state outlives it: the test restarts it unpaused on the same KV and D1.
    startWorker({ vars: { ...common, CLERK_WEBHOOK_SIGNING_SECRET: SECRET, CLERK_WEBHOOKS_PAUSED: "true" }, keepPersistDir: true }),
    // Not base64: the variable is rejected (config.invalid) and the route cannot verify.
    startWorker({ vars: { ...common, CLERK_WEBHOOK_SIGNING_SECRET: "whsec_not%base64" } }),
  ]);
});

after(async () => {
  await Promise.all([worker?.stop(), paused?.stop(), misconfigured?.stop()]);
  await origin?.close();
});

async function userRow(id) {
  const [users, tombstones] = await queryD1(
    worker.persistDir,
    `SELECT * FROM users WHERE id = ${sqlText(id)}; SELECT * FROM deleted_users WHERE id = ${sqlText(id)}`,
  );
  return { user: users[0], tombstone: tombstones[0] };
}

/** POSTs `chunks` x `size` bytes with chunked encoding; resolves on the answer, whatever
 * happens to the upload after it. */
function postChunked(url, headers, chunks, size) {
  return new Promise((resolve, reject) => {
    // Generous: under a loaded CI machine (Next builds and other workers in parallel) the
    // proxying of a half-read upload by wrangler dev can take seconds.
    const timer = setTimeout(() => reject(new Error("no answer to the chunked request")), 45_000);
    const req = request(url, { method: "POST", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (text) => (body += text));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, body });
      });
    });
    req.on("error", (error) => {
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") {
        clearTimeout(timer);
        reject(error);
      }
    });
    const chunk = Buffer.alloc(size, "y");
    let sent = 0;
    const next = () => {
      while (sent < chunks) {
        sent += 1;
        if (!req.write(chunk)) return req.once("drain", next);
      }
      req.end();
    };
    next();
  });
}

async function protectedRequest(token) {
  const res = await worker.fetch("/app/data", { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res;
}

describe("a paused or misconfigured worker", () => {
  // Done with first, so that they do not share the two cores with the main suite.
  after(async () => {
    await Promise.all([paused?.stop(), misconfigured?.stop()]);
  });

  test("a paused worker answers 503 with Retry-After, reads nothing, and the delivery succeeds later", async () => {
    const id = unique("user");
    const message = delivery("user.created", userData(id));
    const res = await deliver(paused, message);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "300");
    assert.equal(res.json.error, "paused");
    // Not even verified: a garbage request gets the same answer.
    const garbage = await paused.fetch("/__clerk/webhooks", { method: "POST", body: "not a delivery" });
    assert.equal(garbage.status, 503);
    await garbage.arrayBuffer();
    const line = await paused.waitForAudit((e) => e.event === "webhook.paused");
    assert.equal(line.level, "warn");
    assert.equal(line.reason, "paused");
    const [deliveries] = await queryD1(paused.persistDir, "SELECT * FROM webhook_deliveries");
    assert.deepEqual(deliveries, [], "nothing recorded while paused");

    // The operator unpauses: the same Worker restarted without CLERK_WEBHOOKS_PAUSED, on the
    // same KV and D1. Svix's redelivery of the same message is applied as a first delivery.
    await paused.stop();
    const unpaused = await startWorker({ vars: pausedVars, persistDir: paused.persistDir });
    try {
      const later = await deliver(unpaused, message, { at: new Date(Date.now() + 1000) });
      assert.equal(later.status, 200, later.text);
      assert.equal(later.json.duplicate, undefined);
      const [users, recorded] = await queryD1(
        unpaused.persistDir,
        `SELECT id FROM users WHERE id = ${sqlText(id)}; SELECT svix_id FROM webhook_deliveries`,
      );
      assert.deepEqual(users.map((u) => u.id), [id], "the user the paused delivery carried");
      assert.equal(recorded.length, 1);
      const again = await deliver(unpaused, message, { at: new Date(Date.now() + 2000) });
      assert.equal(again.json.duplicate, true, "and a further redelivery is a duplicate");
    } finally {
      await unpaused.stop();
      paused.removeState();
    }
  });

  test("a worker without a usable secret answers 500 misconfigured, so Svix retries", async () => {
    const message = delivery("user.created", userData(unique("user")));
    const res = await deliver(misconfigured, message);
    assert.equal(res.status, 500);
    assert.equal(res.json.error, "misconfigured");
    const line = await misconfigured.waitForAudit((e) => e.event === "webhook.failed");
    assert.equal(line.level, "error");
    assert.equal(line.reason, "misconfigured");
    const invalid = await misconfigured.waitForAudit((e) => e.event === "config.invalid");
    assert.equal(invalid.variable, "CLERK_WEBHOOK_SIGNING_SECRET");
    assert.ok(!JSON.stringify(misconfigured.auditEvents()).includes("not%base64"), "the value is never logged");
  });
});

describe("a running worker", () => {
  test("user.created, user.updated and user.deleted reach D1", async () => {
    const id = unique("user");
    const t0 = Date.now() - 10_000;

    const created = delivery("user.created", userData(id, { updatedAt: t0, email: `first-${id}@example.test` }));
    const res = await deliver(worker, created);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, { ok: true, svix_id: created.id, type: "user.created" });
    let { user } = await userRow(id);
    assert.deepEqual(user, {
      id,
      primary_email: `first-${id}@example.test`,
      first_name: "Jane",
      last_name: "Doe",
      banned: 0,
      updated_at: t0,
    });

    const updated = delivery("user.updated", userData(id, { updatedAt: t0 + 1000, firstName: "Janet", banned: true }));
    assert.equal((await deliver(worker, updated)).status, 200);
    ({ user } = await userRow(id));
    assert.equal(user.first_name, "Janet");
    assert.equal(user.banned, 1);
    assert.equal(user.primary_email, `${id}@example.test`);
    assert.equal(user.updated_at, t0 + 1000);

    const deleted = delivery("user.deleted", { id, object: "user", deleted: true });
    const res3 = await deliver(worker, deleted);
    assert.equal(res3.status, 200, res3.text);
    assert.equal(res3.json.type, "user.deleted");
    const ids = [created, updated, deleted].map((d) => sqlText(d.id)).join(", ");
    const [users, tombstones, deliveries] = await queryD1(
      worker.persistDir,
      `SELECT * FROM users WHERE id = ${sqlText(id)};
       SELECT * FROM deleted_users WHERE id = ${sqlText(id)};
       SELECT svix_id, event_type FROM webhook_deliveries WHERE svix_id IN (${ids})`,
    );
    assert.deepEqual(users, [], "row deleted");
    assert.ok(tombstones[0]?.deleted_at > 0, "tombstone kept");
    assert.deepEqual(
      deliveries.map((d) => d.event_type).sort(),
      ["user.created", "user.deleted", "user.updated"],
    );
  });

  test("a late user.updated does not bring a deleted user back", async () => {
    const id = unique("user");
    const t0 = Date.now();
    assert.equal((await deliver(worker, delivery("user.created", userData(id, { updatedAt: t0 })))).status, 200);
    assert.equal((await deliver(worker, delivery("user.deleted", { id, deleted: true }))).status, 200);
    // Sent before the deletion, retried after it: even a newer updated_at must not resurrect.
    const late = delivery("user.updated", userData(id, { updatedAt: t0 + 60_000, firstName: "Zombie" }));
    const res = await deliver(worker, late);
    assert.equal(res.status, 200, "accepted (and recorded), just not applied");
    const { user, tombstone } = await userRow(id);
    assert.equal(user, undefined);
    assert.ok(tombstone);
  });

  test("a replayed delivery answers duplicate and changes nothing", async () => {
    const id = unique("user");
    const message = delivery("user.created", userData(id, { updatedAt: Date.now() }));
    const first = await deliver(worker, message);
    assert.equal(first.status, 200);
    assert.equal(first.json.duplicate, undefined);

    // An operator edit after the delivery: re-applying the same event (same updated_at)
    // would overwrite it, so it surviving the replay shows the event was not applied again.
    const recorded = `SELECT received_at FROM webhook_deliveries WHERE svix_id = ${sqlText(message.id)}`;
    const [, [recordedBefore]] = await queryD1(
      worker.persistDir,
      `UPDATE users SET first_name = 'edited-in-d1' WHERE id = ${sqlText(id)}; ${recorded}`,
    );
    assert.ok(recordedBefore.received_at > 0);

    // Svix re-signs each attempt: same id and body, a new timestamp and signature.
    const replay = await deliver(worker, message, { at: new Date(Date.now() + 2000) });
    assert.equal(replay.status, 200, replay.text);
    assert.equal(replay.json.duplicate, true);
    assert.equal(replay.json.svix_id, message.id);
    // The very same request again (a proxy retry within the tolerance): duplicate as well.
    assert.equal((await deliver(worker, message)).json.duplicate, true);

    const [[user], [recordedAfter]] = await queryD1(
      worker.persistDir,
      `SELECT first_name FROM users WHERE id = ${sqlText(id)}; ${recorded}`,
    );
    assert.equal(user.first_name, "edited-in-d1");
    assert.deepEqual(recordedAfter, recordedBefore);
    const line = await worker.waitForAudit((e) => e.event === "webhook.duplicate" && e.svix_id === message.id);
    assert.equal(line.level, "info");
    assert.equal(line.type, "user.created");
  });

  test("out-of-order updates keep the newest", async () => {
    const id = unique("user");
    const t = Date.now();
    const older = delivery("user.updated", userData(id, { updatedAt: t, firstName: "Older" }));
    const newer = delivery("user.updated", userData(id, { updatedAt: t + 5000, firstName: "Newer" }));
    assert.equal((await deliver(worker, newer)).status, 200);
    const res = await deliver(worker, older);
    assert.equal(res.status, 200, "the stale event is accepted, not retried forever");
    const { user } = await userRow(id);
    assert.equal(user.first_name, "Newer");
    assert.equal(user.updated_at, t + 5000);
  });

  test("session.revoked shuts that session out at the edge (session-revoked)", async () => {
    const sub = unique("user");
    const sid = unique("sess");
    const token = await signToken({ sub, sid });
    const otherSession = await signToken({ sub, sid: unique("sess") });
    assert.equal((await protectedRequest(token)).status, 200, "passes before the webhook");

    const res = await deliver(worker, delivery("session.revoked", { id: sid, object: "session", user_id: sub, status: "revoked" }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.type, "session.revoked");

    const refused = await protectedRequest(token);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "session-revoked");
    assert.equal((await protectedRequest(otherSession)).status, 200, "only that session");
    const line = await worker.waitForAudit((e) => e.event === "webhook.accepted" && e.session_id === sid);
    assert.equal(line.user_id, sub);
    assert.deepEqual(line.effects, ["deny_session"]);
  });

  test("user.deleted shuts the user out at the edge (user-revoked)", async () => {
    const sub = unique("user");
    const token = await signToken({ sub, sid: unique("sess") });
    assert.equal((await protectedRequest(token)).status, 200, "passes before the webhook");
    const res = await deliver(worker, delivery("user.deleted", { id: sub, object: "user", deleted: true }));
    assert.equal(res.status, 200, res.text);
    const refused = await protectedRequest(token);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");
    const line = await worker.waitForAudit((e) => e.event === "webhook.accepted" && e.user_id === sub);
    assert.deepEqual(line.effects, ["delete_user", "deny_user"]);
  });

  test("refused deliveries answer 400 with their reason and write nothing", async () => {
    const id = unique("user");
    const message = delivery("user.created", userData(id));
    const now = Date.now();
    const good = svixHeaders(message);
    const cases = [
      ["invalid-signature", svixHeaders(message, { secret: OTHER_SECRET })],
      ["timestamp-too-old", svixHeaders(message, { at: new Date(now - 10 * 60_000) })],
      ["timestamp-too-new", svixHeaders(message, { at: new Date(now + 10 * 60_000) })],
      ["missing-header", { ...good, "svix-signature": undefined }],
      ["missing-header", { ...good, "svix-id": undefined }],
      ["invalid-timestamp", { ...good, "svix-timestamp": "soon" }],
      // The signature covers the raw bytes: one changed byte is a different body.
      ["invalid-signature", good, message.body.replace(BODY_MARKER, BODY_MARKER.toUpperCase())],
    ];
    for (const [reason, headers, body = message.body] of cases) {
      const clean = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
      const res = await deliver(worker, { ...message, body }, { headers: clean });
      assert.equal(res.status, 400, `${reason}: ${res.text}`);
      assert.equal(res.json.error, "invalid-webhook");
      assert.equal(res.json.reason, reason);
      assert.ok(res.json.message.length > 20);
    }

    // Signed, but not a Clerk event a user can be made of (no `banned`): invalid-payload.
    const { banned, ...withoutBanned } = userData(id);
    void banned;
    const malformed = delivery("user.created", withoutBanned);
    const res = await deliver(worker, malformed);
    assert.equal(res.status, 400);
    assert.equal(res.json.reason, "invalid-payload");
    assert.match(res.json.message, /data\.banned/);

    // Over the size limit by Content-Length: refused before the body is read.
    const huge = await worker.fetch("/__clerk/webhooks", {
      method: "POST",
      headers: good,
      body: "x".repeat(256 * 1024 + 1),
    });
    assert.equal(huge.status, 400);
    assert.equal((await huge.json()).reason, "invalid-payload");
    // Chunked, with no Content-Length: reading stops once the limit is passed, and the
    // answer comes while the sender is still sending (so its later writes may fail).
    const chunked = await postChunked(new URL("/__clerk/webhooks", worker.url), good, 8, 64 * 1024);
    assert.equal(chunked.status, 400);
    const chunkedBody = JSON.parse(chunked.body);
    assert.equal(chunkedBody.reason, "invalid-payload");
    // It says how much had arrived when reading stopped: less than was sent.
    const seen = Number(chunkedBody.message.match(/body is (\d+) bytes/)?.[1]);
    assert.ok(seen > 256 * 1024 && seen < 8 * 64 * 1024, chunkedBody.message);
    assert.match(chunkedBody.message, /over the 262144-byte limit/);

    const [users, deliveries] = await queryD1(
      worker.persistDir,
      `SELECT * FROM users WHERE id = ${sqlText(id)}; SELECT * FROM webhook_deliveries WHERE svix_id IN (${sqlText(message.id)}, ${sqlText(malformed.id)})`,
    );
    assert.deepEqual(users, [], "no user written");
    assert.deepEqual(deliveries, [], "no delivery recorded");
    // So the same delivery, correctly signed, is processed (not a duplicate).
    const ok = await deliver(worker, message);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.duplicate, undefined);

    const line = await worker.waitForAudit((e) => e.event === "webhook.rejected" && e.reason === "timestamp-too-old");
    assert.equal(line.level, "warn");
    assert.equal(line.svix_id, message.id);
    assert.equal(line.status, 400);
  });

  test("a storage failure answers 500 and records nothing, and the redelivery applies", async () => {
    const sub = unique("user");
    const token = await signToken({ sub, sid: unique("sess") });
    assert.equal((await protectedRequest(token)).status, 200);
    // Break the D1 half of user.deleted: its batch (delete, tombstone, delivery) fails whole.
    await queryD1(worker.persistDir, "DROP TABLE deleted_users");
    const message = delivery("user.deleted", { id: sub, object: "user", deleted: true });
    const res = await deliver(worker, message);
    assert.equal(res.status, 500, res.text);
    assert.equal(res.json.error, "not-processed");
    const line = await worker.waitForAudit((e) => e.event === "webhook.failed" && e.svix_id === message.id);
    assert.equal(line.level, "error");
    assert.equal(line.reason, "not-processed");
    assert.equal(line.step, "d1");
    // The KV deny-list entry went first, so the user is already shut out at the edge.
    const refused = await protectedRequest(token);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");

    const [, deliveries] = await queryD1(
      worker.persistDir,
      `CREATE TABLE deleted_users (id TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL);
       SELECT * FROM webhook_deliveries WHERE svix_id = ${sqlText(message.id)}`,
    );
    assert.deepEqual(deliveries, [], "a failed delivery is not recorded");
    const retry = await deliver(worker, message, { at: new Date(Date.now() + 1000) });
    assert.equal(retry.status, 200, retry.text);
    assert.equal(retry.json.duplicate, undefined, "applied, not taken for a duplicate");
  });

  test("only POST is accepted", async () => {
    const res = await worker.fetch("/__clerk/webhooks");
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "POST");
    await res.arrayBuffer();
  });

  test("webhook latency in wrangler dev (diagnostic)", async (t) => {
    const id = unique("user");
    const timings = { applied: [], duplicate: [] };
    const base = Date.now();
    for (let i = 0; i < 20; i += 1) {
      const message = delivery("user.updated", userData(id, { updatedAt: base + i }));
      let start = performance.now();
      assert.equal((await deliver(worker, message)).status, 200);
      timings.applied.push(performance.now() - start);
      start = performance.now();
      assert.equal((await deliver(worker, message)).json.duplicate, true);
      timings.duplicate.push(performance.now() - start);
    }
    const summary = (values) => {
      const sorted = [...values].sort((a, b) => a - b);
      const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
      return `median ${at(0.5)} ms, p90 ${at(0.9)} ms, max ${at(1)} ms`;
    };
    t.diagnostic(`user.updated applied (verify + D1 check + D1 batch): ${summary(timings.applied)}`);
    t.diagnostic(`duplicate (verify + D1 check): ${summary(timings.duplicate)}`);
  });

  test("audit lines carry the contract's fields and never the body or the secret", async () => {
    const events = worker.auditEvents().filter((e) => e.event.startsWith("webhook."));
    const names = new Set(events.map((e) => e.event));
    for (const name of ["webhook.accepted", "webhook.duplicate", "webhook.rejected", "webhook.failed"]) {
      assert.ok(names.has(name), `${name} seen`);
    }
    const levels = {
      "webhook.accepted": "info",
      "webhook.duplicate": "info",
      "webhook.rejected": "warn",
      "webhook.failed": "error",
    };
    for (const event of events) {
      assert.equal(event.level, levels[event.event], JSON.stringify(event));
      assert.equal(event.path, "/__clerk/webhooks");
      assert.equal(event.method, "POST");
      assert.match(event.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(event.request_id);
      if (event.event === "webhook.rejected" || event.event === "webhook.failed") {
        assert.ok(event.reason, JSON.stringify(event));
      }
      if (event.event !== "webhook.rejected") {
        assert.match(event.svix_id, /^msg_/);
        assert.match(event.type, /^(user|session)\./);
      }
    }
    const text = JSON.stringify(worker.auditEvents());
    for (const secret of [SECRET, SECRET.slice("whsec_".length), OTHER_SECRET.slice("whsec_".length)]) {
      assert.ok(!text.includes(secret), "no secret in the audit lines");
    }
    assert.ok(!text.includes(BODY_MARKER), "no body in the audit lines");
    assert.ok(!text.includes("@example.test"), "no e-mail address in the audit lines");
    assert.ok(!text.includes("v1,"), "no signature in the audit lines");
  });
});
