// pkg-js's diagnose route in Node: createDiagnoseHandler (an App Router route handler) and
// the middleware's own GET /__clerk/admin/diagnose, against the fake Clerk Backend API
// (tests/support/fake-clerk.mjs) and a fake status page: verdicts, the slowed and
// unreachable cases, the live section (middleware only), refusals, and no secret anywhere.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { clerkEdgeMiddleware, createDiagnoseHandler, memoryStore } from "../../pkg-js/index.js";
import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startFakeStatusPage } from "../support/fake-status-page.mjs";
import { createSigningKey, jwksOf, mintToken, sessionClaims } from "../e2e/support/tokens.mjs";
import { freePort } from "../e2e/support/worker.mjs";
import { capture } from "./support/capture.mjs";

const SECRET_KEY = "sk_test_pkgDiagnoseSecret3f9a1c7e5b2d";
const ADMIN_TOKEN = "admin-pkg-diagnose-token-7b3d5e2a9c1f-0468";
const URL_BASE = "https://app.example.test";
const DIAGNOSE = `${URL_BASE}/__clerk/admin/diagnose`;

let key;
let clerk;
let statusPage;
const texts = []; // every answer and line, checked for secrets at the end

before(async () => {
  key = await createSigningKey("ins_pkg_diagnose");
  [clerk, statusPage] = await Promise.all([
    startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key), rateLimit: { limit: 100 } }),
    startFakeStatusPage(),
  ]);
});

after(async () => {
  await Promise.all([clerk?.close(), statusPage?.close()]);
});

/** A fresh configuration object (the package keeps one guard per env object). */
const env = (extra = {}) => ({
  CLERK_SECRET_KEY: SECRET_KEY,
  CLERK_API_URL: clerk.url,
  CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
  CLERK_STATUS_URL: statusPage.statusUrl,
  ...extra,
});

/** Calls `handler` with a diagnose request; [status, body (JSON or text), lines, response]. */
async function call(handler, { query = "", token = ADMIN_TOKEN, method = "GET" } = {}) {
  const headers = token === null ? {} : { authorization: `Bearer ${token}` };
  const [response, lines] = await capture(() => handler(new Request(`${DIAGNOSE}${query}`, { method, headers })), texts);
  const text = await response.text();
  texts.push(text);
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text answer
  }
  return [response.status, body, lines, response];
}

const check = (body, name) => body.checks.find((c) => c.name === name);

test("route handler, healthy: Backend API, JWKS, status page and store ok; no D1; no live traffic here", async () => {
  const handler = createDiagnoseHandler({ env: env(), store: memoryStore() });
  const [status, body, lines, response] = await call(handler);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.deepEqual(
    body.checks.map((c) => c.name),
    ["configuration", "keys", "backend_api", "status_page", "deny_list", "auth_live", "state"],
  );
  for (const name of ["configuration", "keys", "backend_api", "status_page", "deny_list", "state"]) {
    assert.equal(check(body, name).verdict, "ok", `${name}: ${JSON.stringify(check(body, name))}`);
  }
  assert.equal(check(body, "keys").kids, 1);
  assert.equal(check(body, "backend_api").rate_limit.limit, 100);
  assert.equal(check(body, "status_page").indicator, "none");
  assert.equal(check(body, "deny_list").summary, "store: answered");
  // The route handler's own instance: its wasm memory and the caches pkg-js keeps.
  const memory = check(body, "state").memory;
  assert.ok(memory.wasm_memory_bytes >= 65_536 && memory.wasm_memory_bytes % 65_536 === 0, JSON.stringify(memory));
  assert.deepEqual(Object.keys(memory.caches).sort(), ["jwks_keys", "live_decisions", "live_reasons", "verified_tokens"]);
  assert.equal(memory.caches.verified_tokens.max_entries, 4096);
  assert.equal(memory.caches.verified_tokens.max_bytes, 8 * 1024 * 1024);
  const live = check(body, "auth_live");
  assert.equal(live.verdict, "skipped");
  assert.match(live.advice, /middleware/);
  assert.equal(body.overall, "ok");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "admin.diagnose");
  assert.equal(lines[0].overall, "ok");
  assert.equal(lines[0].checks.backend_api, "ok");
});

test("route handler: Backend API slowed past 500 ms, status page unreachable, a failing store", async () => {
  clerk.setFault("listUsers", { kind: "delay", ms: 700, times: 1 });
  const closed = await freePort();
  const failing = { ...memoryStore(), get: async () => { throw new Error(`store at ${SECRET_KEY} down`); } };
  const handler = createDiagnoseHandler({
    env: env({ CLERK_STATUS_URL: `http://127.0.0.1:${closed}/api/v2/status.json` }),
    store: failing,
  });
  const [status, body] = await call(handler);
  assert.equal(status, 200);
  const api = check(body, "backend_api");
  assert.equal(api.verdict, "warn", JSON.stringify(api));
  assert.ok(api.took_ms >= 650, `took ${api.took_ms}`);
  assert.match(api.advice, /> 500 ms/);
  const page = check(body, "status_page");
  assert.equal(page.verdict, "warn");
  assert.equal(page.reachable, false);
  const store = check(body, "deny_list");
  assert.equal(store.verdict, "fail");
  assert.match(store.advice, /fail closed/);
  assert.equal(body.overall, "fail");
});

test("route handler: ?format=text", async () => {
  const handler = createDiagnoseHandler({ env: env(), store: memoryStore() });
  const [status, text, , response] = await call(handler, { query: "?format=text" });
  assert.equal(status, 200);
  assert.match(response.headers.get("content-type"), /^text\/plain/);
  assert.match(text, /^clerk-edge-guard \S+ diagnose at \S+: ok\n/);
  assert.match(text, /\nbackend_api\s+ok\s+\d+ ms\s+GET \/v1\/users\?limit=1 -> HTTP 200/);
});

test("middleware: answers the route itself, with the live record of the requests it protected", async () => {
  const config = env({ CLERK_JWT_KEY: key.pem });
  const middleware = clerkEdgeMiddleware({ env: config, store: memoryStore() });
  const token = await mintToken(key, sessionClaims({ sub: "user_pkg_diag", sid: "sess_pkg_diag" }));
  await capture(async () => {
    for (let i = 0; i < 3; i++) {
      const res = await middleware(new Request(`${URL_BASE}/app`, { headers: { authorization: `Bearer ${token}` } }));
      assert.equal(res.headers.get("x-middleware-next"), "1");
    }
    const refused = await middleware(new Request(`${URL_BASE}/app`));
    assert.equal(refused.status, 401);
  });
  const [status, body] = await call(middleware);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(check(body, "keys").source, "pem");
  const live = check(body, "auth_live");
  assert.equal(live.live.decisions, 4, JSON.stringify(live));
  assert.equal(live.live.refusals["session-token-and-uat-missing"], 1);
  assert.equal(live.verdict, "ok");

  // A route handler on the same configuration object shares the guard, and so the record.
  const [, shared] = await call(createDiagnoseHandler({ env: config, store: memoryStore() }));
  assert.equal(check(shared, "auth_live").live.decisions, 4);
});

test("refusals as the Worker's: 401 and 405 with admin.denied, 404 without CLERK_ADMIN_TOKEN", async () => {
  const handler = createDiagnoseHandler({ env: env(), store: memoryStore() });
  const [missing, missingBody, missingLines] = await call(handler, { token: null });
  assert.equal(missing, 401);
  assert.equal(missingBody.error, "admin-token-missing");
  assert.equal(missingLines[0].event, "admin.denied");
  const [wrong, , wrongLines] = await call(handler, { token: "x".repeat(40) });
  assert.equal(wrong, 401);
  assert.equal(wrongLines[0].reason, "admin-token-invalid");
  const [post, , postLines, postResponse] = await call(handler, { method: "POST" });
  assert.equal(post, 405);
  assert.equal(postResponse.headers.get("allow"), "GET");
  assert.equal(postLines[0].reason, "method-not-allowed");
  const noAdmin = createDiagnoseHandler({ env: { CLERK_SECRET_KEY: SECRET_KEY }, store: memoryStore() });
  const [absent, , absentLines] = await call(noAdmin);
  assert.equal(absent, 404);
  assert.equal(absentLines.length, 0);
  const short = createDiagnoseHandler({ env: env({ CLERK_ADMIN_TOKEN: "short" }), store: memoryStore() });
  const [broken, brokenBody] = await call(short, { token: "short" });
  assert.equal(broken, 500);
  assert.match(brokenBody.message, /CLERK_ADMIN_TOKEN must be at least 32 characters/);
});

test("no secret key or admin token in any answer or line", () => {
  assert.ok(texts.length > 10);
  for (const text of texts) {
    assert.ok(!text.includes(SECRET_KEY), "the secret key leaked");
    assert.ok(!text.includes(ADMIN_TOKEN), "the admin token leaked");
  }
});
