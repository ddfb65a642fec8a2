// Protected requests end to end: the built Worker in workerd (`wrangler dev`), a local echo
// origin, a fake Clerk Backend API for JWKS, and tokens minted with jose. Every assertion is
// on what a user sees: status, headers and body, what the origin received, audit lines.
//
// Worker starts (each costs seconds): PEM mode, JWKS mode, a broken configuration.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { edgeTiming } from "../support/server-timing.mjs";
import { startOrigin, startWorker } from "./support/index.mjs";
import {
  GARBAGE_TOKEN,
  createSigningKey,
  jwksOf,
  mintExpiredToken,
  mintToken,
  sessionClaims,
  unsignedToken,
} from "./support/tokens.mjs";
import { verifyIdentityHeaders } from "../../pkg-js/index.js";
import { clerkHeaders } from "./support/identity.mjs";

const SIGN_IN_URL = "https://accounts.edge-guard.test/sign-in";
// Distinctive values that must never show up in an answer.
const SECRET_KEY = "sk_test_protectedE2eSecretKey0000000000000000";
const ADMIN_TOKEN = "protected-e2e-admin-token-7c1d3f0a9b8e6d5c4b3a2918";

/** The `x-clerk-*` request headers the origin received, as a plain object. */
/** Fetches through the Worker and returns the response with its body read (JSON or text). */
async function call(worker, path, init) {
  const res = await worker.fetch(path, init);
  const text = await res.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { res, status: res.status, headers: res.headers, body, text };
}

/** Asserts a signed-out JSON refusal with this reason. */
function assertRefused(answer, reason, what) {
  const context = `${what}: ${answer.status} ${answer.text}`;
  assert.equal(answer.status, 401, context);
  assert.equal(answer.headers.get("x-clerk-auth-status"), "signed-out", context);
  assert.equal(answer.headers.get("x-clerk-auth-reason"), reason, context);
  assert.match(answer.headers.get("content-type") ?? "", /^application\/json/, context);
  assert.deepEqual(answer.body, { error: "unauthenticated", reason }, context);
}

const bearer = (token) => ({ authorization: `Bearer ${token}` });

describe("PEM key (CLERK_JWT_KEY)", () => {
  let origin;
  let worker;
  let key;
  let otherKey;

  before(async () => {
    key = await createSigningKey("ins_pem_main");
    // Same kid, different key pair: a forgery that names the right key.
    otherKey = await createSigningKey("ins_pem_main");
    origin = await startOrigin();
    worker = await startWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_JWT_KEY: key.pem,
        CLERK_SECRET_KEY: SECRET_KEY,
        CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
        CLERK_PUBLIC_PATHS: "/public/*,/status",
        CLERK_SIGN_IN_URL: SIGN_IN_URL,
      },
    });
  });

  after(async () => {
    await worker?.stop();
    await origin?.close();
  });

  test("a valid __session cookie reaches the origin as signed-in with the identity", async () => {
    origin.clear();
    const token = await mintToken(key, sessionClaims({ sub: "user_cookie_1", sid: "sess_cookie_1" }));
    const answer = await call(worker, "/dashboard?tab=2&x=%20y", { headers: { cookie: `theme=dark; __session=${token}` } });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(answer.headers.get("x-echo-origin"), "1");
    assert.equal(origin.requests.length, 1);
    const [seen] = origin.requests;
    assert.equal(seen.method, "GET");
    assert.equal(seen.url, "/dashboard?tab=2&x=%20y", "path and query reach the origin unchanged");
    assert.deepEqual(clerkHeaders(seen), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": "user_cookie_1",
      "x-clerk-session-id": "sess_cookie_1",
    });
    assert.match(seen.headers.cookie, /theme=dark/, "the origin still gets the client's cookies");
  });

  test("a valid Bearer token reaches the origin, with method and body", async () => {
    origin.clear();
    const token = await mintToken(key, sessionClaims({ sub: "user_bearer_1", sid: "sess_bearer_1" }));
    const answer = await call(worker, "/api/items", {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: JSON.stringify({ name: "widget" }),
    });
    assert.equal(answer.status, 200, answer.text);
    const [seen] = origin.requests;
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/api/items");
    assert.equal(seen.body, '{"name":"widget"}');
    assert.deepEqual(clerkHeaders(seen), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": "user_bearer_1",
      "x-clerk-session-id": "sess_bearer_1",
    });
  });

  test("organization claims become x-clerk-org-* headers (v1 and v2 tokens), signed for server code", async () => {
    origin.clear();
    const v1 = await mintToken(
      key,
      sessionClaims({ sub: "user_org_v1", sid: "sess_org_v1", extra: { org_id: "org_v1", org_role: "org:admin", org_slug: "acme" } }),
    );
    const v2 = await mintToken(
      key,
      sessionClaims({
        sub: "user_org_v2",
        sid: "sess_org_v2",
        extra: { v: 2, fea: "o:posts,u:profile,o:billing", o: { id: "org_v2", rol: "member", slg: "acme-2", per: "read,write", fpm: "3,2" }, fva: [0, -1] },
      }),
    );
    assert.equal((await call(worker, "/org", { headers: bearer(v1) })).status, 200);
    assert.equal((await call(worker, "/org", { headers: bearer(v2) })).status, 200);
    assert.equal(origin.requests.length, 2);
    assert.deepEqual(clerkHeaders(origin.requests[0]), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": "user_org_v1",
      "x-clerk-session-id": "sess_org_v1",
      "x-clerk-org-id": "org_v1",
      "x-clerk-org-role": "org:admin",
      "x-clerk-org-slug": "acme",
    });
    assert.deepEqual(clerkHeaders(origin.requests[1]), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": "user_org_v2",
      "x-clerk-session-id": "sess_org_v2",
      "x-clerk-org-id": "org_v2",
      "x-clerk-org-role": "org:member",
      "x-clerk-org-slug": "acme-2",
      "x-clerk-org-permissions": "org:posts:read,org:posts:write,org:billing:write",
    });
    // What an origin's server code does with them: check the signature (CLERK_SECRET_KEY),
    // then read the auth state; a header changed on the way is refused.
    const state = await verifyIdentityHeaders(origin.requests[1].headers, { secretKey: SECRET_KEY });
    assert.equal(state.has({ permission: "org:billing:write" }), true);
    assert.equal(state.has({ role: "org:admin" }), false);
    const tampered = { ...origin.requests[1].headers, "x-clerk-org-role": "org:admin" };
    await assert.rejects(verifyIdentityHeaders(tampered, { secretKey: SECRET_KEY }), { problem: "bad-signature" });
  });

  test("spoofed x-clerk-* request headers never reach the origin", async () => {
    origin.clear();
    const spoofed = {
      "x-clerk-user-id": "user_attacker",
      "X-Clerk-Auth-Status": "signed-in",
      "X-CLERK-ORG-ID": "org_attacker",
      "x-clerk-org-role": "org:admin",
      "x-clerk-session-id": "sess_attacker",
      "x-clerk-anything-else": "spoofed",
    };
    const token = await mintToken(key, sessionClaims({ sub: "user_real", sid: "sess_real" }));

    // Signed in: our values replace the client's.
    const signedIn = await call(worker, "/profile", { headers: { ...spoofed, ...bearer(token) } });
    assert.equal(signedIn.status, 200, signedIn.text);
    // Public path: forwarded, but with none of the client's x-clerk-* headers.
    const open = await call(worker, "/public/page", { headers: spoofed });
    assert.equal(open.status, 200, open.text);
    // Signed out: refused, nothing forwarded at all.
    const refused = await call(worker, "/profile", { headers: spoofed });
    assertRefused(refused, "session-token-and-uat-missing", "spoofed headers, no token");

    assert.equal(origin.requests.length, 2);
    assert.deepEqual(clerkHeaders(origin.requests[0]), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": "user_real",
      "x-clerk-session-id": "sess_real",
    });
    assert.deepEqual(
      clerkHeaders(origin.requests[1]),
      { "x-clerk-auth-status": "signed-out", "x-clerk-auth-reason": "public-path" },
      "public path: only the edge's own mark",
    );
  });

  test("the Authorization header wins over the __session cookie", async () => {
    origin.clear();
    const headerToken = await mintToken(key, sessionClaims({ sub: "user_from_header", sid: "sess_h" }));
    const cookieToken = await mintToken(key, sessionClaims({ sub: "user_from_cookie", sid: "sess_c" }));
    const both = await call(worker, "/who", { headers: { ...bearer(headerToken), cookie: `__session=${cookieToken}` } });
    assert.equal(both.status, 200, both.text);
    assert.equal(origin.requests[0].headers["x-clerk-user-id"], "user_from_header");

    // An invalid header token is not rescued by a valid cookie: the header is the token.
    const badHeader = await call(worker, "/who", { headers: { ...bearer(GARBAGE_TOKEN), cookie: `__session=${cookieToken}` } });
    assertRefused(badHeader, "token-invalid", "invalid Bearer + valid cookie");
    assert.equal(origin.requests.length, 1);
  });

  test("a token in the query string is ignored", async () => {
    origin.clear();
    const token = await mintToken(key);
    const answer = await call(worker, `/private?__session=${token}&token=${token}&__clerk_db_jwt=${token}`);
    assertRefused(answer, "session-token-and-uat-missing", "token in query");
    assert.equal(origin.requests.length, 0);
  });

  test("bad tokens are refused with 401, the reason code, and an auth.denied line", async () => {
    origin.clear();
    const cases = [
      ["expired", bearer(await mintExpiredToken(key, 120, { sub: "user_expired" })), "token-expired"],
      ["wrong key", bearer(await mintToken(otherKey)), "token-invalid-signature"],
      ["alg none", bearer(unsignedToken(sessionClaims(), key.kid)), "token-invalid-algorithm"],
      ["garbage", bearer(GARBAGE_TOKEN), "token-invalid"],
      ["garbage cookie", { cookie: `__session=${GARBAGE_TOKEN}` }, "token-invalid"],
      ["no token", {}, "session-token-and-uat-missing"],
    ];
    for (const [what, headers, reason] of cases) {
      const path = `/refused/${what.replaceAll(" ", "-")}`;
      const answer = await call(worker, `${path}?q=1`, { headers });
      assertRefused(answer, reason, what);
      const line = await worker.waitForAudit((e) => e.event === "auth.denied" && e.path === path);
      assert.equal(line.reason, reason, what);
      assert.equal(line.level, "warn", what);
      assert.equal(line.status, 401, what);
      assert.equal(line.method, "GET", what);
    }
    assert.equal(origin.requests.length, 0, "nothing refused reached the origin");
  });

  test("every protected answer carries Server-Timing: what the edge did and how long it took", async () => {
    origin.clear();
    const token = await mintToken(key, sessionClaims({ sub: "user_timing", sid: "sess_timing" }));
    const first = await call(worker, "/timing", { headers: bearer(token) });
    assert.equal(first.status, 200, first.text);
    assert.equal(first.headers.get("x-echo-origin"), "1", "the origin's answer, with our header added");
    const cold = edgeTiming(first.headers.get("server-timing"));
    assert.deepEqual(cold.steps, ["webcrypto", "denylist"]);
    // Workers advance their clock only across I/O: the deny-list read in KV is one.
    assert.ok(cold.timed.denylist >= 0 && cold.total >= cold.timed.denylist);

    const again = await call(worker, "/timing", { headers: bearer(token) });
    assert.deepEqual(edgeTiming(again.headers.get("server-timing")).steps, ["cache", "denylist"]);

    const refused = await call(worker, "/timing");
    assert.equal(refused.status, 401);
    assert.deepEqual(edgeTiming(refused.headers.get("server-timing")).steps, ["none"]);
    const bad = await call(worker, "/timing", { headers: bearer(GARBAGE_TOKEN) });
    assert.equal(bad.status, 401);
    assert.ok(edgeTiming(bad.headers.get("server-timing")).total >= 0);
    const publicPath = await call(worker, "/public/timing");
    assert.equal(publicPath.headers.get("server-timing"), null, "public paths are not checked");
  });

  test("with CLERK_SIGN_IN_URL, signed-out document requests are redirected (307); others get 401", async () => {
    origin.clear();
    const original = `${worker.url}/reports/q3?sort=desc&page=2`;
    const expected = `${SIGN_IN_URL}?redirect_url=${encodeURIComponent(original)}`;

    for (const [what, headers] of [
      ["Accept: text/html", { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" }],
      ["Sec-Fetch-Dest: document", { "sec-fetch-dest": "document", accept: "*/*" }],
    ]) {
      const answer = await call(worker, "/reports/q3?sort=desc&page=2", { headers });
      assert.equal(answer.status, 307, `${what}: ${answer.text}`);
      assert.equal(answer.headers.get("location"), expected, what);
      assert.equal(new URL(answer.headers.get("location")).searchParams.get("redirect_url"), original, what);
      assert.equal(answer.headers.get("x-clerk-auth-status"), "signed-out", what);
      assert.equal(answer.headers.get("x-clerk-auth-reason"), "session-token-and-uat-missing", what);
    }

    // An expired token on a navigation: redirected too, with its own reason.
    const expired = await call(worker, "/reports/q3", {
      headers: { accept: "text/html", cookie: `__session=${await mintExpiredToken(key, 30)}` },
    });
    assert.equal(expired.status, 307);
    assert.equal(expired.headers.get("x-clerk-auth-reason"), "token-expired");

    // Not a navigation: a POST from a form, and an API call.
    const post = await call(worker, "/reports/q3", {
      method: "POST",
      headers: { accept: "text/html", "sec-fetch-dest": "document", "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    assertRefused(post, "session-token-and-uat-missing", "POST document");
    assert.equal(post.headers.get("location"), null);
    const api = await call(worker, "/reports/q3", { headers: { accept: "application/json" } });
    assertRefused(api, "session-token-and-uat-missing", "JSON API call");
    assert.equal(origin.requests.length, 0);
  });

  test("CLERK_PUBLIC_PATHS are forwarded without a token", async () => {
    origin.clear();
    for (const path of ["/public/", "/public/a/b?c=d", "/status"]) {
      const answer = await call(worker, path);
      assert.equal(answer.status, 200, `${path}: ${answer.text}`);
      assert.equal(answer.headers.get("x-clerk-auth-status"), null, path);
    }
    assert.deepEqual(
      origin.requests.map((r) => r.url),
      ["/public/", "/public/a/b?c=d", "/status"],
    );
    // Not public: a sibling of an exact pattern, and a path that only starts like a prefix.
    assertRefused(await call(worker, "/status/x"), "session-token-and-uat-missing", "/status/x");
    assertRefused(await call(worker, "/publicity"), "session-token-and-uat-missing", "/publicity");
    assert.equal(origin.requests.length, 3);
  });

  test("a path that climbs out of a public prefix with an encoded slash is not public", async () => {
    origin.clear();
    // Decoded, these are /public/../dashboard: an origin that decodes %2F and resolves dot
    // segments (nginx does) serves /dashboard. Whatever the origin does, no auth is skipped.
    for (const path of ["/public/..%2Fdashboard", "/public/x%2F..%2F..%2Fdashboard", "/public/%2E%2E%2Fdashboard", "/public/..%5Cdashboard"]) {
      assertRefused(await call(worker, path), "session-token-and-uat-missing", path);
    }
    assert.equal(origin.requests.length, 0);
  });

  test("GET /__clerk/health answers its documented shape and no secret", async () => {
    const answer = await call(worker, "/__clerk/health");
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.headers.get("content-type") ?? "", /^application\/json/);
    const body = answer.body;
    assert.equal(body.status, "ok", answer.text);
    assert.equal(body.key_source, "pem");
    assert.deepEqual(body.bypass, { mode: "off", until: null });
    assert.deepEqual(body.webhooks, { paused: false });
    assert.equal(typeof body.version, "string");
    assert.match(body.version, /^\d+\.\d+\.\d+/);
    for (const secret of [SECRET_KEY, ADMIN_TOKEN, key.pem.split("\n")[1]]) {
      assert.ok(!answer.text.includes(secret), "health must not contain a secret");
    }
    // The health route is not protected, so a token is neither needed nor looked at.
    const withGarbage = await call(worker, "/__clerk/health", { headers: bearer(GARBAGE_TOKEN) });
    assert.equal(withGarbage.status, 200);
  });

  test("throughput: requests/s that wrangler dev sustains on a valid-token route", async (t) => {
    origin.clear();
    const token = await mintToken(key, sessionClaims({ sub: "user_bench", sid: "sess_bench", expiresIn: 3600 }));
    const clients = 10;
    /** `clients` loops sending `path` for `durationMs`; the statuses seen and the rate. */
    async function load(path, headers, durationMs) {
      const statuses = new Map();
      let done = 0;
      const started = performance.now();
      const deadline = started + durationMs;
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (performance.now() < deadline) {
            const res = await worker.fetch(path, { headers });
            await res.arrayBuffer();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            done += 1;
          }
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      return { statuses, done, seconds, rate: done / seconds };
    }
    // A baseline on a route with no token check and no origin, to tell runtime overhead
    // (and a busy machine) from the cost of verifying and forwarding.
    const baseline = await load("/__clerk/health", {}, 2000);
    const bench = await load("/bench", bearer(token), 5000);
    t.diagnostic(
      `wrangler dev, valid RS256 Bearer token, forwarded to the origin, ${clients} concurrent clients for ` +
        `${bench.seconds.toFixed(1)} s: ${bench.done} requests, ${bench.rate.toFixed(0)} requests/s ` +
        `(GET /__clerk/health baseline: ${baseline.rate.toFixed(0)} requests/s)`,
    );
    assert.deepEqual([...bench.statuses.keys()], [200], `every request forwarded: ${JSON.stringify([...bench.statuses])}`);
    assert.equal(origin.requests.length, bench.done);
  });
});

describe("JWKS from the Backend API (CLERK_SECRET_KEY + CLERK_API_URL)", () => {
  let origin;
  let clerk;
  let worker;
  let key1;
  let key2;
  const jwksFetches = []; // times the fake answered GET /v1/jwks

  /** Waits until the Worker may fetch the JWKS again (it spaces fetches >= 5 s apart). */
  async function waitForFetchInterval() {
    const last = jwksFetches.at(-1) ?? 0;
    const wait = last + 5_600 - Date.now();
    if (wait > 0) await sleep(wait);
  }

  before(async () => {
    key1 = await createSigningKey("ins_jwks_one");
    key2 = await createSigningKey("ins_jwks_two");
    clerk = await startFakeClerk({
      secretKey: SECRET_KEY,
      jwks: jwksOf(key1),
      log: (line) => {
        if (line.includes("/v1/jwks")) jwksFetches.push(Date.now());
      },
    });
    origin = await startOrigin();
    worker = await startWorker({
      vars: { ORIGIN_URL: origin.url, CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url },
    });
  });

  after(async () => {
    await worker?.stop();
    await origin?.close();
    await clerk?.close();
  });

  test("a token signed by a JWKS key is accepted; the JWKS is fetched with the secret key", async () => {
    // A cold isolate under load: requests that arrive while the first one fetches the JWKS
    // (slowly here) wait for that fetch instead of being refused for want of keys.
    clerk.setFault("jwks", { kind: "delay", ms: 600, times: 1 });
    const token = await mintToken(key1, sessionClaims({ sub: "user_k1" }));
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => call(worker, "/jwks/one", { headers: bearer(token) })),
    );
    for (const answer of answers) assert.equal(answer.status, 200, answer.text);
    assert.equal(origin.requests.at(-1).headers["x-clerk-user-id"], "user_k1");
    // Each waited for the one slow fetch, and Server-Timing shows where the time went.
    for (const answer of answers) {
      const timing = edgeTiming(answer.headers.get("server-timing"));
      assert.ok(timing.steps.includes("jwks"), answer.headers.get("server-timing"));
      assert.ok(timing.timed.jwks >= 500, `the JWKS wait is the slow part: ${answer.headers.get("server-timing")}`);
    }
    const fetches = clerk.requests.filter((r) => r.route === "jwks");
    assert.equal(fetches.length, 1, "one fetch for the first tokens");
    assert.equal(fetches[0].method, "GET");
    assert.equal(fetches[0].authorized, true, "Authorization: Bearer <CLERK_SECRET_KEY>");

    // Cached: more tokens of the same key cause no more fetches.
    for (let i = 0; i < 3; i += 1) {
      assert.equal((await call(worker, "/jwks/one", { headers: bearer(await mintToken(key1)) })).status, 200);
    }
    assert.equal(clerk.requests.filter((r) => r.route === "jwks").length, 1);

    const health = await call(worker, "/__clerk/health");
    assert.equal(health.body.status, "ok", health.text);
    assert.equal(health.body.key_source, "jwks");
    assert.ok(!health.text.includes(SECRET_KEY));
  });

  test("key rotation: a token with the new kid is accepted once Clerk serves the new key", async () => {
    clerk.setJwks(jwksOf(key1, key2));
    await waitForFetchInterval();
    const answer = await call(worker, "/jwks/two", { headers: bearer(await mintToken(key2, sessionClaims({ sub: "user_k2" }))) });
    assert.equal(answer.status, 200, answer.text);
    assert.equal(origin.requests.at(-1).headers["x-clerk-user-id"], "user_k2");
    assert.equal(clerk.requests.filter((r) => r.route === "jwks").length, 2, "the unknown kid caused one refetch");
    // The old key is still served, so its tokens still pass.
    assert.equal((await call(worker, "/jwks/one", { headers: bearer(await mintToken(key1)) })).status, 200);
  });

  test("Clerk down: cached keys keep working, keys.refresh_failed is logged, health is degraded", async () => {
    clerk.setFault("jwks", { kind: "error", status: 503 });
    await waitForFetchInterval();
    const fetchesBefore = clerk.requests.filter((r) => r.route === "jwks").length;

    // An unknown kid forces a refresh, which fails: that token is refused...
    const key3 = await createSigningKey("ins_jwks_three");
    const unknown = await call(worker, "/jwks/three", { headers: bearer(await mintToken(key3)) });
    assert.equal(unknown.status, 401, unknown.text);
    assert.equal(unknown.headers.get("x-clerk-auth-status"), "signed-out");
    assert.match(unknown.body.reason, /^jwk-/, unknown.text);
    assert.equal(clerk.requests.filter((r) => r.route === "jwks").length, fetchesBefore + 1);
    assert.equal(clerk.requests.at(-1).status, 503);

    const failed = await worker.waitForAudit((e) => e.event === "keys.refresh_failed");
    assert.equal(failed.level, "error");
    assert.equal(failed.path, "/jwks/three");
    assert.equal(typeof failed.reason, "string");
    assert.ok(!JSON.stringify(failed).includes(SECRET_KEY));

    // ...but tokens of cached keys still pass, while Clerk answers 503 and once it is gone.
    for (const k of [key1, key2]) {
      const answer = await call(worker, "/jwks/cached", { headers: bearer(await mintToken(k)) });
      assert.equal(answer.status, 200, answer.text);
    }
    await clerk.close();
    for (const k of [key1, key2]) {
      const answer = await call(worker, "/jwks/cached", { headers: bearer(await mintToken(k)) });
      assert.equal(answer.status, 200, answer.text);
    }

    const health = await call(worker, "/__clerk/health");
    assert.equal(health.status, 200);
    assert.equal(health.body.status, "degraded", health.text);
    assert.equal(health.body.key_source, "jwks");
    assert.ok(!health.text.includes("503"), "no reason text in health");
  });
});

describe("a broken variable (CLERK_CLOCK_SKEW_MS=abc)", () => {
  let origin;
  let worker;
  let key;

  before(async () => {
    key = await createSigningKey("ins_broken_cfg");
    origin = await startOrigin();
    worker = await startWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_JWT_KEY: key.pem,
        CLERK_CLOCK_SKEW_MS: "abc",
        CLERK_PUBLIC_PATHS: "/public/*",
        CLERK_SERVER_TIMING: "false",
      },
    });
  });

  after(async () => {
    await worker?.stop();
    await origin?.close();
  });

  test("protected requests fail closed with 500 misconfigured, even with a valid token", async () => {
    const answer = await call(worker, "/app", { headers: bearer(await mintToken(key)) });
    assert.equal(answer.status, 500, answer.text);
    assert.equal(answer.body.error, "misconfigured");
    assert.equal(answer.body.reason, "misconfigured");
    assert.ok(!answer.text.includes("abc"), "the value is not echoed");
    const noToken = await call(worker, "/app");
    assert.equal(noToken.status, 500, noToken.text);
    assert.equal(noToken.headers.get("server-timing"), null, "CLERK_SERVER_TIMING=false");
    assert.equal(origin.requests.length, 0, "nothing forwarded");
  });

  test("a config.invalid line names the variable, never its value", async () => {
    const line = await worker.waitForAudit((e) => e.event === "config.invalid");
    assert.equal(line.level, "error");
    assert.equal(line.variable, "CLERK_CLOCK_SKEW_MS");
    assert.equal(typeof line.problem, "string");
    assert.ok(line.problem.length > 0);
    assert.ok(!line.problem.includes("abc"), line.problem);
    const others = worker.auditEvents().filter((e) => e.event === "config.invalid" && e.variable !== "CLERK_CLOCK_SKEW_MS");
    assert.deepEqual(others, [], "only the broken variable is reported");
  });

  test("health says misconfigured", async () => {
    const answer = await call(worker, "/__clerk/health");
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, "misconfigured", answer.text);
    assert.ok(!answer.text.includes("abc"));
  });
});
