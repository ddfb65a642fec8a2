// The handshake scenarios both end-to-end runtimes play (tests/e2e/handshake.test.mjs: the
// Worker in workerd; tests/next/handshake.test.mjs: the example app under `next start`), so
// that the Worker and the Next middleware are held to the same hops, cookies, headers and
// audit lines. Each scenario drives a cookie-jar client against an app already started, and
// asserts; a runtime object says what differs between the two:
//
//   runtime = defineRuntime({
//     name: "the Worker",                 // who writes the output: "<name>'s output holds …"
//     edge: "edge",                       // what test names call it: "the edge answers …"
//     instance: () => instance,           // startInstance()'s fake instance, once started
//     paths: { dashboard, account, loop, api, form, page }, // the protected paths it serves
//     start(publishableKey, extraEnv) -> Promise<app>, // app: { url, output(), waitForAudit(), stop() }
//     assertServed(result, { path, status, userId, sessionId, requests }, context),
//                                         // the page was served with this identity
//     // optional:
//     reset(),                            // forgets what the last scenario left (after instance.reset())
//     assertNotServed(),                  // nothing was served
//     directiveCookies(names) -> names,   // Set-Cookie names of an answer, less the runtime's own
//   });
//
// productionScenarioTests(), developmentReturnLegTests() and handshakeTokenRefusedTest()
// register, in a describe of the test file, the tests both runtimes name alike;
// emergencyBypassSuite() registers a whole describe. Each test file registers its own tests
// around them.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { CookieJar, DOCUMENT_HEADERS, FETCH_HEADERS, HttpClient, formatTrace } from "./cookie-jar.mjs";
import {
  EXPIRED_NON_GET_REASON,
  EXPIRED_REASON,
  assertFreshSession,
  assertHandshakeRedirect,
  roleTrace,
  seedExpiredSession,
} from "./handshake.mjs";

/** The edge's redirect to the Frontend API as roleTrace writes it (query names only). */
export const HANDSHAKE_URL =
  "/v1/client/handshake?redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session";

/** The dev browser value (`__clerk_db_jwt`) the development scenarios seed, less its counter. */
const DEV_BROWSER = "dvb_handshake_e2e";

/** The Set-Cookie names of a signed-in answer of the return leg. */
const SIGNED_IN_DIRECTIVES = ["__session", "__client_uat", "__clerk_handshake_nonce(deleted)"];

/** A runtime of the scenarios: `spec` (see above) with the optional members defaulted. */
export function defineRuntime(spec) {
  return {
    reset() {},
    assertNotServed() {},
    directiveCookies: (names) => names,
    ...spec,
  };
}

/**
 * In a `describe`: starts `runtime.start(...args())` before its tests and stops it after.
 * Returns a getter of the started app.
 */
export function useApp(runtime, args) {
  let app;
  before(async () => {
    app = await runtime.start(...args());
  });
  after(async () => {
    await app?.stop();
  });
  return () => app;
}

/** Back to a signed-in, production, nonce, ok instance and a runtime that saw nothing. */
function beginScenario(runtime) {
  runtime.instance().reset();
  runtime.reset();
}

/**
 * beginScenario, then a cookie jar holding an expired session for `app`: returns
 * { instance, jar, expired } (expired: the session token in the jar).
 */
export async function beginWithExpiredSession(runtime, app) {
  beginScenario(runtime);
  const instance = runtime.instance();
  const jar = new CookieJar();
  const expired = await seedExpiredSession(jar, app.url, instance.key);
  return { instance, jar, expired };
}

/** Asserts none of `secrets` (what -> value) reached the app's output. */
export function assertQuietLogs(runtime, app, secrets) {
  const output = app.output();
  for (const [what, value] of Object.entries(secrets)) {
    if (value) assert.ok(!output.includes(value), `${runtime.name}'s output holds ${what}`);
  }
}

const roles = (app, instance) => ({ app: app.url, fapi: instance.fapi.url });

/**
 * Production: an expired session on a document GET goes app -> Frontend API -> app, the nonce
 * is redeemed once and the page is served signed in; no more handshakes after that.
 */
export async function expiredSessionRoundTrip(runtime, app) {
  const { instance, jar, expired } = await beginWithExpiredSession(runtime, app);
  const page = runtime.paths.dashboard;
  const client = new HttpClient({ jar, maxHops: 8 });
  const result = await client.get(`${app.url}${page}?tab=2`, { headers: DOCUMENT_HEADERS });
  const context = formatTrace(result.trace);

  assert.deepEqual(
    roleTrace(result.trace, roles(app, instance)),
    [`GET app ${page}?tab -> 307 fapi ${HANDSHAKE_URL}`, `GET fapi ${HANDSHAKE_URL} -> 307 app ${page}?tab`, `GET app ${page}?tab -> 200`],
    context,
  );
  assertHandshakeRedirect(result.trace[0], {
    fapiUrl: instance.fapi.url,
    reason: EXPIRED_REASON,
    redirectUrl: `${app.url}${page}?tab=2`,
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
  const signedIn = { status: "signed-in", userId: instance.userId, sessionId: instance.sessionId };
  runtime.assertServed(result, { ...signedIn, path: `${page}?tab=2`, requests: 1 }, context);

  // Every directive on the page's response; the jar now holds a fresh session.
  const last = result.trace.at(-1);
  assert.deepEqual(runtime.directiveCookies(last.setCookies), SIGNED_IN_DIRECTIVES, context);
  assert.equal(last.headers.get("access-control-allow-origin"), "null");
  assert.equal(last.headers.get("access-control-allow-credentials"), "true");
  assertFreshSession(jar.get(app.url, "__session"), instance.userId);
  assert.equal(jar.get(app.url, "__clerk_handshake_nonce"), undefined);
  assert.ok(Number(jar.get(app.url, "__client_uat")) > 0);

  // Signed in from now on: no more handshakes.
  const again = await client.get(`${app.url}${page}`, { headers: DOCUMENT_HEADERS });
  assert.equal(again.status, 200);
  assert.equal(again.hops, 1);
  assert.equal(instance.fapi.hits.length, 1);
  runtime.assertServed(again, { ...signedIn, path: page, requests: 2 }, formatTrace(again.trace));

  const handshake = await app.waitForAudit((e) => e.event === "auth.handshake");
  assert.equal(handshake.reason, EXPIRED_REASON);
  assert.equal(Number(handshake.redirect_count), 1);
  assertQuietLogs(runtime, app, {
    "the expired token": expired,
    "the fresh token": instance.fapi.lastToken(),
    "the secret key": instance.secretKey,
  });
}

/** Signed out at Clerk: 401 session-token-missing, with the directives that clear the cookies. */
export async function signedOutAtClerk(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  instance.fapi.signOut();
  const url = `${app.url}${runtime.paths.account}`;
  const result = await new HttpClient({ jar, maxHops: 8 }).get(url, { headers: DOCUMENT_HEADERS });
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
  assert.deepEqual(
    runtime.directiveCookies(result.trace.at(-1).setCookies),
    ["__session(deleted)", "__client_uat", "__clerk_handshake_nonce(deleted)"],
    context,
  );
  assert.equal(jar.get(app.url, "__session"), undefined, context);
  assert.equal(jar.get(app.url, "__client_uat"), "0", context);
  runtime.assertNotServed();

  const next = await new HttpClient({ jar }).get(url, { headers: DOCUMENT_HEADERS });
  assert.equal(next.status, 401);
  assert.equal(next.headers.get("x-clerk-auth-reason"), "session-token-and-uat-missing");
  assert.equal(next.hops, 1, "no handshake once Clerk said signed out");
}

/** Mismatched keys: after 3 handshakes the app answers signed-out, with an auth.handshake_loop line. */
export async function handshakeLoop(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  instance.fapi.setMode("broken");
  const path = runtime.paths.loop;
  const result = await new HttpClient({ jar, maxHops: 12 }).get(`${app.url}${path}?x=1`, { headers: DOCUMENT_HEADERS });
  const context = formatTrace(result.trace);
  assert.deepEqual(
    roleTrace(result.trace, roles(app, instance)).map((line) => line.replace(/\?.*? ->/, " ->").replace(/ (app|fapi) \/\S*$/, " $1")),
    [
      `GET app ${path} -> 307 fapi`,
      "GET fapi /v1/client/handshake -> 307 app",
      `GET app ${path} -> 307 fapi`,
      "GET fapi /v1/client/handshake -> 307 app",
      `GET app ${path} -> 307 fapi`,
      "GET fapi /v1/client/handshake -> 307 app",
      `GET app ${path} -> 401`,
    ],
    context,
  );
  for (const [index, count] of [[0, 1], [2, 2], [4, 3]]) {
    assertHandshakeRedirect(result.trace[index], {
      fapiUrl: instance.fapi.url,
      reason: EXPIRED_REASON,
      redirectUrl: `${app.url}${path}?x=1`,
      count,
    });
  }
  assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
  assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
  assert.equal(result.headers.get("location"), null);
  assert.equal(instance.fapi.hits.length, 3, "never a 4th handshake");
  runtime.assertNotServed();
  const loop = await app.waitForAudit((e) => e.event === "auth.handshake_loop");
  assert.equal(loop.path, path, "the path, never the query");
  assert.equal(loop.reason, EXPIRED_REASON);
  assertQuietLogs(runtime, app, { "the forged token": instance.fapi.lastToken() });
  assert.equal(loop.level, "warn", "the contract's level for auth.handshake_loop");
}

/** A fetch-style GET (sec-fetch-dest: empty) with an expired cookie: 401 with Clerk's reason, no redirect. */
export async function expiredFetchGet(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  const result = await new HttpClient({ jar }).get(`${app.url}${runtime.paths.api}`, { headers: FETCH_HEADERS });
  assert.equal(result.status, 401, formatTrace(result.trace));
  assert.equal(result.hops, 1);
  assert.equal(result.headers.get("location"), null);
  assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
  assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
  assert.deepEqual(JSON.parse(result.text), { error: "unauthenticated", reason: EXPIRED_REASON });
  assert.equal(instance.fapi.hits.length, 0);
}

/** A POST (even a form navigation) with an expired cookie: 401 non-eligible-non-get, no redirect. */
export async function expiredPost(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  const result = await new HttpClient({ jar }).request(`${app.url}${runtime.paths.form}`, {
    method: "POST",
    headers: { ...DOCUMENT_HEADERS, "content-type": "application/x-www-form-urlencoded" },
    body: "a=1",
  });
  assert.equal(result.status, 401, formatTrace(result.trace));
  assert.equal(result.headers.get("location"), null);
  assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_NON_GET_REASON);
  assert.equal(instance.fapi.hits.length, 0);
}

/**
 * Development: the Frontend API puts the `payload` ("nonce" or "token") in the query; the app
 * 307s to the cleaned URL with the cookies, then serves the page signed in.
 */
export async function developmentReturnLeg(runtime, app, payload) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  instance.fapi.setStyle("development");
  instance.fapi.setPayload(payload);
  const page = runtime.paths.page;
  const devBrowser = `${DEV_BROWSER}_1`;
  jar.set(app.url, `__clerk_db_jwt=${devBrowser}; Path=/`);
  const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}${page}?tab=2`, { headers: DOCUMENT_HEADERS });
  const context = formatTrace(result.trace);
  const param = payload === "nonce" ? "__clerk_handshake_nonce" : "__clerk_handshake";
  const handshakeUrl = `${HANDSHAKE_URL}&__clerk_db_jwt`;
  assert.deepEqual(
    roleTrace(result.trace, roles(app, instance)),
    [
      `GET app ${page}?tab -> 307 fapi ${handshakeUrl}`,
      `GET fapi ${handshakeUrl} -> 307 app ${page}?tab&${param}`,
      `GET app ${page}?tab&${param} -> 307 app ${page}?tab`,
      `GET app ${page}?tab -> 200`,
    ],
    context,
  );
  assertHandshakeRedirect(result.trace[0], {
    fapiUrl: instance.fapi.url,
    reason: EXPIRED_REASON,
    redirectUrl: `${app.url}${page}?tab=2`,
    devBrowser,
  });
  const cleaned = result.trace[2];
  assert.equal(cleaned.rawLocation, `${app.url}${page}?tab=2`);
  assert.equal(cleaned.headers.get("cache-control"), "no-store");
  assert.equal(cleaned.headers.get("x-clerk-auth-status"), "signed-in");
  assert.deepEqual(runtime.directiveCookies(cleaned.setCookies), SIGNED_IN_DIRECTIVES, context);
  assert.equal(result.status, 200, `${context}\n${result.text}`);
  runtime.assertServed(
    result,
    { status: "signed-in", userId: instance.userId, sessionId: instance.sessionId, path: `${page}?tab=2`, requests: 1 },
    context,
  );
  assertFreshSession(jar.get(app.url, "__session"), instance.userId);
  const redeemed = instance.clerk.requests.filter((r) => r.route === "handshakePayload").length;
  assert.equal(redeemed, payload === "nonce" ? 1 : 0);
}

/** Development: a handshake token signed with another key: 500 telling to clear cookies, handshake.token_refused. */
export async function handshakeTokenRefused(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  instance.fapi.setStyle("development");
  instance.fapi.setPayload("token");
  instance.fapi.setMode("broken");
  jar.set(app.url, `__clerk_db_jwt=${DEV_BROWSER}_2; Path=/`);
  const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}${runtime.paths.page}`, { headers: DOCUMENT_HEADERS });
  assert.deepEqual(result.trace.map((hop) => hop.status), [307, 307, 500], formatTrace(result.trace));
  assert.match(result.text, /clear (your )?cookies/i, result.text);
  const refused = await app.waitForAudit((e) => e.event === "handshake.token_refused");
  assert.equal(refused.level, "error");
}

/** Emergency bypass (grace) in force: an expired session on a document GET is bypassed, no handshake. */
export async function bypassedWithoutHandshake(runtime, app) {
  const { instance, jar } = await beginWithExpiredSession(runtime, app);
  const path = runtime.paths.dashboard;
  const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}${path}`, { headers: DOCUMENT_HEADERS });
  assert.equal(result.status, 200, formatTrace(result.trace));
  assert.equal(result.hops, 1);
  assert.equal(instance.fapi.hits.length, 0);
  runtime.assertServed(
    result,
    { status: "bypassed", userId: instance.userId, sessionId: instance.sessionId, path, requests: 1 },
    formatTrace(result.trace),
  );
  const line = await app.waitForAudit((e) => e.event === "auth.bypassed");
  assert.equal(line.mode, "grace");
}

/** In a production instance's describe: the first tests both runtimes play there, alike. */
export function productionScenarioTests(runtime, app) {
  const { edge } = runtime;
  test(`an expired session on a document GET: ${edge} -> Frontend API -> ${edge}, then the page signed in`, () =>
    expiredSessionRoundTrip(runtime, app()));

  test("signed out at Clerk: 401 session-token-missing, with the directives that clear the cookies", () =>
    signedOutAtClerk(runtime, app()));

  test(`mismatched keys: after 3 handshakes the ${edge} answers signed-out, with an auth.handshake_loop line`, () =>
    handshakeLoop(runtime, app()));
}

/** In a development instance's describe: the return leg with each payload in the query. */
export function developmentReturnLegTests(runtime, app) {
  for (const payload of ["nonce", "token"]) {
    test(`${payload} in the query: 307 to the cleaned URL with the cookies, then the page signed in`, () =>
      developmentReturnLeg(runtime, app(), payload));
  }
}

/** In a development instance's describe: a handshake token signed with another key. */
export function handshakeTokenRefusedTest(runtime, app) {
  test("a handshake token signed with another key: 500 telling to clear cookies, handshake.token_refused", () =>
    handshakeTokenRefused(runtime, app()));
}

/**
 * The describe of an emergency bypass in force (grace, for `incident`), production keys:
 * bypassedWithoutHandshake, then `more(app)`, what else the runtime shows of the bypass.
 */
export function emergencyBypassSuite(runtime, incident, more = async () => {}) {
  describe("emergency bypass in force (grace)", () => {
    const app = useApp(runtime, () => [
      runtime.instance().pkLive,
      { CLERK_EMERGENCY_BYPASS: "grace", CLERK_EMERGENCY_BYPASS_REASON: incident },
    ]);

    test("an expired session on a document GET is bypassed: no handshake", async () => {
      await bypassedWithoutHandshake(runtime, app());
      await more(app());
    });
  });
}
