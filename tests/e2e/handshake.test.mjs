// Clerk's handshake end to end in workerd (`wrangler dev`): the built Worker in front of the
// echo origin, a fake Frontend API (tests/support/fake-frontend-api.mjs, reached through
// CLERK_PROXY_URL) and the fake Backend API redeeming its nonces, driven by a cookie-jar
// client that follows every redirect by hand (tests/e2e/support/cookie-jar.mjs). What is
// asserted is what a browser sees hop by hop, what the origin receives, and the audit lines.
//
// Worker starts: production (pk_live_), development (pk_test_), emergency bypass (grace).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { startOrigin, startWorker } from "./support/index.mjs";
import { CookieJar, DOCUMENT_HEADERS, FETCH_HEADERS, HttpClient, formatTrace } from "./support/cookie-jar.mjs";
import {
  EXPIRED_NON_GET_REASON,
  EXPIRED_REASON,
  assertFreshSession,
  assertHandshakeRedirect,
  roleTrace,
  seedExpiredSession,
  startInstance,
} from "./support/handshake.mjs";

const SECRET_KEY = "sk_test_handshakeE2eSecretKey00000000000000";

let instance;
let origin;

before(async () => {
  instance = await startInstance({ secretKey: SECRET_KEY });
  origin = await startOrigin();
});

after(async () => {
  await origin?.close();
  await instance?.close();
});

/** The vars of a Worker of the fake instance (PEM key, nonce redemption at the fake BAPI). */
function vars(publishableKey, extra = {}) {
  return {
    ORIGIN_URL: origin.url,
    CLERK_JWT_KEY: instance.key.pem,
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_API_URL: instance.clerk.url,
    CLERK_PUBLISHABLE_KEY: publishableKey,
    CLERK_PROXY_URL: instance.fapi.url,
    CLERK_AUDIT_ALLOWED: "true",
    ...extra,
  };
}

/** The x-clerk-* request headers the origin received. */
function clerkHeaders(record) {
  return Object.fromEntries(Object.entries(record.headers).filter(([name]) => name.startsWith("x-clerk-")));
}

/** Asserts nothing secret reached the Worker's output. */
function assertQuietLogs(worker, secrets) {
  const output = worker.output();
  for (const [what, value] of Object.entries(secrets)) {
    if (value) assert.ok(!output.includes(value), `the Worker's output holds ${what}`);
  }
}

describe("production instance (pk_live_)", () => {
  let worker;
  const roles = () => ({ app: worker.url, fapi: instance.fapi.url });

  before(async () => {
    worker = await startWorker({ vars: vars(instance.pkLive) });
  });
  after(async () => {
    await worker?.stop();
  });

  test("an expired session on a document GET: edge -> Frontend API -> edge, then the page signed in", async () => {
    instance.reset();
    origin.clear();
    const jar = new CookieJar();
    const expired = await seedExpiredSession(jar, worker.url, instance.key);
    const client = new HttpClient({ jar, maxHops: 8 });
    const result = await client.get(`${worker.url}/dashboard?tab=2`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);

    assert.deepEqual(
      roleTrace(result.trace, roles()),
      [
        "GET app /dashboard?tab -> 307 fapi /v1/client/handshake?redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session",
        "GET fapi /v1/client/handshake?redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session -> 307 app /dashboard?tab",
        "GET app /dashboard?tab -> 200",
      ],
      context,
    );
    assertHandshakeRedirect(result.trace[0], {
      fapiUrl: instance.fapi.url,
      reason: EXPIRED_REASON,
      redirectUrl: `${worker.url}/dashboard?tab=2`,
    });
    const [hit] = instance.fapi.hits;
    assert.equal(hit.query.__session, expired, "the expired token goes to the Frontend API");
    assert.deepEqual(result.trace[1].setCookies, ["__clerk_handshake_nonce"]);

    // The return leg: the nonce redeemed once with the secret key, the page served signed in.
    const redeemed = instance.clerk.requests.filter((r) => r.route === "handshakePayload");
    assert.deepEqual(
      redeemed.map((r) => [r.status, r.authorized, r.apiVersion]),
      [[200, true, "2026-05-12"]],
    );
    assert.equal(result.status, 200, `${context}\n${result.text}`);
    assert.equal(result.headers.get("x-echo-origin"), "1");
    assert.equal(origin.requests.length, 1, "the origin saw only the signed-in request");
    assert.deepEqual(clerkHeaders(origin.requests[0]), {
      "x-clerk-auth-status": "signed-in",
      "x-clerk-user-id": instance.userId,
      "x-clerk-session-id": instance.sessionId,
    });
    assert.equal(origin.requests[0].url, "/dashboard?tab=2");

    // Every directive on the page's response; the jar now holds a fresh session.
    const last = result.trace.at(-1);
    assert.deepEqual(last.setCookies, ["__session", "__client_uat", "__clerk_handshake_nonce(deleted)"], context);
    assert.equal(last.headers.get("access-control-allow-origin"), "null");
    assert.equal(last.headers.get("access-control-allow-credentials"), "true");
    assertFreshSession(jar.get(worker.url, "__session"), instance.userId);
    assert.equal(jar.get(worker.url, "__clerk_handshake_nonce"), undefined);
    assert.ok(Number(jar.get(worker.url, "__client_uat")) > 0);

    // Signed in from now on: no more handshakes.
    const again = await client.get(`${worker.url}/dashboard`, { headers: DOCUMENT_HEADERS });
    assert.equal(again.status, 200);
    assert.equal(again.hops, 1);
    assert.equal(instance.fapi.hits.length, 1);

    const handshake = await worker.waitForAudit((e) => e.event === "auth.handshake");
    assert.equal(handshake.reason, EXPIRED_REASON);
    assert.equal(Number(handshake.redirect_count), 1);
    assertQuietLogs(worker, { "the expired token": expired, "the fresh token": instance.fapi.lastToken(), "the secret key": SECRET_KEY });
  });

  test("signed out at Clerk: 401 session-token-missing, with the directives that clear the cookies", async () => {
    instance.reset();
    instance.fapi.signOut();
    origin.clear();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${worker.url}/account`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(
      result.trace.map((hop) => hop.status),
      [307, 307, 401],
      context,
    );
    assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
    assert.equal(result.headers.get("x-clerk-auth-reason"), "session-token-missing");
    assert.equal(result.headers.get("location"), null);
    assert.deepEqual(JSON.parse(result.text), { error: "unauthenticated", reason: "session-token-missing" });
    assert.deepEqual(result.trace.at(-1).setCookies, ["__session(deleted)", "__client_uat", "__clerk_handshake_nonce(deleted)"], context);
    assert.equal(jar.get(worker.url, "__session"), undefined);
    assert.equal(jar.get(worker.url, "__client_uat"), "0");
    assert.equal(origin.requests.length, 0);

    const next = await new HttpClient({ jar }).get(`${worker.url}/account`, { headers: DOCUMENT_HEADERS });
    assert.equal(next.status, 401);
    assert.equal(next.headers.get("x-clerk-auth-reason"), "session-token-and-uat-missing");
    assert.equal(next.hops, 1, "no handshake once Clerk said signed out");
  });

  test("mismatched keys: after 3 handshakes the edge answers signed-out, with an auth.handshake_loop line", async () => {
    instance.reset();
    instance.fapi.setMode("broken");
    origin.clear();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 12 }).get(`${worker.url}/loop?x=1`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(
      roleTrace(result.trace, roles()).map((line) => line.replace(/\?.*? ->/, " ->").replace(/ (app|fapi) \/\S*$/, " $1")),
      [
        "GET app /loop -> 307 fapi",
        "GET fapi /v1/client/handshake -> 307 app",
        "GET app /loop -> 307 fapi",
        "GET fapi /v1/client/handshake -> 307 app",
        "GET app /loop -> 307 fapi",
        "GET fapi /v1/client/handshake -> 307 app",
        "GET app /loop -> 401",
      ],
      context,
    );
    for (const [index, count] of [[0, 1], [2, 2], [4, 3]]) {
      assertHandshakeRedirect(result.trace[index], {
        fapiUrl: instance.fapi.url,
        reason: EXPIRED_REASON,
        redirectUrl: `${worker.url}/loop?x=1`,
        count,
      });
    }
    assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
    assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
    assert.equal(result.headers.get("location"), null);
    assert.equal(instance.fapi.hits.length, 3, "never a 4th handshake");
    assert.equal(origin.requests.length, 0);
    const loop = await worker.waitForAudit((e) => e.event === "auth.handshake_loop");
    assert.equal(loop.path, "/loop", "the path, never the query");
    assert.equal(loop.reason, EXPIRED_REASON);
    assertQuietLogs(worker, { "the forged token": instance.fapi.lastToken() });
    assert.equal(loop.level, "warn", "the contract's level for auth.handshake_loop");
  });

  test("a fetch-style GET (sec-fetch-dest: empty) with an expired cookie: 401 with Clerk's reason, no redirect", async () => {
    instance.reset();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const result = await new HttpClient({ jar }).get(`${worker.url}/api/items`, { headers: FETCH_HEADERS });
    assert.equal(result.status, 401, formatTrace(result.trace));
    assert.equal(result.hops, 1);
    assert.equal(result.headers.get("location"), null);
    assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
    assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
    assert.deepEqual(JSON.parse(result.text), { error: "unauthenticated", reason: EXPIRED_REASON });
    assert.equal(instance.fapi.hits.length, 0);
  });

  test("a POST (even a form navigation) with an expired cookie: 401 non-eligible-non-get, no redirect", async () => {
    instance.reset();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const result = await new HttpClient({ jar }).request(`${worker.url}/form`, {
      method: "POST",
      headers: { ...DOCUMENT_HEADERS, "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    assert.equal(result.status, 401, formatTrace(result.trace));
    assert.equal(result.headers.get("location"), null);
    assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_NON_GET_REASON);
    assert.equal(instance.fapi.hits.length, 0);
  });

  test("a failed nonce redemption is logged (handshake.nonce_failed) and signed out as Clerk does", async () => {
    instance.reset();
    // The Backend API is down for the first return leg (every retry of it), back for the next.
    instance.clerk.setFault("handshakePayload", { kind: "error", status: 503 });
    origin.clear();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const client = new HttpClient({ jar, maxHops: 3 });
    const down = await client.get(`${worker.url}/retry`, { headers: DOCUMENT_HEADERS });
    const attempts = instance.clerk.requests.filter((r) => r.route === "handshakePayload").length;
    instance.clerk.clearFaults();
    const context = `${formatTrace(down.trace)}\nlast answer: x-clerk-auth-reason ${down.headers.get("x-clerk-auth-reason")}`;
    // Clerk treats a failed exchange as an empty directive list: signed out, session-token-missing.
    assert.deepEqual(down.trace.map((hop) => hop.status), [307, 307, 401], context);
    assert.equal(down.headers.get("x-clerk-auth-reason"), "session-token-missing", context);
    assert.equal(attempts, 3, "the exchange is retried as every Backend API call (3 attempts)");
    assert.equal(origin.requests.length, 0, "nothing reached the origin");
    // What failed is in the log, where Clerk says nothing.
    const failed = await worker.waitForAudit((e) => e.event === "handshake.nonce_failed");
    assert.equal(failed.level, "error");
    assert.match(failed.problem, /handshake_payload failed: .*503/);
    // The Backend API is back: the nonce cookie is still there and the next visit completes.
    const up = await new HttpClient({ jar, maxHops: 4 }).get(`${worker.url}/retry`, { headers: DOCUMENT_HEADERS });
    assert.equal(up.status, 200, formatTrace(up.trace));
    assert.equal(origin.requests.at(-1).headers["x-clerk-user-id"], instance.userId);
    assertQuietLogs(
      worker,
      Object.fromEntries([...instance.clerk.state.handshakePayloads.keys()].map((nonce, i) => [`nonce ${i}`, nonce])),
    );
  });

  test("a token in Authorization never starts a handshake, nor does /__clerk/*", async () => {
    instance.reset();
    const jar = new CookieJar();
    const expired = await seedExpiredSession(jar, worker.url, instance.key);
    const bearer = await new HttpClient({ jar }).get(`${worker.url}/dashboard`, {
      headers: { ...DOCUMENT_HEADERS, authorization: `Bearer ${expired}` },
    });
    assert.equal(bearer.status, 401, formatTrace(bearer.trace));
    assert.equal(bearer.headers.get("location"), null);
    assert.equal(bearer.headers.get("x-clerk-auth-status"), "signed-out");
    const health = await new HttpClient({ jar }).get(`${worker.url}/__clerk/health`, { headers: DOCUMENT_HEADERS });
    assert.equal(health.status, 200);
    assert.equal(health.hops, 1);
    assert.equal(instance.fapi.hits.length, 0);
    assert.deepEqual(JSON.parse(health.text).handshake, {
      status: "on",
      instance: "production",
      frontend_api: instance.fapi.url,
    });
  });
});

describe("development instance (pk_test_)", () => {
  let worker;
  const roles = () => ({ app: worker.url, fapi: instance.fapi.url });

  before(async () => {
    worker = await startWorker({ vars: vars(instance.pkTest) });
  });
  after(async () => {
    await worker?.stop();
  });

  for (const payload of ["nonce", "token"]) {
    test(`${payload} in the query: 307 to the cleaned URL with the cookies, then the page signed in`, async () => {
      instance.reset();
      instance.fapi.setStyle("development");
      instance.fapi.setPayload(payload);
      origin.clear();
      const jar = new CookieJar();
      await seedExpiredSession(jar, worker.url, instance.key);
      jar.set(worker.url, "__clerk_db_jwt=dvb_handshake_e2e_1; Path=/");
      const result = await new HttpClient({ jar, maxHops: 8 }).get(`${worker.url}/page?tab=2`, { headers: DOCUMENT_HEADERS });
      const context = formatTrace(result.trace);
      const param = payload === "nonce" ? "__clerk_handshake_nonce" : "__clerk_handshake";
      const handshakeUrl =
        "/v1/client/handshake?redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session&__clerk_db_jwt";
      assert.deepEqual(
        roleTrace(result.trace, roles()),
        [
          `GET app /page?tab -> 307 fapi ${handshakeUrl}`,
          `GET fapi ${handshakeUrl} -> 307 app /page?tab&${param}`,
          `GET app /page?tab&${param} -> 307 app /page?tab`,
          "GET app /page?tab -> 200",
        ],
        context,
      );
      assertHandshakeRedirect(result.trace[0], {
        fapiUrl: instance.fapi.url,
        reason: EXPIRED_REASON,
        redirectUrl: `${worker.url}/page?tab=2`,
        devBrowser: "dvb_handshake_e2e_1",
      });
      const cleaned = result.trace[2];
      assert.equal(cleaned.rawLocation, `${worker.url}/page?tab=2`);
      assert.equal(cleaned.headers.get("cache-control"), "no-store");
      assert.equal(cleaned.headers.get("x-clerk-auth-status"), "signed-in");
      assert.deepEqual(cleaned.setCookies, ["__session", "__client_uat", "__clerk_handshake_nonce(deleted)"], context);
      assert.equal(result.status, 200);
      assert.equal(origin.requests.length, 1, "the origin saw only the final, signed-in request");
      assert.equal(origin.requests[0].url, "/page?tab=2");
      assert.equal(origin.requests[0].headers["x-clerk-user-id"], instance.userId);
      assertFreshSession(jar.get(worker.url, "__session"), instance.userId);
      const redeemed = instance.clerk.requests.filter((r) => r.route === "handshakePayload").length;
      assert.equal(redeemed, payload === "nonce" ? 1 : 0);
    });
  }

  test("a handshake token signed with another key: 500 telling to clear cookies, handshake.token_refused", async () => {
    instance.reset();
    instance.fapi.setStyle("development");
    instance.fapi.setPayload("token");
    instance.fapi.setMode("broken");
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    jar.set(worker.url, "__clerk_db_jwt=dvb_handshake_e2e_2; Path=/");
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${worker.url}/page`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(result.trace.map((hop) => hop.status), [307, 307, 500], context);
    assert.match(result.text, /clear (your )?cookies/i, result.text);
    const refused = await worker.waitForAudit((e) => e.event === "handshake.token_refused");
    assert.equal(refused.level, "error");
  });
});

describe("emergency bypass in force (grace)", () => {
  let worker;

  before(async () => {
    worker = await startWorker({
      vars: vars(instance.pkLive, { CLERK_EMERGENCY_BYPASS: "grace", CLERK_EMERGENCY_BYPASS_REASON: "INC-HS-1" }),
    });
  });
  after(async () => {
    await worker?.stop();
  });

  test("an expired session on a document GET is bypassed: no handshake", async () => {
    instance.reset();
    origin.clear();
    const jar = new CookieJar();
    await seedExpiredSession(jar, worker.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${worker.url}/dashboard`, { headers: DOCUMENT_HEADERS });
    assert.equal(result.status, 200, formatTrace(result.trace));
    assert.equal(result.hops, 1);
    assert.equal(instance.fapi.hits.length, 0);
    assert.equal(origin.requests.length, 1);
    assert.equal(origin.requests[0].headers["x-clerk-auth-status"], "bypassed");
    assert.equal(origin.requests[0].headers["x-clerk-user-id"], instance.userId);
    const line = await worker.waitForAudit((e) => e.event === "auth.bypassed");
    assert.equal(line.mode, "grace");
    const health = await worker.fetch("/__clerk/health");
    assert.equal((await health.json()).handshake.status, "suspended-by-bypass");
  });
});
