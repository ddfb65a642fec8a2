// The `Server-Timing` header of clerkEdgeMiddleware's protected answers, forwarded or refused,
// read with a strict parser as dev tools read it: what the edge did (cache, webcrypto, jwks,
// denylist) and how long it took; none with CLERK_SERVER_TIMING=false.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, memoryStore } from "../../pkg-js/index.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";
import { edgeTiming, parseServerTiming } from "../support/server-timing.mjs";

const SECRET_KEY = "sk_test_server_timing_secret_value";
let key;
let clerk;

before(async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const kid = "ins_timing";
  key = { kid, privateKey, pem: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
  clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: { keys: [key.jwk] } });
});
after(async () => {
  await clerk?.close();
});

function mint({ sub = "user_timing", sid = "sess_timing" } = {}) {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, sid, iat, nbf: iat - 10, exp: iat + 600 })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid })
    .sign(key.privateKey);
}

const request = (path, headers = {}) => new Request(`https://app.example.test${path}`, { headers });
const bearer = (token) => ({ authorization: `Bearer ${token}` });

/** Runs `fn` with console.log silenced (refusals write audit lines). */
async function quiet(fn) {
  const original = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = original;
  }
}

test("forwarded: the first check names webcrypto, the same token again is a cache hit", async () => {
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem }, store: memoryStore() });
  const token = await mint();
  const first = await middleware(request("/app", bearer(token)));
  assert.equal(first.headers.get("x-middleware-next"), "1", "forwarded");
  const cold = edgeTiming(first.headers.get("server-timing"));
  assert.deepEqual(cold.steps, ["webcrypto", "denylist"]);
  assert.deepEqual(Object.keys(cold.timed).sort(), ["denylist", "webcrypto"]);
  assert.ok(cold.total > 0, "Node's clock resolves microseconds");

  const again = await middleware(request("/app", bearer(token)));
  const warm = edgeTiming(again.headers.get("server-timing"));
  assert.deepEqual(warm.steps, ["cache", "denylist"]);
  assert.equal(warm.timed.webcrypto, undefined, "no signature checked");
  assert.ok(warm.total < cold.total, `a hit (${warm.total} ms) is faster than a check (${cold.total} ms)`);
});

test("JWKS: the first request of an instance fetches the keys, and says so", async () => {
  const middleware = clerkEdgeMiddleware({
    env: { CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url },
    store: memoryStore(),
  });
  const answer = await middleware(request("/app", bearer(await mint())));
  assert.equal(answer.headers.get("x-middleware-next"), "1");
  const timing = edgeTiming(answer.headers.get("server-timing"));
  assert.deepEqual(timing.steps, ["jwks", "webcrypto", "denylist"]);
  assert.ok(timing.timed.jwks > 0 && timing.timed.jwks <= timing.total);
});

test("refused: no token says none; a deny-listed session names the deny-list read", async () => {
  const store = memoryStore();
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem }, store, denyListCacheMs: 0 });
  const anonymous = await quiet(() => middleware(request("/app")));
  assert.equal(anonymous.status, 401);
  const none = edgeTiming(anonymous.headers.get("server-timing"));
  assert.deepEqual(none.steps, ["none"]);
  assert.deepEqual(none.timed, {});

  await store.put("deny:session:sess_revoked", "{}");
  const revokedToken = await mint({ sid: "sess_revoked" });
  const revoked = await quiet(() => middleware(request("/app", bearer(revokedToken))));
  assert.equal(revoked.status, 401);
  assert.equal(revoked.headers.get("x-clerk-auth-reason"), "session-revoked");
  const timing = edgeTiming(revoked.headers.get("server-timing"));
  assert.deepEqual(timing.steps, ["webcrypto", "denylist"]);

  const garbage = await quiet(() => middleware(request("/app", bearer("not.a.jwt"))));
  assert.equal(garbage.status, 401);
  assert.deepEqual(parseServerTiming(garbage.headers.get("server-timing"))[0].name, "clerk-auth");
});

test("CLERK_SERVER_TIMING=false: no header, forwarded or refused; a bad value fails closed", async () => {
  const off = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem, CLERK_SERVER_TIMING: "false" }, store: memoryStore() });
  const forwarded = await off(request("/app", bearer(await mint())));
  assert.equal(forwarded.headers.get("x-middleware-next"), "1");
  assert.equal(forwarded.headers.get("server-timing"), null);
  const refused = await quiet(() => off(request("/app")));
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("server-timing"), null);

  const bad = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: key.pem, CLERK_SERVER_TIMING: "sometimes" } });
  const token = await mint();
  const broken = await quiet(() => bad(request("/app", bearer(token))));
  assert.equal(broken.status, 500);
  assert.deepEqual((await broken.json()).variables, ["CLERK_SERVER_TIMING"]);
});

test("the header reader refuses what dev tools would drop", () => {
  assert.throws(() => parseServerTiming('clerk-auth;dur=abc'), /bad dur/);
  assert.throws(() => parseServerTiming('clerk auth;dur=1'), /expected ","/);
  assert.throws(() => parseServerTiming('clerk-auth;desc="open'), /bad parameter/);
  assert.throws(() => edgeTiming("clerk-jwks;dur=1"), /no clerk-auth/);
  assert.throws(() => edgeTiming('clerk-auth;dur=1;desc="cache", clerk-jwks;dur=1'), /not in desc/);
  assert.throws(() => edgeTiming('clerk-auth;dur=1;desc="jwks", clerk-jwks;dur=2'), /> total/);
  assert.deepEqual(parseServerTiming('a;dur=1.5;desc="x y", b'), [
    { name: "a", params: { dur: "1.5", desc: "x y" }, dur: 1.5, desc: "x y" },
    { name: "b", params: {} },
  ]);
});
