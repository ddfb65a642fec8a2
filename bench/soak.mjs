#!/usr/bin/env node
// The soak run (README, Proof: Soak): the built Worker (build/) in workerd under
// `wrangler dev --local`, in front of the echo origin, with the local fakes of Clerk
// (Backend API + JWKS, Frontend API for handshakes, status page), driven by a weighted mix of
// every kind of traffic over keep-alive connections, at the highest rate it sustains.
//
// Every request class has its expected answer; anything else is an unexpected error,
// counted, with a sample printed. The isolate's memory (workerd's RSS, the JS heap through
// the inspector after a forced GC, the wasm linear memory and the cache fill from the
// diagnosis's `state` check) is sampled after warm-up and at every 10 %. Exit 1 on any
// unexpected error, a cache over its cap, or memory that kept growing from the middle of the
// run to its end (GROWTH_TOLERANCE). Loopback only; every process is stopped on exit.
//
//   node bench/soak.mjs [--requests N] [--concurrency C] [--out FILE] [--seed S]
//   (scripts/soak.sh builds the Worker first and runs it)
import { randomBytes, randomUUID, createSign, KeyObject } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";

import { startOrigin, startWorker, svixHeaders } from "../tests/e2e/support/index.mjs";
import { EXPIRED_REASON, startInstance } from "../tests/e2e/support/handshake.mjs";
import { TEST_ISSUER, nowSeconds } from "../tests/e2e/support/tokens.mjs";
import { seeded } from "../tests/js/support/prng.mjs";
import { startFakeStatusPage } from "../tests/support/fake-status-page.mjs";

const { values: args } = parseArgs({
  options: {
    requests: { type: "string", default: "200000" },
    concurrency: { type: "string" },
    out: { type: "string" },
    seed: { type: "string", default: "13" },
    // A diagnostic aid: only this class (and the memory samples), to find what grows.
    only: { type: "string" },
  },
});
const TOTAL = Number(args.requests);
if (!Number.isInteger(TOTAL) || TOTAL < 1000) {
  console.error(`soak: --requests must be an integer >= 1000 (got ${args.requests})`);
  process.exit(2);
}
const FIXED_CONCURRENCY = args.concurrency === undefined ? undefined : Number(args.concurrency);
if (FIXED_CONCURRENCY !== undefined && !(Number.isInteger(FIXED_CONCURRENCY) && FIXED_CONCURRENCY >= 1 && FIXED_CONCURRENCY <= 256)) {
  console.error(`soak: --concurrency must be an integer 1..256 (got ${args.concurrency})`);
  process.exit(2);
}

/** Memory may grow by at most this fraction (plus GROWTH_SLACK_BYTES) from the middle to the end. */
const GROWTH_TOLERANCE = 0.1;
/** Absolute slack of the growth check: one GC's noise on a heap of a few MiB. */
const GROWTH_SLACK_BYTES = 1024 * 1024;
/** The sweep's candidate concurrencies (keep-alive connections), and requests per step. */
const SWEEP = [4, 8, 16, 32];
const SWEEP_REQUESTS = 800;
/** Without a sweep (short runs), this many connections: the sweep's usual winner here. */
const DEFAULT_CONCURRENCY = 8;
/** Runs this long sweep first and must show the caches at their caps by the middle. */
const FULL_RUN = TOTAL >= 50_000;
/** Distinct valid tokens: more than the verified-token cache's 4096 entries, so it evicts. */
const DISTINCT_TOKENS = FULL_RUN ? 6000 : Math.min(6000, Math.ceil(TOTAL * 0.12));
/**
 * wrangler dev's workerd grows its RSS by ~36 MiB per 1000 requests even for a trivial JS
 * Worker (measured: not this Worker's isolate); past this the run stops rather than starve a
 * shared machine.
 */
const RSS_GUARD_BYTES = 12 * 2 ** 30;
let rssExceeded = false;
/** The README's limit: longer tokens are refused `token-invalid` before any parsing. */
const TOKEN_LIMIT = 16 * 1024;
const ADMIN_TOKEN = `soak-admin-${randomBytes(16).toString("hex")}`;
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString("base64")}`;
const SECRET_KEY = "sk_test_soakSecretKey000000000000000000000";
const FETCH_HEADERS = { accept: "application/json", "sec-fetch-dest": "empty" };
const DOCUMENT_HEADERS = { accept: "text/html", "sec-fetch-dest": "document", "sec-fetch-mode": "navigate" };

// ---- deterministic choices -------------------------------------------------------------

// The differential tests' seeded PRNG, so a run's mix can be replayed from its seed.
const { rand: random, pick } = seeded(Number(args.seed));

// ---- tokens ------------------------------------------------------------------------------

const b64json = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function minterFor(key) {
  const privateKey = KeyObject.from(key.privateKey);
  const header = b64json({ alg: "RS256", typ: "JWT", kid: key.kid });
  return (claims) => {
    const input = `${header}.${b64json(claims)}`;
    return `${input}.${createSign("RSA-SHA256").update(input).sign(privateKey).toString("base64url")}`;
  };
}

/** Claims of a live session token for the whole run (and well beyond: runs take minutes). */
function liveClaims(sub, sid) {
  const iat = nowSeconds() - 5;
  return { iss: TEST_ISSUER, sub, sid, iat, nbf: iat - 10, exp: iat + 6 * 3600, v: 2 };
}

/**
 * A token-shaped string of `size` bytes: plain junk, or (from 600 bytes) a JWT with a known
 * kid, a JSON payload padded to the size and a wrong signature, which reaches the signature
 * check and is remembered as refused: what fills the verified-token cache's byte budget.
 */
function junkToken(kid, size) {
  if (size > 600 && random() < 0.6) {
    const head = `${b64json({ alg: "RS256", typ: "JWT", kid })}.`;
    const signature = randomBytes(256).toString("base64url");
    const base = { iss: TEST_ISSUER, sub: "user_junk", iat: nowSeconds(), exp: nowSeconds() + 600, pad: "" };
    const room = size - head.length - 1 - signature.length - b64json(base).length;
    base.pad = randomBytes(Math.max(0, Math.floor((room * 3) / 4 / 2))).toString("hex");
    return { token: `${head}${b64json(base)}.${signature}`, shape: "jwt" };
  }
  return { token: randomBytes(Math.ceil((size * 3) / 4)).toString("base64url").slice(0, size), shape: "garbage" };
}

// ---- HTTP --------------------------------------------------------------------------------

/** One request on a keep-alive agent: status, headers and body text, and how long it took. */
function send(agent, url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const req = http.request(url, { method, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8"), ms: performance.now() - started }),
      );
      res.on("error", (error) => resolve({ status: 0, headers: {}, text: String(error), ms: performance.now() - started }));
    });
    req.on("error", (error) => resolve({ status: 0, headers: {}, text: `connection error: ${error.message}`, ms: performance.now() - started }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const cookieHeader = (pairs) => Object.entries(pairs).map(([name, value]) => `${name}=${value}`).join("; ");

/** name=value of each Set-Cookie header. */
function setCookies(headers) {
  const out = {};
  for (const line of headers["set-cookie"] ?? []) {
    const [pair] = line.split(";");
    const eq = pair.indexOf("=");
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1);
  }
  return out;
}

// ---- statistics --------------------------------------------------------------------------

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[index] * 10) / 10;
}

class Tally {
  constructor() {
    this.classes = new Map();
    this.samples = new Map();
    this.unexpected = 0;
    this.requests = 0;
  }
  record(name, ms, problem, sample) {
    let entry = this.classes.get(name);
    if (!entry) {
      entry = { count: 0, errors: 0, durations: [] };
      this.classes.set(name, entry);
    }
    entry.count += 1;
    entry.durations.push(ms);
    this.requests += 1;
    if (problem) {
      entry.errors += 1;
      this.unexpected += 1;
      const key = `${name}: ${problem}`;
      const seen = this.samples.get(key);
      if (seen) seen.count += 1;
      else {
        this.samples.set(key, { count: 1, sample });
        console.error(`soak: UNEXPECTED ${key}\n  sample: ${sample}`);
      }
    }
  }
  summary() {
    return Object.fromEntries(
      [...this.classes.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, { count, errors, durations }]) => {
          const sorted = Float64Array.from(durations).sort();
          return [name, { count, errors, p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99) }];
        }),
    );
  }
  overall() {
    const all = Float64Array.from([...this.classes.values()].flatMap((c) => c.durations)).sort();
    return { p50_ms: percentile(all, 50), p99_ms: percentile(all, 99) };
  }
}

/** What an answer must be: status, and where cheap a header or body fact. */
function expectAnswer(res, { status, reason, reasons, echo = false, json }) {
  if (res.status !== status) return `status ${res.status}, expected ${status}`;
  const got = res.headers["x-clerk-auth-reason"];
  if (reason && got !== reason) return `x-clerk-auth-reason ${got}, expected ${reason}`;
  if (reasons && !reasons.includes(got)) return `x-clerk-auth-reason ${got}, expected one of ${reasons.join(", ")}`;
  if (echo && res.headers["x-echo-origin"] !== "1") return "not answered by the origin";
  if (json) {
    let parsed;
    try {
      parsed = JSON.parse(res.text);
    } catch {
      return "body is not JSON";
    }
    const problem = json(parsed);
    if (problem) return problem;
  }
  return null;
}

/** A short, secret-free sample of an answer for the error report. */
const sampleOf = (res, what) => `${what} -> ${res.status} reason=${res.headers["x-clerk-auth-reason"] ?? "-"} body=${res.text.slice(0, 160).replace(/\s+/g, " ")}`;

// ---- memory ------------------------------------------------------------------------------

/** workerd's PID: the workerd process in wrangler's process group. */
function workerdPid(groupId) {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const fields = stat.slice(close + 2).split(" ");
      if (comm.startsWith("workerd") && Number(fields[2]) === groupId) return Number(name);
    } catch {
      // a process that ended while listing
    }
  }
  return undefined;
}

function rssBytes(pid) {
  try {
    const match = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * The isolate's JS heap through the inspector (Chrome DevTools Protocol), after a full
 * garbage collection (`HeapProfiler.collectGarbage`, answered once the domain is enabled):
 * what the isolate retains, not garbage it has yet to collect.
 */
async function heapUsage(inspectorPort) {
  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const target = targets.find((t) => t.webSocketDebuggerUrl);
  if (!target) throw new Error(`the inspector lists no debuggable target: ${JSON.stringify(targets)}`);
  // wrangler's inspector proxy refuses a connection without a loopback Origin.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } });
  const opened = new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", () => reject(new Error("inspector websocket failed")), { once: true });
    setTimeout(() => reject(new Error("inspector websocket: not open within 10 s")), 10_000).unref();
  });
  let nextId = 0;
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      const timer = setTimeout(() => reject(new Error(`inspector ${method}: no answer within 20 s`)), 20_000);
      const onMessage = (event) => {
        const message = JSON.parse(String(event.data));
        if (message.id !== id) return;
        socket.removeEventListener("message", onMessage);
        clearTimeout(timer);
        if (message.error) reject(new Error(`inspector ${method}: ${message.error.message}`));
        else resolve(message.result);
      };
      socket.addEventListener("message", onMessage);
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await opened;
    await call("HeapProfiler.enable");
    await call("HeapProfiler.collectGarbage");
    const { usedSize, totalSize } = await call("Runtime.getHeapUsage");
    await call("HeapProfiler.disable");
    return { used: usedSize, total: totalSize };
  } finally {
    socket.close();
  }
}

// ---- the run -----------------------------------------------------------------------------

const started = performance.now();
const loadAtStart = loadavg().map((v) => Math.round(v * 100) / 100);
const log = (text) => console.error(`soak [${((performance.now() - started) / 1000).toFixed(0)} s] ${text}`);

const instance = await startInstance({ secretKey: SECRET_KEY, kid: "ins_soak" });
const origin = await startOrigin({
  // The echo origin keeps every request it saw: 200,000 of them would distort the run.
  handler: (req, res) => {
    res.writeHead(200, { "content-type": "application/json", "x-echo-origin": "1" });
    res.end(JSON.stringify({ url: req.url, user: req.headers["x-clerk-user-id"] ?? null }));
  },
});
const statusPage = await startFakeStatusPage();
const events = new Map();
let workerLines = 0;
const worker = await startWorker({
  vars: {
    ORIGIN_URL: origin.url,
    ...instance.appEnv(instance.pkLive, { CLERK_AUDIT_ALLOWED: "false" }),
    CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
    CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
    CLERK_STATUS_URL: statusPage.statusUrl,
  },
  maxLines: 200,
  onLine: (text) => {
    workerLines += 1;
    const name = text.match(/"event":"([^"]+)"/)?.[1] ?? (/panicked|Uncaught|RuntimeError/.test(text) ? "crash" : undefined);
    if (name) events.set(name, (events.get(name) ?? 0) + 1);
  },
});
const stopAll = async () => {
  await worker.stop();
  await statusPage.close();
  await origin.close();
  await instance.close();
};
process.on("SIGINT", () => stopAll().finally(() => process.exit(130)));

const workerd = workerdPid(worker.pid);

log(`worker on ${new URL(worker.url).host} (workerd pid ${workerd ?? "not found"}), inspector :${worker.inspectorPort}`);

// Tokens, minted once: hot ones (cache hits), distinct ones (more than the cache holds),
// expired ones, and the users and sessions the deny-list classes use.
const mint = minterFor(instance.key);
const hot = Array.from({ length: 50 }, (_, i) => {
  const claims = liveClaims(`user_hot_${i}`, `sess_hot_${i}`);
  return { token: mint(claims), iat: claims.iat };
});
log(`minting ${DISTINCT_TOKENS} distinct tokens`);
const distinct = Array.from({ length: DISTINCT_TOKENS }, (_, i) => mint(liveClaims(`user_many_${i}`, `sess_many_${i}`)));
const expired = Array.from({ length: 20 }, (_, i) => {
  const exp = nowSeconds() - 120 - i;
  return mint({ iss: TEST_ISSUER, sub: `user_exp_${i}`, sid: `sess_exp_${i}`, iat: exp - 60, nbf: exp - 70, exp });
});
const deniedUsers = Array.from({ length: 5 }, (_, i) => ({ user: `user_denied_${i}`, token: mint(liveClaims(`user_denied_${i}`, `sess_du_${i}`)) }));
const deniedSessions = Array.from({ length: 5 }, (_, i) => ({ session: `sess_denied_${i}`, token: mint(liveClaims(`user_sd_${i}`, `sess_denied_${i}`)) }));
const toggles = Array.from({ length: 4 }, (_, i) => ({
  user: `user_toggle_${i}`,
  token: mint(liveClaims(`user_toggle_${i}`, `sess_toggle_${i}`)),
  revoked: false,
  // Bumped when a revoke or restore starts and when it ends: an answer whose request
  // overlapped a change may be either.
  version: 0,
  changing: false,
}));
// Clerk must know the sessions the admin route revokes there (an unknown one is a 404, and
// the route answers 502: the edge entry written, Clerk's part failed).
for (const t of toggles) instance.clerk.addSession({ id: `sess_toggle_${t.user.slice(-1)}`, user_id: t.user });
deniedSessions.forEach((d, i) => instance.clerk.addSession({ id: d.session, user_id: `user_sd_${i}` }));

const webhookDone = [];
let distinctNext = 0;

const adminHeaders = { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" };

/** One request of each class; returns what the tally records. */
const classes = {
  "valid-bearer": async (agent) => {
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${pick(hot).token}` } });
    return [res, expectAnswer(res, { status: 200, echo: true }), "bearer hot token"];
  },
  "valid-cookie": async (agent) => {
    const { token, iat } = pick(hot);
    const res = await send(agent, `${worker.url}/app/page`, { headers: { ...FETCH_HEADERS, cookie: cookieHeader({ __session: token, __client_uat: iat }) } });
    return [res, expectAnswer(res, { status: 200, echo: true }), "cookie hot token"];
  },
  "valid-distinct": async (agent) => {
    const token = distinct[distinctNext++ % distinct.length];
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${token}` } });
    return [res, expectAnswer(res, { status: 200, echo: true }), "bearer distinct token"];
  },
  expired: async (agent) => {
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${pick(expired)}` } });
    return [res, expectAnswer(res, { status: 401, reason: "token-expired" }), "bearer expired token"];
  },
  junk: async (agent) => {
    // Most sizes up to the limit, a fifth past it (up to 1.5x).
    const size = random() < 0.8 ? 1 + Math.floor(random() * TOKEN_LIMIT) : TOKEN_LIMIT + 1 + Math.floor(random() * (TOKEN_LIMIT / 2));
    const { token, shape } = junkToken(instance.key.kid, size);
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${token}` } });
    const reason = token.length > TOKEN_LIMIT || shape === "garbage" ? "token-invalid" : "token-invalid-signature";
    return [res, expectAnswer(res, { status: 401, reason }), `junk ${shape} of ${token.length} bytes`];
  },
  "deny-listed": async (agent) => {
    const bySession = random() < 0.5;
    const { token } = bySession ? pick(deniedSessions) : pick(deniedUsers);
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${token}` } });
    return [res, expectAnswer(res, { status: 401, reason: bySession ? "session-revoked" : "user-revoked" }), `deny-listed ${bySession ? "session" : "user"}`];
  },
  "revoke-toggled": async (agent) => {
    const t = pick(toggles);
    const before = { version: t.version, revoked: t.revoked, changing: t.changing };
    const res = await send(agent, `${worker.url}/api/items`, { headers: { ...FETCH_HEADERS, authorization: `Bearer ${t.token}` } });
    const settled = !before.changing && !t.changing && before.version === t.version;
    const revokedAnswer = expectAnswer(res, { status: 401, reason: "user-revoked" });
    const allowedAnswer = expectAnswer(res, { status: 200, echo: true });
    let problem;
    if (settled) problem = before.revoked ? revokedAnswer : allowedAnswer;
    else problem = revokedAnswer && allowedAnswer ? `${allowedAnswer} (during a change: 200 or 401 user-revoked)` : null;
    return [res, problem, `toggled user (${settled ? (before.revoked ? "revoked" : "restored") : "changing"})`];
  },
  webhook: async (agent) => {
    const replay = webhookDone.length > 0 && random() < 0.25;
    const message = replay
      ? pick(webhookDone)
      : (() => {
          const id = `user_wh_${randomUUID()}`;
          const body = JSON.stringify({
            type: random() < 0.5 ? "user.created" : "user.updated",
            object: "event",
            timestamp: Date.now(),
            // Shaped as tests/e2e/webhooks.test.mjs's userData (Clerk's user object).
            data: {
              id,
              object: "user",
              primary_email_address_id: `idn_${id}`,
              email_addresses: [{ id: `idn_${id}`, email_address: `${id}@example.test` }],
              first_name: "Soak",
              last_name: "Run",
              banned: false,
              created_at: 1_767_225_600_000,
              updated_at: Date.now(),
            },
          });
          return { id: `msg_${randomUUID()}`, body };
        })();
    const res = await send(agent, `${worker.url}/__clerk/webhooks`, { method: "POST", headers: svixHeaders(message, { secret: WEBHOOK_SECRET }), body: message.body });
    const problem = expectAnswer(res, {
      status: 200,
      json: (body) => (replay ? (body.duplicate === true ? null : "a redelivery not answered duplicate") : body.ok === true && body.duplicate === undefined ? null : "a first delivery not applied"),
    });
    if (!problem && !replay && webhookDone.length < 2000) webhookDone.push(message);
    return [res, problem, replay ? "webhook redelivery" : "webhook delivery"];
  },
  health: async (agent) => {
    const res = await send(agent, `${worker.url}/__clerk/health`);
    return [res, expectAnswer(res, { status: 200, json: (b) => (b.status === "ok" ? null : `health ${b.status}`) }), "health"];
  },
  "admin-denied": async (agent) => {
    const res = await send(agent, `${worker.url}/__clerk/admin/diagnose`, { headers: { authorization: "Bearer not-the-admin-token-at-all-000000000" } });
    return [res, expectAnswer(res, { status: 401 }), "admin call with a wrong token"];
  },
  handshake: async (agent, tally) => {
    // A returning visitor: expired __session and a __client_uat; production instance, so
    // app -> Frontend API -> app with a nonce cookie; two requests through the Worker.
    const exp = nowSeconds() - 120;
    const expiredSession = mint({ iss: TEST_ISSUER, sub: instance.userId, sid: instance.sessionId, iat: exp - 60, nbf: exp - 70, exp });
    const jar = { __session: expiredSession, __client_uat: String(exp - 60) };
    const first = await send(agent, `${worker.url}/dashboard?tab=2`, { headers: { ...DOCUMENT_HEADERS, cookie: cookieHeader(jar) } });
    const firstProblem =
      expectAnswer(first, { status: 307, reason: EXPIRED_REASON }) ??
      (first.headers.location?.startsWith(`${instance.fapi.url}/v1/client/handshake?`) ? null : "not redirected to the Frontend API");
    if (firstProblem) return [first, firstProblem, "handshake redirect"];
    tally.record("handshake-redirect", first.ms, null);
    Object.assign(jar, setCookies(first.headers));
    const fapi = await send(agent, first.headers.location, { headers: DOCUMENT_HEADERS });
    if (fapi.status !== 307) return [fapi, `the fake Frontend API answered ${fapi.status}`, "handshake at the Frontend API"];
    Object.assign(jar, setCookies(fapi.headers));
    const back = await send(agent, fapi.headers.location, { headers: { ...DOCUMENT_HEADERS, cookie: cookieHeader(jar) } });
    return [back, expectAnswer(back, { status: 200, echo: true }), "handshake return leg"];
  },
  diagnose: async (agent) => {
    const res = await send(agent, `${worker.url}/__clerk/admin/diagnose`, { headers: adminHeaders });
    return [res, expectAnswer(res, { status: 200, json: (b) => (Array.isArray(b.checks) ? null : "no checks") }), "diagnose"];
  },
};
/** Weights per 1000 requests of the mix (a handshake flow is two Worker requests). */
const WEIGHTS = {
  "valid-bearer": 240,
  "valid-cookie": 190,
  "valid-distinct": 120,
  expired: 60,
  junk: 150,
  "deny-listed": 50,
  "revoke-toggled": 40,
  webhook: 50,
  health: 20,
  "admin-denied": 10,
  handshake: 30,
  diagnose: 2,
};
if (args.only !== undefined) {
  if (!(args.only in WEIGHTS)) {
    console.error(`soak: --only must be one of ${Object.keys(WEIGHTS).join(", ")} (got ${args.only})`);
    process.exit(2);
  }
  for (const name of Object.keys(WEIGHTS)) if (name !== args.only) WEIGHTS[name] = 0;
}
const weightTotal = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
function chooseClass() {
  let r = random() * weightTotal;
  for (const [name, weight] of Object.entries(WEIGHTS)) {
    r -= weight;
    if (r < 0) return name;
  }
  return "valid-bearer";
}
/** The class names as the tally records them (a handshake flow counts its return leg). */
const recordedName = (name) => (name === "handshake" ? "handshake-return" : name);

async function admin(agent, path, body) {
  const res = await send(agent, `${worker.url}${path}`, { method: "POST", headers: adminHeaders, body: JSON.stringify(body) });
  return [res, expectAnswer(res, { status: 200, json: (b) => (b.edge_deny_listed === false && path.endsWith("revoke") ? "not deny-listed" : null) })];
}

/** Flips one toggled user (revoke <-> restore) through the admin route. */
async function flipToggle(agent, tally) {
  const t = pick(toggles);
  if (t.changing) return;
  t.changing = true;
  t.version += 1;
  const path = t.revoked ? "/__clerk/admin/restore" : "/__clerk/admin/revoke";
  const [res, problem] = await admin(agent, path, { user_id: t.user, reason: "soak toggle" });
  tally.record(path.endsWith("revoke") ? "admin-revoke" : "admin-restore", res.ms, problem, sampleOf(res, path));
  if (!problem) t.revoked = !t.revoked;
  t.version += 1;
  t.changing = false;
}

/** Sends `count` requests of the mix over `concurrency` keep-alive connections. */
async function drive({ count, concurrency, tally, onProgress }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let issued = 0;
  const flipEvery = Math.max(200, Math.floor(count / 100));
  const loop = async () => {
    while (issued < count && !rssExceeded) {
      const name = chooseClass();
      // Counted in requests through the Worker: a handshake flow is two.
      const before = issued;
      issued += name === "handshake" ? 2 : 1;
      if (Math.floor(issued / flipEvery) > Math.floor(before / flipEvery)) {
        issued = before + 1;
        await flipToggle(agent, tally);
        continue;
      }
      const [res, problem, what] = await classes[name](agent, tally);
      tally.record(recordedName(name), res.ms, problem, problem ? sampleOf(res, what) : undefined);
      onProgress?.(tally.requests);
    }
  };
  const began = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - began) / 1000;
  agent.destroy();
  return { seconds, rps: tally.requests / seconds };
}

/**
 * A heap reading that works on an idle Worker too: workerd's inspector answers
 * `HeapProfiler.collectGarbage` only while the isolate runs (an idle one left it unanswered
 * at the start and the end of the first full run), so a health request every 250 ms keeps
 * it running until the reading is in.
 */
async function heapReading() {
  let reading = true;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const pump = (async () => {
    while (reading) {
      await send(agent, `${worker.url}/__clerk/health`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  try {
    return await heapUsage(worker.inspectorPort).catch((error) => ({ error: error.message }));
  } finally {
    reading = false;
    await pump;
    agent.destroy();
  }
}

async function memorySample(label, tally) {
  const agent = new http.Agent({ keepAlive: false });
  const [res, problem] = await classes.diagnose(agent);
  tally?.record("diagnose", res.ms, problem, problem ? sampleOf(res, "diagnose") : undefined);
  const state = problem ? undefined : JSON.parse(res.text).checks.find((c) => c.name === "state");
  let heap = await heapReading();
  if (heap.error) heap = await heapReading().then((again) => (again.error ? { error: `${heap.error}; then ${again.error}` } : again));
  if (heap.error) log(`memory ${label}: no JS heap reading: ${heap.error}`);
  const rss = workerd ? rssBytes(workerd) : null;
  if (rss !== null && rss > RSS_GUARD_BYTES) {
    rssExceeded = true;
    log(`workerd's RSS is ${(rss / 2 ** 30).toFixed(1)} GiB, over the guard: stopping the run (the machine is shared)`);
  }
  const memory = state?.memory ?? {};
  const caches = Object.fromEntries(Object.entries(memory.caches ?? {}).map(([name, c]) => [name, c]));
  const sample = {
    label,
    requests: tally?.requests ?? 0,
    rss_bytes: rss,
    js_heap_used_bytes: heap.used ?? null,
    js_heap_total_bytes: heap.total ?? null,
    wasm_memory_bytes: memory.wasm_memory_bytes ?? null,
    caches,
  };
  if (heap.error) sample.js_heap_error = heap.error;
  const mib = (b) => (b === null ? "?" : `${(b / 1048576).toFixed(1)} MiB`);
  const tokens = caches.verified_tokens;
  log(
    `memory ${label}: rss ${mib(sample.rss_bytes)}, js heap ${mib(sample.js_heap_used_bytes)}, wasm ${mib(sample.wasm_memory_bytes)}, ` +
      `verified_tokens ${tokens ? `${tokens.entries}/${tokens.max_entries} (${mib(tokens.bytes)} of ${mib(tokens.max_bytes)}, ${tokens.evicted} evicted)` : "?"}`,
  );
  return sample;
}

let exitCode = 0;
const failures = [];
try {
  // Warm-up: every class once or more, the deny-list entries of the run, then the baseline.
  const warmAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const warmTally = new Tally();
  for (const d of deniedUsers) {
    const [res, problem] = await admin(warmAgent, "/__clerk/admin/revoke", { user_id: d.user, reason: "soak deny-listed user" });
    if (problem) throw new Error(`could not deny-list ${d.user}: ${sampleOf(res, "revoke")}`);
  }
  for (const d of deniedSessions) {
    const [res, problem] = await admin(warmAgent, "/__clerk/admin/revoke", { session_id: d.session, reason: "soak deny-listed session" });
    if (problem) throw new Error(`could not deny-list ${d.session}: ${sampleOf(res, "revoke")}`);
  }
  for (const name of Object.keys(classes)) {
    for (let i = 0; i < 3; i += 1) {
      const [res, problem, what] = await classes[name](warmAgent, warmTally);
      warmTally.record(recordedName(name), res.ms, problem, problem ? sampleOf(res, what) : undefined);
    }
  }
  warmAgent.destroy();
  if (warmTally.unexpected > 0) throw new Error(`the warm-up already failed (${warmTally.unexpected} unexpected answers, above): nothing to soak`);

  // The sweep: a short run at each concurrency; the run uses the smallest one within 5 % of
  // the best rate (more connections past that only add queueing: p99 grows, rate does not).
  let concurrency = FIXED_CONCURRENCY ?? DEFAULT_CONCURRENCY;
  const sweep = [];
  if (FIXED_CONCURRENCY === undefined && FULL_RUN) {
    for (const c of SWEEP) {
      const t = new Tally();
      const { rps } = await drive({ count: SWEEP_REQUESTS, concurrency: c, tally: t });
      const overall = t.overall();
      sweep.push({ concurrency: c, requests: t.requests, rps: Math.round(rps), p50_ms: overall.p50_ms, p99_ms: overall.p99_ms, unexpected: t.unexpected });
      log(`sweep: ${c} connections -> ${Math.round(rps)} req/s, p50 ${overall.p50_ms} ms, p99 ${overall.p99_ms} ms, ${t.unexpected} unexpected`);
      if (t.unexpected > 0) failures.push(`${t.unexpected} unexpected answers in the sweep at ${c} connections`);
    }
    const best = Math.max(...sweep.map((s) => s.rps));
    concurrency = sweep.find((s) => s.rps >= best * 0.95).concurrency;
    log(`chosen: ${concurrency} connections (smallest within 5 % of the best ${best} req/s)`);
  }

  const samples = [await memorySample("start", null)];
  const tally = new Tally();
  let nextMark = 1;
  const marks = [];
  const { seconds, rps } = await drive({
    count: TOTAL,
    concurrency,
    tally,
    onProgress: (done) => {
      if (nextMark <= 10 && done >= (TOTAL * nextMark) / 10) {
        const label = `${nextMark * 10}%`;
        nextMark += 1;
        // Sampled while traffic goes on, one at a time (one inspector session at once);
        // awaited before the figures are judged.
        const previous = marks.at(-1) ?? Promise.resolve();
        marks.push(previous.then(() => memorySample(label, tally)));
      }
    },
  });
  samples.push(...(await Promise.all(marks)));
  const middle = samples.find((s) => s.label === "50%");
  const end = samples.at(-1);

  // ---- judge ----
  if (tally.unexpected > 0) failures.push(`${tally.unexpected} unexpected answers (samples above)`);
  if (rssExceeded) failures.push(`stopped early at ${tally.requests} requests: workerd's RSS passed the guard`);
  const crashes = events.get("crash") ?? 0;
  if (crashes > 0) failures.push(`the Worker printed ${crashes} panic/uncaught-exception lines`);
  const overCap = [];
  for (const s of samples) {
    for (const [name, c] of Object.entries(s.caches)) {
      if ((c.max_entries !== null && c.entries > c.max_entries) || (c.max_bytes !== undefined && c.bytes > c.max_bytes)) overCap.push(`${name} at ${s.label}`);
    }
  }
  if (overCap.length) failures.push(`caches over their cap: ${overCap.join(", ")}`);
  const tokensAtMiddle = middle?.caches.verified_tokens;
  const filledByMiddle = tokensAtMiddle !== undefined && tokensAtMiddle.evicted > 0;
  const growth = {};
  for (const field of ["wasm_memory_bytes", "js_heap_used_bytes", "rss_bytes"]) {
    const from = middle?.[field];
    const to = end?.[field];
    growth[field] = from && to ? { middle: from, end: to, ratio: Math.round((to / from) * 1000) / 1000 } : null;
  }
  let growthCheck;
  if (!filledByMiddle) {
    growthCheck = "skipped: the verified-token cache had not reached its cap by the middle (run longer)";
    if (FULL_RUN) failures.push(`a full run must fill the caches by its middle: ${growthCheck}`);
  } else {
    const grew = ["wasm_memory_bytes", "js_heap_used_bytes"].filter((field) => {
      const g = growth[field];
      return !g || g.end > g.middle * (1 + GROWTH_TOLERANCE) + GROWTH_SLACK_BYTES;
    });
    growthCheck = grew.length === 0 ? "passed" : `failed: ${grew.join(", ")} grew more than ${GROWTH_TOLERANCE * 100} % + 1 MiB (or was not measured)`;
    if (grew.length) failures.push(`memory kept growing from the middle to the end: ${grew.join(", ")}`);
  }
  exitCode = failures.length ? 1 : 0;

  // ---- report ----
  const perClass = tally.summary();
  const overall = tally.overall();
  const report = {
    part: "soak",
    smoke: !FULL_RUN,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg_start: loadAtStart, loadavg_end: loadavg().map((v) => Math.round(v * 100) / 100) },
    node: process.version,
    seed: Number(args.seed),
    requests: tally.requests,
    concurrency,
    concurrency_choice: FIXED_CONCURRENCY !== undefined ? "given" : FULL_RUN ? "sweep: smallest within 5 % of the best rate" : `default ${DEFAULT_CONCURRENCY} (short run, no sweep)`,
    sweep,
    seconds: Math.round(seconds * 10) / 10,
    rps: Math.round(rps),
    unexpected: tally.unexpected,
    p50_ms: overall.p50_ms,
    p99_ms: overall.p99_ms,
    weights_per_mille: WEIGHTS,
    distinct_tokens: DISTINCT_TOKENS,
    classes: perClass,
    unexpected_samples: Object.fromEntries([...tally.samples.entries()].map(([k, v]) => [k, v])),
    worker_log: { lines: workerLines, events: Object.fromEntries([...events.entries()].sort()) },
    memory: { samples, growth_middle_to_end: growth, tolerance: `${GROWTH_TOLERANCE * 100} % + 1 MiB`, growth_check: growthCheck },
    failures,
  };

  const rows = Object.entries(perClass).map(([name, c]) => `| ${name} | ${c.count} | ${c.errors} | ${c.p50_ms} | ${c.p99_ms} |`);
  console.log(`\n| class | requests | unexpected | p50 ms | p99 ms |\n| --- | ---: | ---: | ---: | ---: |\n${rows.join("\n")}`);
  console.log(`| **all** | **${tally.requests}** | **${tally.unexpected}** | **${overall.p50_ms}** | **${overall.p99_ms}** |`);
  console.log(`\n${tally.requests} requests in ${report.seconds} s over ${concurrency} keep-alive connections: ${report.rps} req/s`);
  const mib = (b) => (b === null || b === undefined ? "?" : (b / 1048576).toFixed(1));
  console.log(`\n| sample | requests | workerd RSS MiB | JS heap MiB | wasm MiB | verified tokens (evicted) | token bytes MiB | deny_list | live |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
  for (const s of samples) {
    const t = s.caches.verified_tokens ?? {};
    const d = s.caches.deny_list ?? {};
    const l = s.caches.live_decisions ?? {};
    console.log(
      `| ${s.label} | ${s.requests} | ${mib(s.rss_bytes)} | ${mib(s.js_heap_used_bytes)} | ${mib(s.wasm_memory_bytes)} | ${t.entries}/${t.max_entries} (${t.evicted}) | ${mib(t.bytes)}/${mib(t.max_bytes)} | ${d.entries}/${d.max_entries} | ${l.entries}/${l.max_entries} |`,
    );
  }
  console.log(`\nmemory, middle -> end: ${JSON.stringify(growth)}; growth check (${report.memory.tolerance}): ${growthCheck}`);
  console.log(`worker log: ${workerLines} lines; events ${JSON.stringify(report.worker_log.events)}`);
  console.log(`load average at start ${loadAtStart.join(" / ")}, at end ${report.machine.loadavg_end.join(" / ")} (${cpus().length} cores)`);
  if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(failures.length ? `\nsoak: FAILED\n- ${failures.join("\n- ")}` : "\nsoak: passed (0 unexpected answers, caches within their caps, memory bounded)");
} catch (error) {
  console.error(`soak: ${error.stack ?? error}\nlast Worker lines:\n${worker.output()}`);
  exitCode = 1;
} finally {
  await stopAll();
}
process.exit(exitCode);
