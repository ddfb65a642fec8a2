#!/usr/bin/env node
// Runtime side by side in workerd: clerk-edge-guard's Worker (build/, from
// scripts/build-worker.sh) and a JS Worker using @clerk/backend (bench/clerk-backend-worker/),
// each under `wrangler dev --local` on loopback, in front of the same echo origin, under the
// same autocannon load: requests/s, p50 and p99 latency per mix.
//
// Both Workers run at once and runs alternate (guard first, then Clerk first), so machine
// load hits both alike. Every run is bounded in count and time; every process started here is
// in its own process group and is killed on exit. Loopback only, no network.
//
//   node bench/runtime.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { b64json, tokenMinter } from "./tokens.mjs";
import { freePort, startWorker, startWranglerDev } from "../tests/e2e/support/index.mjs";
import { spawnGroup } from "../tests/e2e/support/process-groups.mjs";

const { values: args } = parseArgs({
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const CONNECTIONS = 10;
// Seconds per timed run (repeated, junk); requests per run for fresh tokens (each token is
// sent once, so the guard never gets a cache hit); runs per Worker and mix.
const PLAN = args.smoke
  ? { seconds: 1, freshRequests: 150, rounds: 1, warmup: 50 }
  : { seconds: 5, freshRequests: 2000, rounds: 2, warmup: 300 };
const RUN_CAP_MS = 30_000;

/** Resolves with the first output line matching `pattern`, or rejects after `ms`. */
function waitForLine(child, pattern, ms, what) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const timer = setTimeout(() => reject(new Error(`${what}: no ${pattern} within ${ms} ms:\n${seen.join("\n")}`)), ms);
    const onLine = (line) => {
      seen.push(line);
      const match = line.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
  });
}

async function startOrigin() {
  const port = await freePort();
  const { child, stopGroup } = spawnGroup(process.execPath, [join(root, "demo", "echo-origin.mjs"), String(port)], {
    env: process.env,
  });
  await waitForLine(child, /listening/, 10_000, "echo origin");
  return { url: `http://127.0.0.1:${port}`, stop: stopGroup };
}

// Tokens: one key, Clerk-shaped v2 claims. Fresh tokens share user and session (a `jti`
// tells them apart), so the guard's deny-list reads stay cached as for one busy session.
const NOW_S = Math.floor(Date.now() / 1000);
const { jwtKey, mint } = tokenMinter((serial) => ({
  azp: "https://app.example.com", exp: NOW_S + 3600, iat: NOW_S - 10, iss: "https://clerk.example.com",
  jti: `bench${serial}`, nbf: NOW_S - 20, sid: "sess_2bench", sub: "user_2bench", v: 2,
}));
const valid = mint();
const [h, p] = valid.split(".");
const junk = [
  "not-a-jwt", "a.b", "a.b.c", `${h}.${p}`, `${valid}.extra`, `${b64json("x")}.${p}.c2ln`,
  `${b64json({ alg: "none", typ: "JWT" })}.${p}.`, `${b64json({ alg: "HS256", typ: "JWT" })}.${p}.c2ln`,
  "%%%.***.!!!", "eyJ.eyJ.eyJ",
];

/** One bounded autocannon run; `nextToken()` gives each request's bearer token. */
function load(url, { nextToken, seconds, amount }) {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const options = {
      url: `${url}/bench/resource`,
      connections: CONNECTIONS,
      requests: [
        {
          method: "GET",
          setupRequest: (request) => {
            request.headers = { ...request.headers, authorization: `Bearer ${nextToken()}` };
            return request;
          },
        },
      ],
    };
    if (amount) options.amount = amount;
    else options.duration = seconds;
    const instance = autocannon(options, (error, result) =>
      error ? reject(error) : resolve({ ...result, wallSeconds: (performance.now() - started) / 1000 }),
    );
    const cap = setTimeout(() => instance.stop(), RUN_CAP_MS);
    instance.on("done", () => clearTimeout(cap));
  });
}

function summary(result) {
  const statuses = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  const seconds = result.wallSeconds;
  return {
    requests: result.requests.total,
    seconds,
    rps: result.requests.total / seconds,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    statuses,
  };
}

/** Averages runs of one Worker and mix (latencies: mean of the runs' percentiles). */
function merge(runs) {
  const total = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const statuses = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const mean = (key) => runs.reduce((n, r) => n + r[key], 0) / runs.length;
  return {
    requests: total,
    rps: total / seconds,
    p50_ms: mean("p50_ms"),
    p99_ms: mean("p99_ms"),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    statuses,
  };
}

const started = performance.now();
const loadAtStart = loadavg();
const stops = [];
let report;
try {
  const origin = await startOrigin();
  stops.push(origin.stop);
  const vars = { CLERK_JWT_KEY: jwtKey, ORIGIN_URL: origin.url };
  const [guard, clerk] = await Promise.all([
    startWorker({ vars, migrate: false, timeoutMs: 90_000 }).then((w) => {
      stops.push(w.stop);
      return w;
    }),
    startWranglerDev({
      configPath: join(here, "clerk-backend-worker", "wrangler.toml"),
      vars,
      timeoutMs: 90_000,
    }).then((w) => {
      stops.push(w.stop);
      return w;
    }),
  ]);
  const workers = { guard: guard.url, clerk: clerk.url };
  console.error(`[runtime] guard ${workers.guard}, @clerk/backend ${workers.clerk}, origin ${origin.url}`);

  // Same answers first.
  for (const [name, url] of Object.entries(workers)) {
    const ok = await fetch(`${url}/bench/resource`, { headers: { authorization: `Bearer ${valid}` } });
    const refused = await fetch(`${url}/bench/resource`, { headers: { authorization: "Bearer a.b.c" } });
    await ok.arrayBuffer();
    await refused.arrayBuffer();
    if (ok.status !== 200 || refused.status !== 401) {
      throw new Error(`${name}: a valid token got ${ok.status}, junk got ${refused.status} (want 200 and 401)`);
    }
  }
  for (const url of Object.values(workers)) await load(url, { nextToken: () => valid, amount: PLAN.warmup });

  const mintStart = performance.now();
  const freshBatches = Array.from({ length: PLAN.rounds }, () => Array.from({ length: PLAN.freshRequests }, mint));
  console.error(`[runtime] minted ${PLAN.rounds * PLAN.freshRequests} fresh tokens in ${((performance.now() - mintStart) / 1000).toFixed(1)} s`);

  const mixes = {
    repeated: (round) => ({ nextToken: () => valid, seconds: PLAN.seconds }),
    fresh: (round) => {
      const tokens = freshBatches[round];
      let i = 0;
      // Never more requests than tokens (amount), so no token is sent twice.
      return { nextToken: () => tokens[i++ % tokens.length], amount: tokens.length };
    },
    junk: () => {
      let i = 0;
      return { nextToken: () => junk[i++ % junk.length], seconds: PLAN.seconds };
    },
  };
  const results = {};
  for (const [mix, plan] of Object.entries(mixes)) {
    const runs = { guard: [], clerk: [] };
    for (let round = 0; round < PLAN.rounds; round++) {
      const order = round % 2 === 0 ? ["guard", "clerk"] : ["clerk", "guard"];
      for (const name of order) {
        const run = summary(await load(workers[name], plan(round)));
        runs[name].push(run);
        console.error(`[runtime] ${mix} ${name}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms ${JSON.stringify(run.statuses)}`);
      }
    }
    results[mix] = { guard: merge(runs.guard), clerk: merge(runs.clerk) };
    results[mix].rps_ratio = results[mix].guard.rps / results[mix].clerk.rps;
  }
  report = {
    part: "runtime",
    smoke: args.smoke,
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg: loadAtStart },
    connections: CONNECTIONS,
    plan: PLAN,
    seconds: (performance.now() - started) / 1000,
    mixes: results,
  };
} finally {
  await Promise.all(stops.map((stop) => stop()));
}

if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
const names = { repeated: "one token repeated", fresh: "distinct fresh tokens", junk: "junk tokens" };
console.log("| workerd (wrangler dev) | guard req/s | guard p50/p99 ms | @clerk/backend req/s | @clerk/backend p50/p99 ms | req/s ratio |");
console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
for (const [mix, m] of Object.entries(report.mixes)) {
  console.log(
    `| ${names[mix]} | ${m.guard.rps.toFixed(0)} | ${m.guard.p50_ms}/${m.guard.p99_ms} | ${m.clerk.rps.toFixed(0)} | ${m.clerk.p50_ms}/${m.clerk.p99_ms} | ${m.rps_ratio.toFixed(2)} |`,
  );
}
console.log(JSON.stringify(report));
