// Clerk's handshake end to end in a real Next.js production server: the example app
// (tests/next-app, its middleware the package's wasm in Next's edge sandbox) under
// `next start`, a fake Frontend API reached through CLERK_PROXY_URL and the fake Backend API
// redeeming its nonces, driven by a cookie-jar client that follows every redirect by hand.
// The page (app/page.tsx) prints the identity the middleware established: `#status`, `#user`.
//
// Needs `npm --prefix pkg-js run build` first; installs and builds the app itself (once for
// both handshake test files, see support/built-app.mjs). Servers: production (pk_live_),
// development (pk_test_), emergency bypass (grace).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { CookieJar, DOCUMENT_HEADERS, FETCH_HEADERS, HttpClient, formatTrace } from "../e2e/support/cookie-jar.mjs";
import {
  EXPIRED_NON_GET_REASON,
  EXPIRED_REASON,
  assertFreshSession,
  assertHandshakeRedirect,
  roleTrace,
  seedExpiredSession,
  startInstance,
} from "../e2e/support/handshake.mjs";
import { ensureAppBuilt } from "./support/built-app.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_handshake_secret_key";
const HANDSHAKE_URL = "/v1/client/handshake?redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session";

let instance;

before(async () => {
  const { built, ms } = await ensureAppBuilt();
  console.log(`next-app ${built ? "installed and built" : "build reused"} in ${ms} ms`);
  instance = await startInstance({ secretKey: SECRET_KEY, kid: "ins_next_handshake" });
});

after(async () => {
  await instance?.close();
});

/** The app's environment for the fake instance (JWKS from the fake Backend API). */
function env(publishableKey, extra = {}) {
  return {
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_API_URL: instance.clerk.url,
    CLERK_PUBLISHABLE_KEY: publishableKey,
    CLERK_PROXY_URL: instance.fapi.url,
    CLERK_AUDIT_ALLOWED: "true",
    ...extra,
  };
}

/** What the page says: `#status` and `#user`. */
function identityOf(html) {
  const field = (id) => html.match(new RegExp(`<p id="${id}">([^<]*)</p>`))?.[1] ?? null;
  return { status: field("status"), user: field("user") };
}

function assertQuietLogs(app, secrets) {
  const output = app.output();
  for (const [what, value] of Object.entries(secrets)) {
    if (value) assert.ok(!output.includes(value), `the app's output holds ${what}`);
  }
}

describe("production instance (pk_live_)", () => {
  let app;
  const roles = () => ({ app: app.url, fapi: instance.fapi.url });

  before(async () => {
    app = await startApp(env(instance.pkLive));
  });
  after(async () => {
    await app?.stop();
  });

  test("an expired session on a document GET: app -> Frontend API -> app, then the page signed in", async () => {
    instance.reset();
    const jar = new CookieJar();
    const expired = await seedExpiredSession(jar, app.url, instance.key);
    const client = new HttpClient({ jar, maxHops: 8 });
    const result = await client.get(`${app.url}/?tab=2`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(
      roleTrace(result.trace, roles()),
      [`GET app /?tab -> 307 fapi ${HANDSHAKE_URL}`, `GET fapi ${HANDSHAKE_URL} -> 307 app /?tab`, "GET app /?tab -> 200"],
      context,
    );
    assertHandshakeRedirect(result.trace[0], {
      fapiUrl: instance.fapi.url,
      reason: EXPIRED_REASON,
      redirectUrl: `${app.url}/?tab=2`,
    });
    assert.equal(instance.fapi.hits[0].query.__session, expired);
    assert.deepEqual(identityOf(result.text), { status: "signed-in", user: instance.userId }, context);
    const last = result.trace.at(-1);
    assert.deepEqual(
      last.setCookies.filter((name) => !name.startsWith("__clerk_redirect_count")),
      ["__session", "__client_uat", "__clerk_handshake_nonce(deleted)"],
      context,
    );
    assert.equal(last.headers.get("access-control-allow-origin"), "null");
    assert.equal(last.headers.get("access-control-allow-credentials"), "true");
    assertFreshSession(jar.get(app.url, "__session"), instance.userId);
    assert.equal(jar.get(app.url, "__clerk_handshake_nonce"), undefined);
    const redeemed = instance.clerk.requests.filter((r) => r.route === "handshakePayload");
    assert.deepEqual(redeemed.map((r) => [r.status, r.authorized]), [[200, true]]);

    const again = await client.get(`${app.url}/`, { headers: DOCUMENT_HEADERS });
    assert.equal(again.hops, 1);
    assert.deepEqual(identityOf(again.text), { status: "signed-in", user: instance.userId });

    const handshake = await app.waitForAudit((e) => e.event === "auth.handshake");
    assert.equal(handshake.reason, EXPIRED_REASON);
    assertQuietLogs(app, { "the expired token": expired, "the fresh token": instance.fapi.lastToken(), "the secret key": SECRET_KEY });
  });

  test("signed out at Clerk: 401 session-token-missing, with the directives that clear the cookies", async () => {
    instance.reset();
    instance.fapi.signOut();
    const jar = new CookieJar();
    await seedExpiredSession(jar, app.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}/`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(result.trace.map((hop) => hop.status), [307, 307, 401], context);
    assert.equal(result.headers.get("x-clerk-auth-reason"), "session-token-missing");
    assert.equal(jar.get(app.url, "__session"), undefined, context);
    assert.equal(jar.get(app.url, "__client_uat"), "0", context);
  });

  test("mismatched keys: after 3 handshakes the app answers signed-out, with an auth.handshake_loop line", async () => {
    instance.reset();
    instance.fapi.setMode("broken");
    const jar = new CookieJar();
    await seedExpiredSession(jar, app.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 12 }).get(`${app.url}/?x=1`, { headers: DOCUMENT_HEADERS });
    const context = formatTrace(result.trace);
    assert.deepEqual(result.trace.map((hop) => hop.status), [307, 307, 307, 307, 307, 307, 401], context);
    for (const [index, count] of [[0, 1], [2, 2], [4, 3]]) {
      assertHandshakeRedirect(result.trace[index], {
        fapiUrl: instance.fapi.url,
        reason: EXPIRED_REASON,
        redirectUrl: `${app.url}/?x=1`,
        count,
      });
    }
    assert.equal(result.headers.get("x-clerk-auth-status"), "signed-out");
    assert.equal(result.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
    assert.equal(result.headers.get("location"), null);
    assert.equal(instance.fapi.hits.length, 3);
    const loop = await app.waitForAudit((e) => e.event === "auth.handshake_loop");
    assert.equal(loop.reason, EXPIRED_REASON);
    assert.equal(loop.path, "/", "the path, never the query");
    assert.equal(loop.level, "warn", "the contract's level for auth.handshake_loop");
  });

  test("a fetch-style GET and a POST with an expired cookie: 401 with Clerk's reason, no redirect", async () => {
    instance.reset();
    const jar = new CookieJar();
    await seedExpiredSession(jar, app.url, instance.key);
    const fetched = await new HttpClient({ jar }).get(`${app.url}/api/whoami`, { headers: FETCH_HEADERS });
    assert.equal(fetched.status, 401, formatTrace(fetched.trace));
    assert.equal(fetched.headers.get("location"), null);
    assert.equal(fetched.headers.get("x-clerk-auth-reason"), EXPIRED_REASON);
    assert.deepEqual(JSON.parse(fetched.text), { error: "unauthenticated", reason: EXPIRED_REASON });

    const posted = await new HttpClient({ jar }).request(`${app.url}/`, {
      method: "POST",
      headers: { ...DOCUMENT_HEADERS, "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    });
    assert.equal(posted.status, 401, formatTrace(posted.trace));
    assert.equal(posted.headers.get("location"), null);
    assert.equal(posted.headers.get("x-clerk-auth-reason"), EXPIRED_NON_GET_REASON);
    assert.equal(instance.fapi.hits.length, 0);
  });
});

describe("development instance (pk_test_)", () => {
  let app;
  const roles = () => ({ app: app.url, fapi: instance.fapi.url });

  before(async () => {
    app = await startApp(env(instance.pkTest));
  });
  after(async () => {
    await app?.stop();
  });

  for (const payload of ["nonce", "token"]) {
    test(`${payload} in the query: 307 to the cleaned URL with the cookies, then the page signed in`, async () => {
      instance.reset();
      instance.fapi.setStyle("development");
      instance.fapi.setPayload(payload);
      const jar = new CookieJar();
      await seedExpiredSession(jar, app.url, instance.key);
      jar.set(app.url, "__clerk_db_jwt=dvb_next_handshake_1; Path=/");
      const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}/?tab=2`, { headers: DOCUMENT_HEADERS });
      const context = formatTrace(result.trace);
      const param = payload === "nonce" ? "__clerk_handshake_nonce" : "__clerk_handshake";
      assert.deepEqual(
        roleTrace(result.trace, roles()),
        [
          `GET app /?tab -> 307 fapi ${HANDSHAKE_URL}&__clerk_db_jwt`,
          `GET fapi ${HANDSHAKE_URL}&__clerk_db_jwt -> 307 app /?tab&${param}`,
          `GET app /?tab&${param} -> 307 app /?tab`,
          "GET app /?tab -> 200",
        ],
        context,
      );
      assertHandshakeRedirect(result.trace[0], {
        fapiUrl: instance.fapi.url,
        reason: EXPIRED_REASON,
        redirectUrl: `${app.url}/?tab=2`,
        devBrowser: "dvb_next_handshake_1",
      });
      const cleaned = result.trace[2];
      assert.equal(cleaned.rawLocation, `${app.url}/?tab=2`);
      assert.equal(cleaned.headers.get("cache-control"), "no-store");
      assert.deepEqual(
        cleaned.setCookies.filter((name) => !name.startsWith("__clerk_redirect_count")),
        ["__session", "__client_uat", "__clerk_handshake_nonce(deleted)"],
        context,
      );
      assert.deepEqual(identityOf(result.text), { status: "signed-in", user: instance.userId }, context);
      assertFreshSession(jar.get(app.url, "__session"), instance.userId);
    });
  }
});

describe("development instance: keys switched locally", () => {
  let app;

  before(async () => {
    app = await startApp(env(instance.pkTest));
  });
  after(async () => {
    await app?.stop();
  });

  test("a handshake token signed with another key: 500 telling to clear cookies, handshake.token_refused", async () => {
    instance.reset();
    instance.fapi.setStyle("development");
    instance.fapi.setPayload("token");
    instance.fapi.setMode("broken");
    const jar = new CookieJar();
    await seedExpiredSession(jar, app.url, instance.key);
    jar.set(app.url, "__clerk_db_jwt=dvb_next_handshake_2; Path=/");
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}/`, { headers: DOCUMENT_HEADERS });
    assert.deepEqual(result.trace.map((hop) => hop.status), [307, 307, 500], formatTrace(result.trace));
    assert.match(result.text, /clear (your )?cookies/i, result.text);
    const refused = await app.waitForAudit((e) => e.event === "handshake.token_refused");
    assert.equal(refused.level, "error");
  });
});

describe("emergency bypass in force (grace)", () => {
  let app;

  before(async () => {
    app = await startApp(env(instance.pkLive, { CLERK_EMERGENCY_BYPASS: "grace", CLERK_EMERGENCY_BYPASS_REASON: "INC-HS-2" }));
  });
  after(async () => {
    await app?.stop();
  });

  test("an expired session on a document GET is bypassed: no handshake", async () => {
    instance.reset();
    const jar = new CookieJar();
    await seedExpiredSession(jar, app.url, instance.key);
    const result = await new HttpClient({ jar, maxHops: 8 }).get(`${app.url}/`, { headers: DOCUMENT_HEADERS });
    assert.equal(result.status, 200, formatTrace(result.trace));
    assert.equal(result.hops, 1);
    assert.equal(instance.fapi.hits.length, 0);
    assert.deepEqual(identityOf(result.text), { status: "bypassed", user: instance.userId });
    const line = await app.waitForAudit((e) => e.event === "auth.bypassed");
    assert.equal(line.mode, "grace");
  });
});
