// GET /__clerk/admin/diagnose end to end: the built Worker in workerd (`wrangler dev`), the
// fake Clerk Backend API (tests/support/fake-clerk.mjs) as CLERK_API_URL, a fake status page
// (tests/support/fake-status-page.mjs) as CLERK_STATUS_URL, local KV and D1.
//
// Worker starts, in parallel: a healthy one (every check ok, after a few protected requests
// for the live section), a degraded one (the fake Backend API slowed to 700 ms, the status
// page a closed port), and one without CLERK_ADMIN_TOKEN (404). Every answer is checked for
// the secret values the workers were given.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startFakeStatusPage } from "../support/fake-status-page.mjs";
import { freePort, startOrigin, startWorker } from "./support/index.mjs";
import { createSigningKey, jwksOf, mintToken, sessionClaims } from "./support/tokens.mjs";

// Distinctive values that must never show up in an answer or a log line.
const SECRET_KEY = "sk_test_diagnoseE2eSecret7c1f3a9e5b2d4068";
const ADMIN_TOKEN = "admin-diagnose-e2e-token-5e2a9c1f7b3d-4068aa";
const WRONG_TOKEN = "admin-diagnose-e2e-wrong-0d2f4b6a8c1e-3957";

const DIAGNOSE = "/__clerk/admin/diagnose";
const CHECKS = ["configuration", "keys", "backend_api", "status_page", "deny_list", "d1", "auth_live", "state"];

describe("GET /__clerk/admin/diagnose in wrangler dev", () => {
  let key;
  let origin;
  let clerk;
  let slowClerk;
  let statusPage;
  let healthy;
  let degraded;
  let unconfigured;
  const answers = []; // every answer's text, checked for secrets at the end

  before(async () => {
    key = await createSigningKey("ins_diagnose_e2e");
    origin = await startOrigin();
    [clerk, slowClerk, statusPage] = await Promise.all([
      startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key), rateLimit: { limit: 100 } }),
      startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key), rateLimit: { limit: 100 } }),
      startFakeStatusPage(),
    ]);
    slowClerk.setFault("listUsers", { kind: "delay", ms: 700 });
    const closedPort = await freePort(); // nothing listens there: the status page is unreachable
    const vars = { ORIGIN_URL: origin.url, CLERK_SECRET_KEY: SECRET_KEY, CLERK_ADMIN_TOKEN: ADMIN_TOKEN };
    [healthy, degraded, unconfigured] = await Promise.all([
      startWorker({ vars: { ...vars, CLERK_API_URL: clerk.url, CLERK_STATUS_URL: statusPage.statusUrl } }),
      startWorker({
        vars: {
          ...vars,
          CLERK_API_URL: slowClerk.url,
          CLERK_STATUS_URL: `http://127.0.0.1:${closedPort}/api/v2/status.json`,
        },
      }),
      startWorker({ vars: { ORIGIN_URL: origin.url, CLERK_JWT_KEY: key.pem } }),
    ]);
  });

  after(async () => {
    await Promise.all([healthy?.stop(), degraded?.stop(), unconfigured?.stop()]);
    await Promise.all([clerk?.close(), slowClerk?.close(), statusPage?.close(), origin?.close()]);
  });

  /** One diagnose call, tagged so that its audit line can be found. */
  async function diagnose(worker, { query = "", token = ADMIN_TOKEN, method = "GET" } = {}) {
    const tag = `diagnose-e2e/${randomBytes(6).toString("hex")}`;
    const headers = { "user-agent": tag, ...(token === null ? {} : { authorization: `Bearer ${token}` }) };
    const started = performance.now();
    const res = await worker.fetch(`${DIAGNOSE}${query}`, { method, headers });
    const text = await res.text();
    const ms = performance.now() - started;
    answers.push(text);
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // text answer
    }
    return { res, status: res.status, body, text, ms, tag };
  }

  const check = (body, name) => body.checks.find((c) => c.name === name);

  test("healthy: every check ok, with timings, counts and the live record of this worker", async () => {
    // Traffic for the live section: 20 signed-in requests and 2 refusals in this worker. The
    // first one fetches the JWKS (on a loaded machine, over 100 ms); with 22 decisions the
    // nearest-rank p95 is the 21st, so that one fetch alone does not make it slow.
    const token = await mintToken(key, sessionClaims({ sub: "user_diag", sid: "sess_diag" }));
    for (let i = 0; i < 20; i++) {
      const res = await healthy.fetch("/app", { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
    }
    for (let i = 0; i < 2; i++) {
      const res = await healthy.fetch("/app");
      await res.arrayBuffer();
      assert.equal(res.status, 401);
    }

    const answer = await diagnose(healthy);
    assert.equal(answer.status, 200, answer.text);
    assert.match(answer.res.headers.get("content-type"), /^application\/json/);
    assert.equal(answer.res.headers.get("cache-control"), "no-store");
    const { body } = answer;
    assert.deepEqual(body.checks.map((c) => c.name), CHECKS);
    for (const c of body.checks) {
      assert.equal(c.verdict, "ok", `${c.name}: ${JSON.stringify(c)}`);
      assert.equal(c.advice, null, c.name);
      assert.equal(typeof c.summary, "string");
    }
    assert.equal(body.overall, "ok");
    assert.equal(body.thresholds.api_ms, 500);
    assert.equal(body.thresholds.auth_p95_ms, 100);

    const keys = check(body, "keys");
    assert.equal(keys.source, "jwks");
    assert.equal(keys.kids, 1);
    assert.equal(typeof keys.took_ms, "number");
    const api = check(body, "backend_api");
    assert.equal(api.status, 200);
    assert.equal(typeof api.took_ms, "number");
    assert.equal(api.rate_limit.limit, 100);
    assert.equal(typeof api.rate_limit.remaining, "number");
    assert.equal(clerk.requestsTo("listUsers").at(-1).query.limit, "1");
    const page = check(body, "status_page");
    assert.equal(page.reachable, true);
    assert.equal(page.indicator, "none");
    assert.equal(page.description, "All Systems Operational");
    for (const name of ["deny_list", "d1"]) assert.equal(typeof check(body, name).took_ms, "number", name);

    const configuration = check(body, "configuration");
    const state = (name) => configuration.variables.find((v) => v.name === name).state;
    assert.equal(state("CLERK_SECRET_KEY"), "set");
    assert.equal(state("CLERK_JWT_KEY"), "unset");
    assert.equal(state("CLERK_STATUS_URL"), "set");

    const live = check(body, "auth_live").live;
    assert.equal(live.decisions, 22, JSON.stringify(live));
    assert.equal(live.refusals["session-token-and-uat-missing"], 2);
    assert.equal(typeof live.p95_us, "number");
    assert.equal(check(body, "state").bypass.mode, "off");
    assert.equal(check(body, "state").webhooks.paused, false);

    // The isolate's memory: wasm pages, and each cache against its caps (one token, seen
    // three times: one entry; its session and user read once from the deny-list).
    const memory = check(body, "state").memory;
    assert.ok(memory.wasm_memory_bytes >= 65_536 && memory.wasm_memory_bytes % 65_536 === 0, JSON.stringify(memory));
    assert.deepEqual(memory.caches.verified_tokens, {
      entries: 1,
      max_entries: 4096,
      bytes: memory.caches.verified_tokens.bytes,
      max_bytes: 8 * 1024 * 1024,
      evicted: 0,
    });
    assert.ok(memory.caches.verified_tokens.bytes > 2 * token.length, JSON.stringify(memory.caches.verified_tokens));
    assert.deepEqual(memory.caches.jwks_keys, { entries: 1, max_entries: null, evicted: 0 });
    assert.deepEqual(memory.caches.webcrypto_keys, { entries: 1, max_entries: 16, evicted: 0 });
    assert.deepEqual(memory.caches.deny_list, { entries: 2, max_entries: 10_000, evicted: 0 });
    assert.deepEqual(memory.caches.live_decisions, { entries: 22, max_entries: 1024, evicted: 0 });
    assert.deepEqual(memory.caches.live_reasons, { entries: 1, max_entries: 64, evicted: 0 });

    const text = await diagnose(healthy, { query: "?format=text" });
    const liveRow = text.text.split("\n").find((l) => l.startsWith("auth_live "));
    assert.match(liveRow, /^auth_live\s+ok\s+-\s+22 decisions, p50 \d+\.\d ms, p95 \d+\.\d ms/);
    console.log(`diagnose (healthy) live row: ${liveRow}`);
    const stateRow = text.text.split("\n").find((l) => l.startsWith("state "));
    assert.match(
      stateRow,
      /; wasm memory \d+\.\d MiB; caches verified_tokens 1\/4096, jwks_keys 1, webcrypto_keys 1\/16, deny_list 2\/10000, live_decisions 22\/1024, live_reasons 1\/64$/,
    );
    console.log(`diagnose (healthy) state row: ${stateRow}`);

    const line = await healthy.waitForAudit((e) => e.event === "admin.diagnose" && e.user_agent === answer.tag);
    assert.equal(line.overall, "ok");
    assert.deepEqual(Object.keys(line.checks).sort(), [...CHECKS].sort());
    assert.equal(line.status, 200);
  });

  test("Backend API slowed past 500 ms and the status page unreachable: warnings, never a failure", async () => {
    const answer = await diagnose(degraded);
    assert.equal(answer.status, 200, answer.text);
    const { body } = answer;
    const api = check(body, "backend_api");
    assert.equal(api.verdict, "warn", JSON.stringify(api));
    assert.ok(api.took_ms >= 650, `took ${api.took_ms} ms`);
    assert.match(api.advice, /> 500 ms/);
    const page = check(body, "status_page");
    assert.equal(page.verdict, "warn", JSON.stringify(page));
    assert.equal(page.reachable, false);
    assert.match(page.summary, /unreachable/);
    assert.match(page.advice, /never fatal/);
    for (const name of ["configuration", "keys", "deny_list", "d1", "state"]) {
      assert.equal(check(body, name).verdict, "ok", name);
    }
    assert.equal(body.overall, "warn");
    // The probes run at once: the answer takes about the slowest probe, not their sum.
    assert.ok(answer.ms < 2500, `answered in ${answer.ms} ms`);

    const line = await degraded.waitForAudit((e) => e.event === "admin.diagnose" && e.user_agent === answer.tag);
    assert.equal(line.overall, "warn");
    assert.equal(line.level, "warn");
    assert.equal(line.checks.backend_api, "warn");
    assert.equal(line.checks.status_page, "warn");
    // For the report: the slowed answer as an operator sees it.
    console.log(`diagnose (slowed) JSON:\n${JSON.stringify(body, null, 2)}`);
  });

  test("?format=text: one aligned line per check, the advice under it", async () => {
    const answer = await diagnose(degraded, { query: "?format=text" });
    assert.equal(answer.status, 200);
    assert.match(answer.res.headers.get("content-type"), /^text\/plain/);
    assert.equal(answer.res.headers.get("cache-control"), "no-store");
    const lines = answer.text.trimEnd().split("\n");
    assert.match(lines[0], /^clerk-edge-guard \S+ diagnose at \S+: WARN$/);
    assert.match(lines[2], /^CHECK\s+VERDICT\s+TOOK\s+FACTS$/);
    const row = (name) => lines.find((l) => l.startsWith(`${name} `));
    assert.match(row("backend_api"), /^backend_api\s+WARN\s+\d+ ms\s+GET \/v1\/users\?limit=1 -> HTTP 200/);
    assert.match(row("status_page"), /^status_page\s+WARN\s+\d+ ms\s+unreachable/);
    assert.match(row("configuration"), /^configuration\s+ok\s+-\s+\d+ set/);
    const column = lines[2].indexOf("VERDICT");
    for (const name of CHECKS) assert.equal(row(name).indexOf(row(name).split(/\s+/)[1]), column, name);
    assert.ok(lines.some((l) => /^\s+-> Clerk's Backend API took \d+ ms \(> 500 ms\)/.test(l)), answer.text);
    console.log(`diagnose (slowed) text:\n${answer.text}`);
  });

  test("refusals: no token 401, wrong token 401, POST 405, each with admin.denied; no CLERK_ADMIN_TOKEN: 404", async () => {
    const missing = await diagnose(healthy, { token: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.body.error, "admin-token-missing");
    const missingLine = await healthy.waitForAudit((e) => e.user_agent === missing.tag);
    assert.equal(missingLine.event, "admin.denied");
    assert.equal(missingLine.reason, "admin-token-missing");

    const wrong = await diagnose(healthy, { token: WRONG_TOKEN });
    assert.equal(wrong.status, 401);
    const wrongLine = await healthy.waitForAudit((e) => e.user_agent === wrong.tag);
    assert.equal(wrongLine.reason, "admin-token-invalid");

    const post = await diagnose(healthy, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.res.headers.get("allow"), "GET");
    const postLine = await healthy.waitForAudit((e) => e.user_agent === post.tag);
    assert.equal(postLine.reason, "method-not-allowed");

    const absent = await diagnose(unconfigured);
    assert.equal(absent.status, 404);
    assert.equal(absent.body.error, "not-found");
    await sleep(100);
    assert.equal(unconfigured.auditEvents().filter((e) => e.user_agent === absent.tag).length, 0);
  });

  test("no secret, token or admin token in any answer or log line", () => {
    const logs = [healthy, degraded, unconfigured].map((w) => w.output()).join("\n");
    for (const secret of [SECRET_KEY, ADMIN_TOKEN, WRONG_TOKEN]) {
      for (const text of answers) assert.ok(!text.includes(secret), `an answer holds ${secret.slice(0, 12)}…`);
      assert.ok(!logs.includes(secret), `a log line holds ${secret.slice(0, 12)}…`);
    }
    assert.ok(answers.length >= 7);
  });
});
