// Clerk's handshake end to end in workerd (`wrangler dev`): the built Worker in front of the
// echo origin, a fake Frontend API (tests/support/fake-frontend-api.mjs, reached through
// CLERK_PROXY_URL) and the fake Backend API redeeming its nonces, driven by a cookie-jar
// client that follows every redirect by hand (tests/e2e/support/cookie-jar.mjs). What is
// asserted is what a browser sees hop by hop, what the origin receives, and the audit lines.
// The scenarios the Next app plays too come from support/handshake-scenarios.mjs, played
// here by the Worker runtime below; the Worker's own tests follow them.
//
// Worker starts: production (pk_live_), development (pk_test_), emergency bypass (grace).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { startOrigin, startWorker } from "./support/index.mjs";
import { DOCUMENT_HEADERS, HttpClient, formatTrace } from "./support/cookie-jar.mjs";
import { startInstance } from "./support/handshake.mjs";
import * as scenarios from "./support/handshake-scenarios.mjs";
import { clerkHeaders } from "./support/identity.mjs";

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
  return { ORIGIN_URL: origin.url, CLERK_JWT_KEY: instance.key.pem, ...instance.appEnv(publishableKey, extra) };
}

/** The x-clerk-* request headers the origin received. */
/** The Worker as a runtime of the shared scenarios: what is served is what the echo origin receives. */
const runtime = scenarios.defineRuntime({
  name: "the Worker",
  edge: "edge",
  instance: () => instance,
  paths: { dashboard: "/dashboard", account: "/account", loop: "/loop", api: "/api/items", form: "/form", page: "/page" },
  start: (publishableKey, extra) => startWorker({ vars: vars(publishableKey, extra) }),
  reset: () => origin.clear(),
  assertServed(result, { path, status, userId, sessionId, requests }, context) {
    assert.equal(result.headers.get("x-echo-origin"), "1", context);
    assert.equal(origin.requests.length, requests, `the origin saw only the ${status} requests (${requests})`);
    const record = origin.requests.at(-1);
    assert.equal(record.url, path);
    assert.deepEqual(clerkHeaders(record), {
      "x-clerk-auth-status": status,
      "x-clerk-user-id": userId,
      "x-clerk-session-id": sessionId,
    });
  },
  assertNotServed: () => assert.equal(origin.requests.length, 0, "nothing reached the origin"),
});

describe("production instance (pk_live_)", () => {
  const app = scenarios.useApp(runtime, () => [instance.pkLive]);

  scenarios.productionScenarioTests(runtime, app);

  test("a fetch-style GET (sec-fetch-dest: empty) with an expired cookie: 401 with Clerk's reason, no redirect", () =>
    scenarios.expiredFetchGet(runtime, app()));

  test("a POST (even a form navigation) with an expired cookie: 401 non-eligible-non-get, no redirect", () =>
    scenarios.expiredPost(runtime, app()));

  test("a failed nonce redemption is logged (handshake.nonce_failed) and signed out as Clerk does", async () => {
    const worker = app();
    const { jar } = await scenarios.beginWithExpiredSession(runtime, worker);
    // The Backend API is down for the first return leg (every retry of it), back for the next.
    instance.clerk.setFault("handshakePayload", { kind: "error", status: 503 });
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
    scenarios.assertQuietLogs(
      runtime,
      worker,
      Object.fromEntries([...instance.clerk.state.handshakePayloads.keys()].map((nonce, i) => [`nonce ${i}`, nonce])),
    );
  });

  test("a token in Authorization never starts a handshake, nor does /__clerk/*", async () => {
    const worker = app();
    const { jar, expired } = await scenarios.beginWithExpiredSession(runtime, worker);
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
  const app = scenarios.useApp(runtime, () => [instance.pkTest]);

  scenarios.developmentReturnLegTests(runtime, app);

  scenarios.handshakeTokenRefusedTest(runtime, app);
});

// What the Worker also shows of the bypass: its health says the handshake is suspended.
scenarios.emergencyBypassSuite(runtime, "INC-HS-1", async (worker) => {
  const health = await worker.fetch("/__clerk/health");
  assert.equal((await health.json()).handshake.status, "suspended-by-bypass");
});
