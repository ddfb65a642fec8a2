// pkg-js's rows of the README's "When a dependency fails" table that no other test proves:
// a slow deny-list store, one that never answers, a store whose write fails under the revoke
// handler, a slow JWKS.
// (The failing store read, the failing webhook write, Clerk down for revoke and JWKS down are
// proven in pkg-middleware.test.mjs and pkg-handlers.test.mjs; the table names those.)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, createRevokeHandler, memoryStore } from "../../pkg-js/index.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";
import { capture } from "./support/capture.mjs";

const SECRET_KEY = "sk_test_pkg_faults_secret_value";
const ADMIN_TOKEN = "admin-token-for-pkg-faults-0123456789ab";
const KID = "ins_pkg_faults";

let clerk;
let privateKey;

before(async () => {
  const pair = await generateKeyPair("RS256", { extractable: true });
  privateKey = pair.privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: "RS256", use: "sig" };
  clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: { keys: [jwk] } });
});

after(() => clerk?.close());

const env = () => ({ CLERK_SECRET_KEY: SECRET_KEY, CLERK_API_URL: clerk.url, CLERK_ADMIN_TOKEN: ADMIN_TOKEN });
const now = () => Math.floor(Date.now() / 1000);
const mint = (sub, sid) =>
  new SignJWT({ sid })
    .setProtectedHeader({ alg: "RS256", kid: KID, typ: "JWT" })
    .setSubject(sub)
    .setIssuedAt(now())
    .setNotBefore(now() - 5)
    .setExpirationTime(now() + 600)
    .sign(privateKey);
const page = (token) => new Request("https://app.example.test/x", { headers: { authorization: `Bearer ${token}` } });
const slowly = (ms, fn) => async (...args) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return fn(...args);
};

test("deny-list store slow (300 ms a read): signed in; Server-Timing's clerk-denylist shows the wait", async () => {
  const inner = memoryStore();
  const store = { ...inner, get: slowly(300, inner.get) };
  const middleware = clerkEdgeMiddleware({ env: env(), store });
  const [response] = await capture(async () => middleware(page(await mint("user_slow", "sess_slow"))));
  assert.equal(response.headers.get("x-middleware-request-x-clerk-user-id"), "user_slow");
  const denylist = Number(/clerk-denylist;dur=([\d.]+)/.exec(response.headers.get("server-timing"))?.[1]);
  assert.ok(denylist >= 550, `two reads of 300 ms: ${response.headers.get("server-timing")}`);
});

test("deny-list store that never answers: fail closed after 2 s (500), middleware.error names the deny-list", async () => {
  const store = { ...memoryStore(), get: () => new Promise(() => {}) };
  const middleware = clerkEdgeMiddleware({ env: env(), store });
  const started = performance.now();
  const [response, lines] = await capture(async () => middleware(page(await mint("user_hang", "sess_hang"))));
  const took = performance.now() - started;
  assert.equal(response.status, 500);
  assert.equal(response.headers.get("x-middleware-request-x-clerk-user-id"), null, "not forwarded");
  assert.ok(took >= 1900 && took < 5000, `answered after the 2 s deadline: ${took.toFixed(0)} ms`);
  const line = lines.at(-1);
  assert.deepEqual([line.event, line.detail], ["middleware.error", "deny-list"]);
});

test("JWKS slow (600 ms): signed in; Server-Timing's clerk-jwks shows the wait", async () => {
  clerk.setFault("jwks", { kind: "delay", ms: 600, times: 1 });
  const middleware = clerkEdgeMiddleware({ env: env(), store: memoryStore() });
  const [response] = await capture(async () => middleware(page(await mint("user_jwks", "sess_jwks"))));
  assert.equal(response.headers.get("x-middleware-request-x-clerk-user-id"), "user_jwks");
  const jwks = Number(/clerk-jwks;dur=([\d.]+)/.exec(response.headers.get("server-timing"))?.[1]);
  assert.ok(jwks >= 550, response.headers.get("server-timing"));
});

test("deny-list store write fails under the revoke handler: 500, never success; the user is not deny-listed", async () => {
  const inner = memoryStore();
  const store = {
    ...inner,
    put: async () => {
      throw new Error("store down");
    },
  };
  clerk.addSession({ id: "sess_pkg_w", user_id: "user_pkg_w" });
  const revoke = createRevokeHandler({ env: env(), store });
  const [answer, lines] = await capture(() =>
    revoke(
      new Request("https://app.example.test/api/admin/revoke", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ user_id: "user_pkg_w", reason: "INC-store" }),
      }),
    ),
  );
  const body = await answer.json();
  assert.equal(answer.status, 500, JSON.stringify(body));
  assert.equal(body.edge_deny_listed, false);
  assert.match(body.message, /edge deny-list write FAILED/);
  const line = lines.at(-1);
  assert.deepEqual([line.event, line.ok, line.status], ["admin.revoke", false, 500]);
  assert.equal(await inner.get("deny:user:user_pkg_w"), null);
});

test("a revoke while a deny-list read is in flight wins: the next request is refused at once", async () => {
  const inner = memoryStore();
  let release;
  let held = false;
  const store = {
    ...inner,
    get: async (key) => {
      const answer = await inner.get(key); // read before the revoke: absent
      if (!held && key === "deny:user:user_race") {
        held = true;
        await new Promise((resolve) => (release = resolve));
      }
      return answer;
    },
  };
  clerk.addSession({ id: "sess_race", user_id: "user_race" });
  const middleware = clerkEdgeMiddleware({ env: env(), store });
  const revoke = createRevokeHandler({ env: env(), store });
  const token = await mint("user_race", "sess_race");
  const [[inFlight, revoked]] = await capture(async () => {
    const first = middleware(page(token));
    while (!release) await new Promise((resolve) => setTimeout(resolve, 5));
    const answer = await revoke(
      new Request("https://app.example.test/api/admin/revoke", {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({ user_id: "user_race", reason: "INC-race" }),
      }),
    );
    release();
    return [await first, answer];
  });
  assert.equal(revoked.status, 200, await revoked.text());
  // The request that was already being checked may pass; the next one may not.
  assert.equal(inFlight.headers.get("x-middleware-request-x-clerk-user-id"), "user_race");
  const [next] = await capture(async () => middleware(page(token)));
  assert.equal(next.status, 401);
  assert.equal(next.headers.get("x-clerk-auth-reason"), "user-revoked");
});
