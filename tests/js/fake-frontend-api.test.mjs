// Checks the fake Frontend API (tests/support/fake-frontend-api.mjs) and the handshake
// payload route of the fake Backend API (tests/support/fake-clerk.mjs) against the real
// `@clerk/backend` 3.25.0: its own handshake redirect is followed to the fake, and the
// request coming back (nonce cookie, nonce or token in the query) must resolve signed-in
// through `authenticateRequest`. If the fakes spoke anything but Clerk's protocol, Clerk's
// SDK would not accept them.
// Run: node --test tests/js/fake-frontend-api.test.mjs
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";

import { createClerkClient } from "@clerk/backend";
import { decodeJwt, decodeProtectedHeader } from "jose";

import { API_PREFIX, ROUTES, UNDOCUMENTED_ROUTES, startFakeClerk } from "../support/fake-clerk.mjs";
import { HANDSHAKE_PATH, HANDSHAKE_QUERY, publishableKeyFor, startFakeFrontendApi } from "../support/fake-frontend-api.mjs";
import { CookieJar, DOCUMENT_HEADERS, HttpClient } from "../e2e/support/cookie-jar.mjs";
import { TEST_ISSUER, createSigningKey, jwksOf, mintExpiredToken, nowSeconds } from "../e2e/support/tokens.mjs";

const SECRET_KEY = "sk_test_fake_fapi_oracle_secret_key";
const APP = "http://127.0.0.1:3999"; // never contacted: @clerk/backend runs in this process
const PK_LIVE = publishableKeyFor(TEST_ISSUER, "production");
const PK_TEST = publishableKeyFor(TEST_ISSUER, "development");
const SPEC_PATH =
  process.env.CLERK_BAPI_SPEC ??
  fileURLToPath(new URL("../fixtures/reference/clerk-backend-api.yml", import.meta.url));

let key;
let clerk;
let fapi;

before(async () => {
  key = await createSigningKey("ins_fapi_oracle");
  clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key) });
  fapi = await startFakeFrontendApi({ clerk, key });
});

after(async () => {
  await fapi?.close();
  await clerk?.close();
});

/** Clerk's SDK configured for the fake instance, the fake FAPI as its proxy. */
function sdk(publishableKey) {
  const client = createClerkClient({ secretKey: SECRET_KEY, publishableKey, jwtKey: key.pem, apiUrl: clerk.url });
  return (request) => client.authenticateRequest(request, { proxyUrl: fapi.url });
}

/** A browser navigation to `url` with the jar's cookies. */
function navigation(jar, url) {
  const headers = { ...DOCUMENT_HEADERS };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  return new Request(url, { headers });
}

/** Runs `fn` with console.error captured (Clerk logs refused handshakes there). */
async function capturingErrors(fn) {
  const original = console.error;
  const lines = [];
  console.error = (...args) => lines.push(args.map(String).join(" "));
  try {
    return { result: await fn(), lines };
  } finally {
    console.error = original;
  }
}

async function expiredCookies(jar, { sub = "user_fapi_1", sid = "sess_fapi_1" } = {}) {
  const expired = await mintExpiredToken(key, 120, { sub, sid });
  jar.set(APP, `__session=${expired}; Path=/`);
  jar.set(APP, `__client_uat=${decodeJwt(expired).iat}; Path=/`);
  return expired;
}

function reset() {
  fapi.clear();
  fapi.setStyle("production");
  fapi.setPayload("nonce");
  fapi.setMode("ok");
  fapi.signIn({ userId: "user_fapi_1", sessionId: "sess_fapi_1" });
  clerk.requests.length = 0;
}

describe("production: the nonce cookie, redeemed at the fake Backend API", () => {
  test("Clerk's SDK redirects to the fake, which answers a nonce cookie that resolves signed-in", async () => {
    reset();
    const authenticate = sdk(PK_LIVE);
    const jar = new CookieJar();
    const expired = await expiredCookies(jar);

    const first = await authenticate(navigation(jar, `${APP}/dashboard?tab=2`));
    assert.equal(first.status, "handshake");
    const location = first.headers.get("location");
    assert.ok(location.startsWith(`${fapi.url}${HANDSHAKE_PATH}?`), location);
    for (const header of first.headers.getSetCookie()) jar.set(APP, header);

    // The browser follows the redirect to the fake Frontend API.
    const client = new HttpClient({ jar, maxHops: 1 });
    const hop = await client.get(location, { headers: DOCUMENT_HEADERS });
    assert.equal(hop.status, 307);
    assert.equal(hop.trace[0].rawLocation, `${APP}/dashboard?tab=2`, "back to redirect_url, unchanged");
    assert.deepEqual(hop.trace[0].setCookies, ["__clerk_handshake_nonce"]);
    assert.match(hop.headers.get("set-cookie"), /^__clerk_handshake_nonce=[\w-]+; Path=\/; SameSite=Lax; HttpOnly$/);

    // The fake saw exactly what Clerk's SDK sends.
    assert.equal(fapi.hits.length, 1);
    const [hit] = fapi.hits;
    assert.deepEqual(hit.queryNames, HANDSHAKE_QUERY.filter((name) => name !== "__clerk_db_jwt"));
    assert.equal(hit.query.redirect_url, `${APP}/dashboard?tab=2`);
    assert.equal(hit.query.format, "nonce");
    assert.equal(hit.query.suffixed_cookies, "false");
    assert.equal(hit.query.__clerk_hs_reason, "session-token-expired-refresh-non-eligible-no-refresh-cookie");
    assert.equal(hit.query.__session, expired);
    assert.equal(hit.outcome, "signed-in");

    // Back at the app: Clerk's SDK redeems the nonce at the fake Backend API.
    const back = await authenticate(navigation(jar, `${APP}/dashboard?tab=2`));
    assert.equal(back.status, "signed-in", `${back.reason} ${back.message}`);
    assert.equal(back.toAuth().userId, "user_fapi_1");
    assert.equal(back.toAuth().sessionId, "sess_fapi_1");
    assert.equal(back.headers.get("location"), null, "production goes on, no redirect");
    assert.equal(back.headers.get("access-control-allow-origin"), "null");
    const directives = back.headers.getSetCookie();
    assert.equal(directives.length, 3);
    assert.match(directives[0], /^__session=eyJ[\w-]+\.[\w-]+\.[\w-]+; Path=\/; SameSite=Lax$/);
    assert.match(directives[1], /^__client_uat=\d+; Path=\/; SameSite=Lax; Max-Age=315360000$/);
    assert.equal(directives[2], "__clerk_handshake_nonce=; Path=/; Max-Age=0");

    const redeemed = clerk.requests.filter((r) => r.route === "handshakePayload");
    assert.equal(redeemed.length, 1);
    assert.equal(redeemed[0].status, 200);
    assert.equal(redeemed[0].authorized, true);
    assert.equal(redeemed[0].apiVersion, "2026-05-12");

    // The directives applied, the next navigation is signed in with no handshake at all.
    for (const directive of directives) jar.set(APP, directive);
    assert.equal(jar.get(APP, "__clerk_handshake_nonce"), undefined, "the nonce cookie is gone");
    const again = await authenticate(navigation(jar, `${APP}/dashboard`));
    assert.equal(again.status, "signed-in");
    assert.equal(fapi.hits.length, 1);
  });

  test("the fresh session token carries Clerk's v2 claims, 60 s of life, signed by the instance key", async () => {
    reset();
    const jar = new CookieJar();
    await new HttpClient({ jar, maxHops: 1 }).get(
      `${fapi.url}${HANDSHAKE_PATH}?redirect_url=${encodeURIComponent(`${APP}/x`)}&format=nonce`,
    );
    const nonce = jar.get(APP, "__clerk_handshake_nonce");
    const { directives } = clerk.state.handshakePayloads.get(nonce);
    const token = directives[0].slice("__session=".length).split(";")[0];
    assert.equal(token, fapi.lastToken());
    const claims = decodeJwt(token);
    assert.deepEqual(Object.keys(claims).sort(), ["azp", "exp", "iat", "iss", "nbf", "sid", "sub", "v"]);
    assert.equal(claims.iss, TEST_ISSUER);
    assert.equal(claims.sub, "user_fapi_1");
    assert.equal(claims.sid, "sess_fapi_1");
    assert.equal(claims.azp, APP);
    assert.equal(claims.v, 2);
    assert.equal(claims.exp - claims.iat, 60);
    assert.ok(Math.abs(claims.iat - nowSeconds()) <= 2);
    assert.equal(decodeProtectedHeader(token).kid, key.kid);
    assert.equal(directives[1], `__client_uat=${claims.iat}; Path=/; SameSite=Lax; Max-Age=315360000`);
  });

  test("signed out: the payload deletes __session and sets __client_uat=0; Clerk says session-token-missing", async () => {
    reset();
    fapi.signOut();
    const authenticate = sdk(PK_LIVE);
    const jar = new CookieJar();
    await expiredCookies(jar);
    const first = await authenticate(navigation(jar, `${APP}/`));
    await new HttpClient({ jar, maxHops: 1 }).get(first.headers.get("location"));
    assert.equal(fapi.hits[0].outcome, "signed-out");
    const back = await authenticate(navigation(jar, `${APP}/`));
    assert.equal(back.status, "signed-out");
    assert.equal(back.reason, "session-token-missing");
    assert.deepEqual(back.headers.getSetCookie(), [
      "__session=; Path=/; SameSite=Lax; Max-Age=0",
      "__client_uat=0; Path=/; SameSite=Lax; Max-Age=315360000",
      "__clerk_handshake_nonce=; Path=/; Max-Age=0",
    ]);
    for (const directive of back.headers.getSetCookie()) jar.set(APP, directive);
    assert.equal(jar.get(APP, "__session"), undefined);
    const after = await authenticate(navigation(jar, `${APP}/`));
    assert.equal(after.status, "signed-out");
    assert.equal(after.reason, "session-token-and-uat-missing");
  });

  test("broken mode (another key, same kid): Clerk refuses the session and starts another handshake", async () => {
    reset();
    fapi.setMode("broken");
    const authenticate = sdk(PK_LIVE);
    const jar = new CookieJar();
    await expiredCookies(jar);
    const first = await authenticate(navigation(jar, `${APP}/`));
    for (const header of first.headers.getSetCookie()) jar.set(APP, header);
    await new HttpClient({ jar, maxHops: 1 }).get(first.headers.get("location"));
    const token = fapi.lastToken();
    assert.equal(decodeProtectedHeader(token).kid, key.kid, "the kid names the instance key");
    const { result: back, lines } = await capturingErrors(() => authenticate(navigation(jar, `${APP}/`)));
    assert.equal(back.status, "handshake", "the refused payload starts another handshake");
    assert.match(back.headers.get("set-cookie"), /__clerk_redirect_count=2/);
    assert.ok(lines.some((line) => /unable to resolve handshake/i.test(line)), lines.join("\n"));
  });
});

describe("development: the result in the query", () => {
  for (const payload of ["nonce", "token"]) {
    test(`${payload}: Clerk's SDK accepts it and redirects to the cleaned URL with the directives`, async () => {
      reset();
      fapi.setStyle("development");
      fapi.setPayload(payload);
      const authenticate = sdk(PK_TEST);
      const jar = new CookieJar();
      await expiredCookies(jar);
      jar.set(APP, "__clerk_db_jwt=dvb_fake_dev_browser_1; Path=/");

      const first = await authenticate(navigation(jar, `${APP}/page?tab=2`));
      assert.equal(first.status, "handshake");
      const hop = await new HttpClient({ jar, maxHops: 1 }).get(first.headers.get("location"));
      assert.equal(hop.status, 307);
      assert.deepEqual(hop.trace[0].setCookies, [], "development sets no cookie");
      assert.equal(fapi.hits[0].query.__clerk_db_jwt, "dvb_fake_dev_browser_1");
      const back = new URL(hop.trace[0].rawLocation);
      const param = payload === "nonce" ? "__clerk_handshake_nonce" : "__clerk_handshake";
      assert.deepEqual([...back.searchParams.keys()], ["tab", param]);
      if (payload === "token") {
        assert.deepEqual(Object.keys(decodeJwt(back.searchParams.get(param))), ["handshake"]);
      }

      const resolved = await authenticate(navigation(jar, back.href));
      assert.equal(resolved.status, "signed-in", `${resolved.reason} ${resolved.message}`);
      assert.equal(resolved.toAuth().userId, "user_fapi_1");
      assert.equal(resolved.headers.get("location"), `${APP}/page?tab=2`);
      assert.equal(resolved.headers.get("cache-control"), "no-store");
      assert.equal(resolved.headers.getSetCookie().length, 3);
      const redeemed = clerk.requests.filter((r) => r.route === "handshakePayload").length;
      assert.equal(redeemed, payload === "nonce" ? 1 : 0);
    });
  }

  test("development style refuses a handshake without the dev browser token", async () => {
    reset();
    fapi.setStyle("development");
    const response = await fetch(`${fapi.url}${HANDSHAKE_PATH}?redirect_url=${encodeURIComponent(APP)}&format=nonce`, {
      redirect: "manual",
    });
    assert.equal(response.status, 401);
    assert.equal((await response.json()).errors[0].code, "dev_browser_unauthenticated");
  });

  test("a handshake token in broken mode fails Clerk's signature check (development: an error)", async () => {
    reset();
    fapi.setStyle("development");
    fapi.setPayload("token");
    fapi.setMode("broken");
    const jar = new CookieJar();
    jar.set(APP, "__clerk_db_jwt=dvb_fake_dev_browser_2; Path=/");
    const url = `${fapi.url}${HANDSHAKE_PATH}?redirect_url=${encodeURIComponent(`${APP}/`)}&format=nonce&__clerk_db_jwt=dvb_fake_dev_browser_2`;
    const hop = await new HttpClient({ jar, maxHops: 1 }).get(url);
    await assert.rejects(
      capturingErrors(() => sdk(PK_TEST)(navigation(jar, hop.trace[0].rawLocation))).then(({ result }) => result),
      /invalid signature/i,
    );
  });
});

describe("the fake Backend API's handshake_payload route", () => {
  const payload = (nonce, auth = `Bearer ${SECRET_KEY}`) =>
    fetch(`${clerk.url}${API_PREFIX}/clients/handshake_payload${nonce === undefined ? "" : `?nonce=${nonce}`}`, {
      headers: auth ? { authorization: auth } : {},
    });

  test("answers the directives once per nonce, then 404 resource_not_found", async () => {
    const nonce = clerk.addHandshakePayload(["a=1; Path=/", "b=2"]);
    const ok = await payload(nonce);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { directives: ["a=1; Path=/", "b=2"] });
    for (const again of [nonce, "no-such-nonce"]) {
      const gone = await payload(again);
      assert.equal(gone.status, 404);
      const body = await gone.json();
      assert.equal(body.errors[0].code, "resource_not_found");
      assert.equal(typeof body.errors[0].message, "string");
      assert.equal(typeof body.errors[0].long_message, "string");
      assert.equal(typeof body.clerk_trace_id, "string");
    }
  });

  test("needs the secret key and a nonce", async () => {
    const nonce = clerk.addHandshakePayload([]);
    assert.equal((await payload(nonce, null)).status, 401);
    assert.equal((await payload(nonce, "Bearer sk_test_wrong")).status, 401);
    const missing = await payload(undefined);
    assert.equal(missing.status, 400);
    assert.equal((await missing.json()).errors[0].code, "form_param_missing");
    assert.equal((await payload(nonce)).status, 200, "a refused call does not use the nonce up");
  });

  test("faults can be injected on it (for handshake.nonce_failed tests)", async () => {
    const nonce = clerk.addHandshakePayload(["a=1"]);
    clerk.setFault("handshakePayload", { kind: "error", status: 503, times: 1 });
    assert.equal((await payload(nonce)).status, 503);
    assert.equal((await payload(nonce)).status, 200);
  });

  test("every UNDOCUMENTED_ROUTES path is in the spec without operations, and not in ROUTES", () => {
    const spec = readFileSync(SPEC_PATH, "utf8");
    for (const route of UNDOCUMENTED_ROUTES) {
      assert.ok(!ROUTES.some((r) => r.name === route.name || r.path === route.path), route.name);
      const line = spec.split("\n").find((l) => l.trim().startsWith(`${route.path}:`));
      assert.ok(line, `the spec lists ${route.path}`);
      assert.equal(line.trim(), `${route.path}: {}`, `the spec now describes ${route.path}: move it to ROUTES`);
      assert.ok(route.reason.length > 40, "the reason says where the shape comes from");
    }
  });
});

describe("the fake Frontend API's own checks", () => {
  test("refuses a handshake without an absolute redirect_url or format=nonce; records every hit", async () => {
    reset();
    const call = (query) => fetch(`${fapi.url}${HANDSHAKE_PATH}?${query}`, { redirect: "manual" });
    assert.equal((await call("format=nonce")).status, 400);
    assert.equal((await call(`redirect_url=%2Frelative&format=nonce`)).status, 400);
    assert.equal((await call(`redirect_url=${encodeURIComponent(APP)}`)).status, 400);
    assert.equal((await fetch(`${fapi.url}/v1/client`)).status, 404);
    assert.equal((await fetch(`${fapi.url}${HANDSHAKE_PATH}`, { method: "POST" })).status, 405);
    assert.deepEqual(
      fapi.hits.map((hit) => [hit.path, hit.status, hit.outcome]),
      [
        [HANDSHAKE_PATH, 400, "bad-request"],
        [HANDSHAKE_PATH, 400, "bad-request"],
        [HANDSHAKE_PATH, 400, "bad-request"],
        ["/v1/client", 404, "not-found"],
        [HANDSHAKE_PATH, 405, "method-not-allowed"],
      ],
    );
  });

  test("log lines never hold a token or a nonce", async () => {
    const lines = [];
    const logged = await startFakeFrontendApi({ clerk, key, log: (line) => lines.push(line) });
    try {
      logged.signIn({ userId: "user_log", sessionId: "sess_log" });
      const jar = new CookieJar();
      await new HttpClient({ jar, maxHops: 1 }).get(
        `${logged.url}${HANDSHAKE_PATH}?redirect_url=${encodeURIComponent(APP)}&format=nonce`,
      );
      assert.deepEqual(lines, [`fake-frontend-api GET ${HANDSHAKE_PATH} signed-in -> 307`]);
    } finally {
      await logged.close();
    }
  });
});

describe("faults (tests/e2e/dependency-failures.test.mjs)", () => {
  const handshakeUrl = () =>
    `${fapi.url}${HANDSHAKE_PATH}?redirect_url=${encodeURIComponent(`${APP}/page`)}&format=nonce`;
  after(() => fapi.setFault(null));

  test("error answers the 5xx in Clerk's error shape; cleared, the handshake answers again", async () => {
    fapi.setFault({ kind: "error", status: 503 });
    const res = await fetch(handshakeUrl(), { redirect: "manual" });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).errors[0].code, "internal_clerk_error");
    fapi.setFault(null);
    assert.equal((await fetch(handshakeUrl(), { redirect: "manual" })).status, 307);
  });

  test("delay answers as usual after ms; hang never answers", async () => {
    fapi.setFault({ kind: "delay", ms: 300 });
    const started = performance.now();
    const res = await fetch(handshakeUrl(), { redirect: "manual" });
    assert.equal(res.status, 307);
    assert.ok(performance.now() - started >= 290);
    fapi.setFault({ kind: "hang" });
    await assert.rejects(fetch(handshakeUrl(), { signal: AbortSignal.timeout(300) }), /TimeoutError|aborted/);
  });

  test("a fault that is not one of the three is refused", () => {
    for (const fault of [{ kind: "error", status: 404 }, { kind: "delay" }, { kind: "slow", ms: 1 }, undefined]) {
      assert.throws(() => fapi.setFault(fault), TypeError, JSON.stringify(fault));
    }
  });
});
