// End to end in a real Next.js production server: the example app (tests/next-app) built with
// `next build` and run with `next start`, in each runtime the package supports (support/
// built-app.mjs): Next 16's edge `middleware.ts` (the package's wasm in Next's edge sandbox),
// the same file as Next 16's `proxy.ts` (the package's Node entry in Next's Node.js runtime),
// and Next 15's edge `middleware.ts` (webpack; the core cases only). Route handlers use the
// package in Node. Against the fake Clerk Backend API (JWKS, sessions) and a stand-in of
// Upstash's REST API (the deny-list shared by the route handlers and the middleware). Needs
// `npm --prefix pkg-js run build` first; installs the packed package and builds each variant
// itself, once (a build of the same inputs is reused).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Webhook } from "svix";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { edgeTiming } from "../support/server-timing.mjs";
import { createSigningKey, jwksOf, mintExpiredToken, mintToken, sessionClaims } from "../e2e/support/tokens.mjs";
import { BUILD_TIME_MARKER, VARIANTS, ensureAppBuilt, nextVersion } from "./support/built-app.mjs";
import { startFakeUpstash } from "./support/fake-upstash.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_e2e_secret_key";
const WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ADMIN_TOKEN = "next-e2e-admin-token-0123456789abcdef";

// One variant at a time (describe blocks run in order): these are that variant's.
let key;
let clerk;
let redis;
let app;
let appDir;
let runtime;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

function mainEnv(extra = {}) {
  return {
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_API_URL: clerk.url,
    CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
    CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
    CLERK_SIGN_IN_URL: "/sign-in",
    UPSTASH_REDIS_REST_URL: redis.url,
    UPSTASH_REDIS_REST_TOKEN: redis.token,
    ...extra,
  };
}

/** A describe block per variant: its build, fresh fakes and one `next start`, then `register()`'s tests. */
function forVariant(name, register) {
  describe(VARIANTS[name].label, () => {
    before(async () => {
      const timings = {};
      let started = Date.now();
      const build = await ensureAppBuilt(name);
      timings[build.built ? "install_and_build" : "build_reused"] = Date.now() - started;
      appDir = build.dir;
      runtime = VARIANTS[name].runtime;
      key = await createSigningKey(`ins_next_e2e_${name}`);
      clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key) });
      redis = await startFakeUpstash();
      started = Date.now();
      app = await startApp(mainEnv(), { dir: appDir });
      timings.start = Date.now() - started;
      console.log(`# ${VARIANTS[name].label} (next ${nextVersion(appDir)}) timings (ms): ${JSON.stringify(timings)}`);
    });

    after(async () => {
      await app?.stop();
      await clerk?.close();
      await redis?.close();
      app = clerk = redis = undefined;
    });

    register();
  });
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** The x-clerk-* headers a route received, less the signature, which must be there. */
function signed(headers) {
  const { "x-clerk-edge-signature": signature, ...rest } = headers;
  assert.match(signature ?? "", /^v1,\d+,[A-Za-z0-9_-]{43}$/, "the middleware signs what it sets (CLERK_SECRET_KEY)");
  return rest;
}






function delivery(event, { id = `msg_${Math.random().toString(36).slice(2)}`, secret = WEBHOOK_SECRET } = {}) {
  const body = JSON.stringify(event);
  const now = new Date();
  return {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "svix-id": id,
      "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
      "svix-signature": new Webhook(secret).sign(id, now, body),
    },
    body,
  };
}

/** The scenarios, by name: [title, body]; each variant runs all of them or a subset. */
const CASES = {
  build: ["next build captured none of the build-time CLERK_* values; the middleware runs in its runtime", () => {
    for (const path of files(join(appDir, ".next"))) {
      if (path.includes(`${join(".next", "cache")}`)) continue;
      assert.ok(!readFileSync(path).includes(BUILD_TIME_MARKER), `${path} holds a build-time value`);
    }
    const manifest = JSON.parse(readFileSync(join(appDir, ".next", "server", "middleware-manifest.json"), "utf8"));
    if (runtime === "edge") {
      const middleware = manifest.middleware["/"];
      assert.ok(middleware, "an edge middleware was built");
      assert.equal(middleware.wasm.length, 1, "the wasm is bundled as an edge wasm binding");
    } else {
      assert.deepEqual(manifest.middleware, {}, "no edge middleware");
      const functions = JSON.parse(readFileSync(join(appDir, ".next", "server", "functions-config-manifest.json"), "utf8"));
      assert.equal(functions.functions["/_middleware"]?.runtime, "nodejs", "the proxy runs on Node.js");
    }
  }],

  signedIn: ["a signed-in page and /api/whoami see the identity the middleware set", async () => {
    const token = await mintToken(key, sessionClaims({ sub: "user_next_1", sid: "sess_next_1" }));
    const page = await fetch(`${app.url}/`, { headers: { cookie: `__session=${token}`, accept: "text/html" } });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<p id="status">signed-in<\/p>/);
    assert.match(html, /<p id="user">user_next_1<\/p>/);
    // The middleware's Server-Timing reaches the rendered page's response.
    const timing = edgeTiming(page.headers.get("server-timing") ?? "");
    assert.deepEqual(timing.steps, ["jwks", "webcrypto", "denylist"], page.headers.get("server-timing"));
    assert.ok(timing.timed.jwks > 0, "the JWKS fetch of a fresh instance is timed");

    const whoami = await fetch(`${app.url}/api/whoami`, { headers: bearer(token) });
    assert.equal(whoami.status, 200);
    assert.deepEqual(signed(await whoami.json()), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-session-id": "sess_next_1",
      "x-clerk-user-id": "user_next_1",
    });
    assert.equal(clerk.requests.filter((r) => r.route === "jwks").length, 1, "JWKS fetched once");
  }],

  spoofed: ["spoofed x-clerk-* headers never reach the app, signed in or not", async () => {
    const token = await mintToken(key, sessionClaims({ sub: "user_next_2", sid: "sess_next_2" }));
    const spoof = { "x-clerk-user-id": "user_admin", "x-clerk-org-role": "org:admin", "X-Clerk-Auth-Status": "signed-in" };
    const signedIn = await fetch(`${app.url}/api/whoami`, { headers: { ...bearer(token), ...spoof } });
    assert.deepEqual(signed(await signedIn.json()), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-session-id": "sess_next_2",
      "x-clerk-user-id": "user_next_2",
    });
    const anonymous = await fetch(`${app.url}/api/whoami`, { headers: spoof });
    assert.equal(anonymous.status, 401);
    const page = await fetch(`${app.url}/`, { headers: { ...spoof, accept: "application/json" } });
    assert.equal(page.status, 401);
  }],

  signedOut: ["expired and missing tokens: 401 JSON for APIs, the sign-in redirect for documents", async () => {
    const expired = await mintExpiredToken(key, 600, { sub: "user_next_3", sid: "sess_next_3" });
    const api = await fetch(`${app.url}/api/whoami?x=1`, { headers: bearer(expired) });
    assert.equal(api.status, 401);
    assert.equal(api.headers.get("x-clerk-auth-reason"), "token-expired");
    assert.ok(edgeTiming(api.headers.get("server-timing") ?? "").total >= 0, "refusals carry Server-Timing too");
    assert.deepEqual(await api.json(), { error: "unauthenticated", reason: "token-expired" });

    const missing = await fetch(`${app.url}/api/whoami`);
    assert.equal(missing.status, 401);
    assert.equal((await missing.json()).reason, "session-token-and-uat-missing");

    const doc = await fetch(`${app.url}/dashboard?tab=2`, { headers: { accept: "text/html" }, redirect: "manual" });
    assert.equal(doc.status, 307);
    const location = new URL(doc.headers.get("location"), app.url);
    assert.equal(location.pathname, "/sign-in");
    assert.equal(new URL(location.searchParams.get("redirect_url")).pathname, "/dashboard");

    const denied = await app.waitForAudit((e) => e.event === "auth.denied" && e.reason === "token-expired");
    assert.equal(denied.path, "/api/whoami", "the path, never the query");
    assert.equal(denied.user_id, "user_next_3");
    assert.equal(denied.status, 401);
    assert.equal(denied.auth_status, "signed-out");
    assert.ok(!app.output().includes(expired), "a token never reaches the log");
    assert.ok(!app.output().includes(SECRET_KEY), "the secret key never reaches the log");
  }],

  health: ["health answers through the middleware", async () => {
    const response = await fetch(`${app.url}/__clerk/health`);
    assert.equal(response.status, 200);
    const body = await response.json();
    assert.equal(body.status, "ok");
    assert.equal(body.key_source, "jwks");
    assert.deepEqual(body.bypass, { mode: "off", until: null }, "the build-time bypass is not in force");
  }],

  webhookRevoke: ["webhook route: a signed session.revoked is accepted and the middleware then refuses the session", async () => {
    const token = await mintToken(key, sessionClaims({ sub: "user_next_wh", sid: "sess_next_wh" }));
    const event = { type: "session.revoked", object: "event", data: { id: "sess_next_wh", user_id: "user_next_wh" } };
    const init = delivery(event, { id: "msg_next_wh_1" });
    const accepted = await fetch(`${app.url}/api/webhooks`, init);
    assert.equal(accepted.status, 200, await accepted.clone().text());
    assert.deepEqual(await accepted.json(), { ok: true, svix_id: "msg_next_wh_1", type: "session.revoked" });
    assert.ok(redis.data.has("deny:session:sess_next_wh"));
    await app.waitForAudit((e) => e.event === "webhook.accepted" && e.svix_id === "msg_next_wh_1");
    assert.ok(app.lines.some((l) => l.includes('"app":"webhook-received"') && l.includes("sess_next_wh")));

    const refused = await fetch(`${app.url}/api/whoami`, { headers: bearer(token) });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "session-revoked");

    const duplicate = await fetch(`${app.url}/api/webhooks`, delivery(event, { id: "msg_next_wh_1" }));
    assert.equal((await duplicate.json()).duplicate, true);
  }],

  webhookErrors: ["webhook route: a bad signature is 400 with its reason; a failing onEvent is 500", async () => {
    const event = { type: "session.revoked", object: "event", data: { id: "sess_x", user_id: "user_x" } };
    const forged = await fetch(`${app.url}/api/webhooks`, delivery(event, { secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" }));
    assert.equal(forged.status, 400);
    assert.deepEqual(
      { ...(await forged.json()), message: undefined },
      { error: "invalid-webhook", reason: "invalid-signature", message: undefined },
    );
    await app.waitForAudit((e) => e.event === "webhook.rejected" && e.reason === "invalid-signature");

    const failing = { type: "user.deleted", object: "event", data: { id: "user_fail_on_event", deleted: true } };
    const response = await fetch(`${app.url}/api/webhooks`, delivery(failing));
    assert.equal(response.status, 500);
    await app.waitForAudit((e) => e.event === "webhook.failed" && e.store === "handler");
  }],

  adminRevoke: ["admin revoke route: deny-lists the user, revokes the sessions at Clerk, the middleware refuses", async () => {
    clerk.addSession({ id: "sess_next_rv_1", user_id: "user_next_rv" });
    clerk.addSession({ id: "sess_next_rv_2", user_id: "user_next_rv" });
    const token = await mintToken(key, sessionClaims({ sub: "user_next_rv", sid: "sess_next_rv_1" }));
    const unauthorized = await fetch(`${app.url}/api/admin/revoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user_id: "user_next_rv" }),
    });
    assert.equal(unauthorized.status, 401);

    const response = await fetch(`${app.url}/api/admin/revoke`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ user_id: "user_next_rv", reason: "INC-9" }),
    });
    const report = await response.json();
    assert.equal(response.status, 200, JSON.stringify(report));
    assert.equal(report.edge_deny_listed, true);
    assert.deepEqual(report.revoked.sort(), ["sess_next_rv_1", "sess_next_rv_2"]);
    assert.equal(clerk.state.sessions.get("sess_next_rv_1").status, "revoked");
    const line = await app.waitForAudit((e) => e.event === "admin.revoke" && e.target === "user:user_next_rv");
    assert.equal(line.operator_reason, "INC-9");

    const refused = await fetch(`${app.url}/api/whoami`, { headers: bearer(token) });
    assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");

    const restore = await fetch(`${app.url}/api/admin/restore`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
      body: JSON.stringify({ user_id: "user_next_rv" }),
    });
    assert.equal(restore.status, 200);
    assert.equal(redis.data.has("deny:user:user_next_rv"), false);
  }],

  auditLines: ["every audit line on stdout is one JSON object with the contract's fields", () => {
    const events = app.auditEvents();
    assert.ok(events.length >= 8, `only ${events.length} audit lines`);
    for (const event of events) {
      assert.match(event.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(["info", "warn", "error"].includes(event.level));
      for (const field of ["request_id", "method", "path", "ip", "user_agent"]) assert.ok(field in event, field);
      assert.ok(!String(event.path).includes("?"));
    }
    assert.ok(!app.output().includes(ADMIN_TOKEN));
  }],

  bypassModes: ["bypass modes come from the runtime environment (same build, restarted next start)", async () => {
    const pem = key.pem;
    const open = await startApp({ CLERK_JWT_KEY: pem, CLERK_EMERGENCY_BYPASS: "true", CLERK_EMERGENCY_BYPASS_REASON: "INC-1" }, { dir: appDir });
    try {
      const response = await fetch(`${open.url}/api/whoami`, { headers: { "x-clerk-user-id": "user_spoof" } });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { "x-clerk-auth-status": "bypassed" });
      const line = await open.waitForAudit((e) => e.event === "auth.bypassed");
      assert.equal(line.mode, "open");
      assert.equal(line.bypass_reason, "INC-1");
    } finally {
      await open.stop();
    }

    const grace = await startApp({ CLERK_JWT_KEY: pem, CLERK_EMERGENCY_BYPASS: "grace" }, { dir: appDir });
    try {
      const expired = await mintExpiredToken(key, 600, { sub: "user_grace", sid: "sess_grace" });
      const response = await fetch(`${grace.url}/api/whoami`, { headers: bearer(expired) });
      assert.deepEqual(await response.json(), {
        "x-clerk-auth-status": "bypassed",
        "x-clerk-session-id": "sess_grace",
        "x-clerk-user-id": "user_grace",
      });
      const garbage = await fetch(`${grace.url}/api/whoami`, { headers: bearer("not.a.jwt") });
      assert.equal(garbage.status, 401, "grace lets only validly signed tokens through");
    } finally {
      await grace.stop();
    }

    const broken = await startApp({ CLERK_JWT_KEY: pem, CLERK_CLOCK_SKEW_MS: "soon" }, { dir: appDir });
    try {
      const response = await fetch(`${broken.url}/api/whoami`);
      assert.equal(response.status, 500);
      assert.equal((await response.json()).reason, "misconfigured");
      const line = await broken.waitForAudit((e) => e.event === "config.invalid");
      assert.equal(line.variable, "CLERK_CLOCK_SKEW_MS");
      assert.ok(!broken.output().includes('"soon"'));
    } finally {
      await broken.stop();
    }
  }],
};

const runCases = (names) => () => {
  for (const name of names) test(...CASES[name]);
};

forVariant("edge", runCases(Object.keys(CASES)));
forVariant("proxy", runCases(Object.keys(CASES)));
// Next 15 (webpack) is kept working, not re-proved in full: the cases users meet first.
forVariant("next15", () => {
  runCases(["build", "signedIn", "spoofed", "signedOut", "health", "adminRevoke"])();
  test("clerk-edge-guard/server loads where Node loads the package itself (serverExternalPackages)", () => {
    // Node's own loader takes the `default` condition: server-node.js, which names Next's files.
    const resolved = execFileSync(
      process.execPath,
      ["--input-type=module", "-e", 'const m = await import("clerk-edge-guard/server"); console.log(import.meta.resolve("clerk-edge-guard/server").split("/").pop(), typeof m.auth, typeof m.auth.protect)'],
      { cwd: appDir, encoding: "utf8" },
    );
    assert.equal(resolved.trim(), "server-node.js function function");
  });
});
