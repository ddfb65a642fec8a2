// clerkEdgeMiddleware in Node, as Next.js calls it: the NextResponse.next() header protocol
// (checked against Next's own NextResponse when the example app's deps are installed),
// spoofed x-clerk-* headers, refusals, bypass, the deny-list, JWKS fetching against the fake
// Clerk, health, and the audit lines (JSON, nothing secret).
import assert from "node:assert/strict";
import { createPublicKey, verify as nodeVerify } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { after, before, test } from "node:test";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, memoryStore } from "../../pkg-js/index.js";
import { useSyncRsa } from "../../pkg-js/webcrypto.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";

const SECRET_KEY = "sk_test_middleware_secret_value";
let key;
let otherKey;
let clerk;

async function signingKey(kid) {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, pem: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

function mint(signer, { sub = "user_mw_1", sid = "sess_mw_1", expiresIn = 600, issuedAt, extra = {} } = {}) {
  const iat = issuedAt ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: "https://clerk.mw.test", sub, sid, iat, nbf: iat - 10, exp: iat + expiresIn, ...extra })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: signer.kid })
    .sign(signer.privateKey);
}

/** Runs `fn` with console.log captured; returns [result, lines]. */
async function capture(fn) {
  const lines = [];
  const original = console.log;
  console.log = (...args) => lines.push(args.join(" "));
  try {
    return [await fn(), lines];
  } finally {
    console.log = original;
  }
}

const request = (path, headers = {}, init = {}) => new Request(`https://app.example.test${path}`, { headers, ...init });

/** The request headers Next would hand on after a forward (its resolve-routes logic). */
function forwardedHeaders(response) {
  assert.equal(response.headers.get("x-middleware-next"), "1");
  const list = response.headers.get("x-middleware-override-headers");
  if (list === null) return null;
  const out = {};
  for (const name of list.split(",")) out[name] = response.headers.get(`x-middleware-request-${name}`);
  return out;
}

before(async () => {
  key = await signingKey("ins_mw_main");
  otherKey = await signingKey("ins_mw_other");
  clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: { keys: [key.jwk] } });
});
after(async () => {
  await clerk?.close();
});

test("a signed-in request goes on with our x-clerk-* headers and none of the client's", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem } });
  const token = await mint(key, { extra: { org_id: "org_1", org_role: "org:admin" } });
  const [response, lines] = await capture(() =>
    middleware(
      request("/dashboard", {
        authorization: `Bearer ${token}`,
        "x-clerk-user-id": "user_evil",
        "X-Clerk-Session-Id": "sess_evil",
        "x-clerk-anything": "1",
        accept: "text/html",
      }),
    ),
  );
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "");
  assert.deepEqual(forwardedHeaders(response), {
    accept: "text/html",
    authorization: `Bearer ${token}`,
    "x-clerk-auth-status": "signed-in",
    "x-clerk-org-id": "org_1",
    "x-clerk-org-role": "org:admin",
    "x-clerk-session-id": "sess_mw_1",
    "x-clerk-user-id": "user_mw_1",
  });
  assert.deepEqual(lines, [], "auth.allowed is off by default");
});

test("the forward response is what NextResponse.next({ request: { headers } }) builds", async (t) => {
  const nextResponseJs = new URL("../next-app/node_modules/next/dist/server/web/spec-extension/response.js", import.meta.url);
  if (!existsSync(nextResponseJs)) {
    t.skip("tests/next-app dependencies not installed (npm install --prefix tests/next-app)");
    return;
  }
  const { NextResponse } = createRequire(import.meta.url)(nextResponseJs.pathname);
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem } });
  const token = await mint(key);
  const incoming = { cookie: "a=1; b=2", "x-clerk-user-id": "user_evil", "user-agent": "ua", authorization: `Bearer ${token}` };
  const ours = await middleware(request("/x", incoming));
  const expected = new Headers(incoming);
  expected.delete("x-clerk-user-id");
  expected.set("x-clerk-auth-status", "signed-in");
  expected.set("x-clerk-user-id", "user_mw_1");
  expected.set("x-clerk-session-id", "sess_mw_1");
  // Our one response header, as an app would add it to NextResponse.next().
  const timing = ours.headers.get("server-timing");
  assert.match(timing, /^clerk-auth;dur=[0-9.]+;desc="webcrypto\+denylist"/);
  const theirs = NextResponse.next({ request: { headers: expected }, headers: { "server-timing": timing } });
  assert.deepEqual([...ours.headers].sort(), [...theirs.headers].sort());
  assert.equal(ours.status, theirs.status);
});

test("public paths pass unchecked, stripped of x-clerk-*, marked signed out with reason public-path", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem, CLERK_PUBLIC_PATHS: "/, /public/*" } });
  const spoofed = await middleware(request("/public/page", { "x-clerk-user-id": "user_evil", accept: "*/*" }));
  // No secret key: nothing to sign with.
  assert.deepEqual(forwardedHeaders(spoofed), {
    accept: "*/*",
    "x-clerk-auth-status": "signed-out",
    "x-clerk-auth-reason": "public-path",
  });
  const clean = await middleware(request("/", { accept: "*/*" }));
  assert.equal(clean.status, 200);
  assert.equal(forwardedHeaders(clean)["x-clerk-auth-reason"], "public-path");
});

test("no token: 401 JSON with the reason, and one auth.denied line", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem } });
  const [response, lines] = await capture(() =>
    middleware(request("/api/data?secret=1", { "x-forwarded-for": "203.0.113.7, 10.0.0.1", "user-agent": "curl/8" })),
  );
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("x-clerk-auth-status"), "signed-out");
  assert.equal(response.headers.get("x-clerk-auth-reason"), "session-token-and-uat-missing");
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(await response.json(), { error: "unauthenticated", reason: "session-token-and-uat-missing" });
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.event, "auth.denied");
  assert.equal(line.level, "warn");
  assert.equal(line.path, "/api/data");
  assert.equal(line.ip, "203.0.113.7");
  assert.equal(line.user_agent, "curl/8");
  assert.equal(line.status, 401);
  assert.equal(line.auth_status, "signed-out");
  assert.match(line.request_id, /^[0-9a-f]{16}$/);
  assert.match(line.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("a document request is redirected to CLERK_SIGN_IN_URL, made absolute for Next", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem, CLERK_SIGN_IN_URL: "/sign-in" } });
  const [response] = await capture(() => middleware(request("/dashboard?tab=2", { "sec-fetch-dest": "document" })));
  assert.equal(response.status, 307);
  assert.equal(
    response.headers.get("location"),
    `https://app.example.test/sign-in?redirect_url=${encodeURIComponent("https://app.example.test/dashboard?tab=2")}`,
  );
  const [api] = await capture(() => middleware(request("/api", { accept: "application/json" })));
  assert.equal(api.status, 401);
});

test("expired, badly signed and garbage tokens are refused with Clerk's reasons", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem } });
  const cases = [
    [await mint(key, { issuedAt: Math.floor(Date.now() / 1000) - 700, expiresIn: 60 }), "token-expired"],
    [await mint(otherKey), "token-invalid-signature"],
    ["not.a.jwt", "token-invalid"],
  ];
  for (const [token, reason] of cases) {
    const [response, lines] = await capture(() => middleware(request("/x", { cookie: `__session=${token}` })));
    assert.equal(response.status, 401, reason);
    assert.equal(response.headers.get("x-clerk-auth-reason"), reason);
    assert.ok(!lines.join("\n").includes(token), "a token never reaches a log line");
  }
});

test("a broken variable fails closed with 500 and one config.invalid line per Guard", async () => {
  const env = { CLERK_JWT_KEY: key.pem, CLERK_CLOCK_SKEW_MS: "lots" };
  const [[first, second], lines] = await capture(async () => {
    const middleware = clerkEdgeMiddleware({ env });
    return [await middleware(request("/a")), await clerkEdgeMiddleware({ env })(request("/b"))];
  });
  assert.equal(first.status, 500);
  assert.equal(second.status, 500);
  assert.equal((await first.json()).reason, "misconfigured");
  const events = lines.map((l) => JSON.parse(l));
  assert.deepEqual(
    events.filter((e) => e.event === "config.invalid").map((e) => e.variable),
    ["CLERK_CLOCK_SKEW_MS"],
    "parsed once for the same env object",
  );
  const invalid = events.find((e) => e.event === "config.invalid");
  assert.equal(invalid.path, "/a", "with the fields of the request that read the configuration");
  assert.equal(invalid.method, "GET");
  assert.match(invalid.request_id, /\S/);
  assert.ok(!lines.join("\n").includes("lots"), "the value is never logged");
});

test("an open bypass lets requests through, marked bypassed, with auth.bypassed lines", async () => {
  const env = {
    CLERK_JWT_KEY: key.pem,
    CLERK_EMERGENCY_BYPASS: "true",
    CLERK_EMERGENCY_BYPASS_REASON: "INC-42",
    CLERK_NEVER_BYPASS_PATHS: "/admin/*",
  };
  const middleware = clerkEdgeMiddleware({ env });
  const [response, lines] = await capture(() => middleware(request("/app", { "x-clerk-user-id": "user_evil" })));
  assert.deepEqual(forwardedHeaders(response), { "x-clerk-auth-status": "bypassed" });
  const line = JSON.parse(lines[0]);
  assert.equal(line.event, "auth.bypassed");
  assert.equal(line.mode, "open");
  assert.equal(line.bypass_reason, "INC-42");
  const [admin] = await capture(() => middleware(request("/admin/users")));
  assert.equal(admin.status, 401);
});

test("deny-listed sessions and users are refused; a failing store fails closed", async () => {
  const store = memoryStore();
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem }, store, denyListCacheMs: 0 });
  const token = await mint(key, { sub: "user_deny", sid: "sess_deny" });
  const ask = () => capture(() => middleware(request("/x", { authorization: `Bearer ${token}` })));
  assert.equal((await ask())[0].status, 200);
  await store.put("deny:user:user_deny", "{}");
  let [response] = await ask();
  assert.equal(response.headers.get("x-clerk-auth-reason"), "user-revoked");
  await store.put("deny:session:sess_deny", "{}");
  [response] = await ask();
  assert.equal(response.headers.get("x-clerk-auth-reason"), "session-revoked");

  const broken = {
    get: async () => {
      throw new Error("store down: redis://user:pw@host");
    },
    put: async () => {},
    delete: async () => {},
  };
  const failing = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem }, store: broken });
  const [refused, lines] = await capture(() => failing(request("/x", { authorization: `Bearer ${token}` })));
  assert.equal(refused.status, 500);
  assert.equal((await refused.json()).error, "internal-error");
  const line = JSON.parse(lines.at(-1));
  assert.equal(line.event, "middleware.error");
  assert.equal(line.detail, "deny-list");
  assert.ok(!lines.join("\n").includes("pw@host"));
});

test("deny-list reads are cached for denyListCacheMs", async () => {
  let reads = 0;
  const inner = memoryStore();
  const store = { ...inner, get: async (k) => (reads++, inner.get(k)) };
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem }, store });
  const token = await mint(key, { sub: "user_cache", sid: "sess_cache" });
  for (let i = 0; i < 5; i++) await middleware(request("/x", { authorization: `Bearer ${token}` }));
  assert.equal(reads, 2, "session and user key read once each");
});

test("JWKS: fetched once from CLERK_API_URL with the secret key, shared by concurrent requests", async () => {
  clerk.requests.length = 0;
  const env = { CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url };
  const middleware = clerkEdgeMiddleware({ env });
  const token = await mint(key);
  const [responses, lines] = await capture(() =>
    Promise.all(Array.from({ length: 5 }, () => middleware(request("/x", { authorization: `Bearer ${token}` })))),
  );
  for (const response of responses) assert.equal(forwardedHeaders(response)["x-clerk-user-id"], "user_mw_1");
  const jwksCalls = clerk.requests.filter((r) => r.route === "jwks");
  assert.equal(jwksCalls.length, 1);
  assert.equal(jwksCalls[0].authorized, true);
  assert.deepEqual(lines, []);
});

test("JWKS: Clerk down -> 401 jwk-remote-failed-to-load and keys.refresh_failed, no secret logged", async () => {
  const env = { CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: "http://127.0.0.1:9" };
  const middleware = clerkEdgeMiddleware({ env });
  const token = await mint(key);
  const [response, lines] = await capture(() => middleware(request("/x", { authorization: `Bearer ${token}` })));
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("x-clerk-auth-reason"), "jwk-remote-failed-to-load");
  const events = lines.map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => e.event), ["keys.refresh_failed", "auth.denied"]);
  assert.ok(!lines.join("\n").includes(SECRET_KEY));

  // A key set without keys "failed to load", as in @clerk/backend; one that is not JSON is
  // invalid.
  const empty = clerkEdgeMiddleware({ env: { ...env }, fetch: async () => Response.json({ nope: 1 }) });
  const [none] = await capture(() => empty(request("/x", { authorization: `Bearer ${token}` })));
  assert.equal(none.headers.get("x-clerk-auth-reason"), "jwk-remote-failed-to-load");
  const invalid = clerkEdgeMiddleware({ env: { ...env }, fetch: async () => new Response("<html>") });
  const [bad] = await capture(() => invalid(request("/x", { authorization: `Bearer ${token}` })));
  assert.equal(bad.headers.get("x-clerk-auth-reason"), "jwk-remote-invalid");
});

test("GET /__clerk/health answers the Worker's JSON; other /__clerk/* paths are 404", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem, CLERK_EMERGENCY_BYPASS: "grace" } });
  const health = await middleware(request("/__clerk/health"));
  assert.equal(health.status, 200);
  const body = await health.json();
  assert.deepEqual(body, {
    status: "ok",
    key_source: "pem",
    bypass: { mode: "grace", until: null },
    handshake: {
      status: "off",
      why: "no CLERK_PUBLISHABLE_KEY: expired session cookies are refused, not renewed",
    },
    webhooks: { paused: false },
    version: body.version,
    invalid_variables: [],
  });
  assert.equal((await middleware(request("/__clerk/health", {}, { method: "POST" }))).status, 405);
  assert.equal((await middleware(request("/__clerk/webhooks", {}, { method: "POST" }))).status, 404);
  assert.equal((await middleware(request("/__clerk/nope"))).status, 404);
});

test("env defaults to process.env, read at the first request", async () => {
  const previous = process.env.CLERK_JWT_KEY;
  const middleware = clerkEdgeMiddleware();
  process.env.CLERK_JWT_KEY = key.pem;
  try {
    const token = await mint(key);
    const [response] = await capture(() => middleware(request("/x", { authorization: `Bearer ${token}` })));
    assert.equal(forwardedHeaders(response)["x-clerk-auth-status"], "signed-in");
  } finally {
    if (previous === undefined) delete process.env.CLERK_JWT_KEY;
    else process.env.CLERK_JWT_KEY = previous;
  }
});

test("signatures are checked once per token on node:crypto, else WebCrypto, else the wasm's RSA, alike", async (t) => {
  // index.js installs node:crypto's synchronous verify: count its checks.
  let nodeCalls = 0;
  const importKey = (jwk) => createPublicKey({ key: jwk, format: "jwk" });
  const verifyText = (hash, data, key, sig) => nodeVerify(hash, Buffer.from(data), key, Buffer.from(sig, "base64url"));
  useSyncRsa({
    importKey,
    verify: (...args) => {
      nodeCalls += 1;
      return verifyText(...args);
    },
  });
  t.after(() => useSyncRsa({ importKey, verify: verifyText }));
  const subtle = globalThis.crypto.subtle;
  const original = subtle.verify.bind(subtle);
  let subtleCalls = 0;
  const verify = t.mock.method(subtle, "verify", (...args) => {
    subtleCalls += 1;
    return original(...args);
  });
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem } });
  const signedIn = async (token, user) => {
    for (let i = 0; i < 3; i++) {
      const [response] = await capture(() => middleware(request("/x", { authorization: `Bearer ${token}` })));
      assert.equal(forwardedHeaders(response)["x-clerk-user-id"], user);
    }
  };
  await signedIn(await mint(key, { sub: "user_node" }), "user_node");
  assert.deepEqual([nodeCalls, subtleCalls], [1, 0], "one RSA check on node:crypto, then the verified-token cache");

  // An edge runtime: no node:crypto.
  useSyncRsa(null);
  await signedIn(await mint(key, { sub: "user_webcrypto" }), "user_webcrypto");
  assert.deepEqual([nodeCalls, subtleCalls], [1, 1], "one RSA check on WebCrypto");

  verify.mock.mockImplementation(async () => {
    throw new Error("WebCrypto unavailable");
  });
  const fresh = await mint(key, { sub: "user_rust_rsa" });
  const [ok] = await capture(() => middleware(request("/x", { authorization: `Bearer ${fresh}` })));
  assert.equal(forwardedHeaders(ok)["x-clerk-user-id"], "user_rust_rsa");
  const forged = await mint(otherKey);
  const [refused] = await capture(() => middleware(request("/x", { authorization: `Bearer ${forged}` })));
  assert.equal(refused.headers.get("x-clerk-auth-reason"), "token-invalid-signature");
});
