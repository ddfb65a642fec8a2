#!/usr/bin/env node
// Next.js side by side: the example app (tests/next-app) built twice with `next build`, once
// with its own middleware (clerk-edge-guard's wasm) and once with `@clerk/nextjs`'s
// `clerkMiddleware` + `createRouteMatcher` + `auth.protect()` (bench/nextjs/middleware.ts,
// networkless with `jwtKey`), each run with `next start` on loopback. Measures:
//   - the middleware bundle: every file `.next/server/middleware-manifest.json` lists for the
//     middleware (its wasm included), raw and gzip -9, summed;
//   - the first request after start: a fresh `next start`, and as soon as it prints Ready, one
//     GET of the protected route with a valid token; its latency (the middleware and the route
//     load on first use) is the figure, median over `plan.starts` starts per side;
//   - requests/s and p50/p99 under autocannon on the protected route: one token repeated,
//     distinct fresh tokens (each sent once), junk tokens.
// The route is GET /api/whoami: protected by both middlewares (not public, in the matcher),
// and the cheapest such route of the app (it echoes the x-clerk-* request headers, no crypto,
// no storage), so the middleware is most of the cost. Requests carry `Authorization: Bearer`
// and `accept: application/json`: a non-document request, so neither side starts Clerk's
// browser handshake.
//
// Both copies of the app live outside the checkout (os.tmpdir()/ceg-bench-nextjs-<hash>/{ours,
// theirs}) and are kept: a copy is installed (the packed pkg-js tarball, plus @clerk/nextjs at
// the version bench/nextjs/package.json pins for theirs, `npm install --no-save`) and built
// again only when the hash of its inputs (the tarball, the app's sources, its middleware, its
// extra dependencies) differs from the stamp its last build left in `.next`.
//
// Runs alternate ours/theirs (and which goes first); every run is bounded in count and time;
// every server is in its own process group, stopped on exit. `next start` preloads
// bench/nextjs/loopback-only.cjs, which refuses and reports any connection off loopback: a
// report fails the benchmark, as does an answer of the wrong class (2xx for valid tokens, 4xx
// for junk) on either side, so a broken setup never reports a number.
//
//   node bench/nextjs.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet, createServer } from "node:http";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import autocannon from "autocannon";

import { b64json, tokenMinter } from "./tokens.mjs";
import { spawnGroup } from "../tests/e2e/support/process-groups.mjs";
import { freePort } from "../tests/e2e/support/worker.mjs";
import { sourceFiles } from "../tests/next/support/built-app.mjs";
import { buildApp, installApp } from "../tests/next/support/next-app.mjs";
import { packPackage } from "../tests/support/pkg-tarball.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const appDir = join(root, "tests", "next-app");
const theirsDir = join(here, "nextjs");
const LOOPBACK_ONLY = join(theirsDir, "loopback-only.cjs");
const ARMED_MARKER = "[loopback-only] armed";
const BLOCKED_MARKER = "[loopback-only] blocked";
const CLERK_DEPS = JSON.parse(readFileSync(join(theirsDir, "package.json"), "utf8")).dependencies;
const CLERK_NEXTJS = CLERK_DEPS["@clerk/nextjs"];

const ROUTE = "/api/whoami";
const CONNECTIONS = 10;
const RUN_CAP_MS = 30_000;
const READY_TIMEOUT_MS = 60_000;

/** The two builds: which middleware replaces the app's, what else gets installed, and how an
 * answer of the protected route shows the middleware verified the token (not just let it by). */
const SIDES = {
  ours: {
    label: "clerk-edge-guard",
    middleware: join(appDir, "middleware.ts"),
    extra: [],
    signedIn: (body) => body["x-clerk-auth-status"] === "signed-in" && body["x-clerk-user-id"] === SUBJECT,
  },
  theirs: {
    label: `@clerk/nextjs ${CLERK_NEXTJS}`,
    middleware: join(theirsDir, "middleware.ts"),
    extra: Object.entries(CLERK_DEPS).map(([name, version]) => `${name}@${version}`),
    signedIn: (body) => body["x-clerk-auth-status"] === "signed-in",
  },
};

const SUBJECT = "user_2bench";
const AUTHORIZED_PARTY = "https://app.example.com";
// Syntactically valid, fake: a publishable key is base64 of "<frontend API host>$".
const PUBLISHABLE_KEY = `pk_test_${Buffer.from("clerk.example.com$").toString("base64")}`;
const SECRET_KEY = "sk_test_bench_nextjs_not_a_real_key_0123456789";

// ---- builds -------------------------------------------------------------------------------

const buildRoot = join(tmpdir(), `ceg-bench-nextjs-${createHash("sha256").update(root).digest("hex").slice(0, 12)}`);
const nextBin = (dir) => join(dir, "node_modules", "next", "dist", "bin", "next");

/** A hash of everything a side's build depends on. */
function inputsHash(name, tarball) {
  const { middleware, extra } = SIDES[name];
  const hash = createHash("sha256").update(JSON.stringify({ name, extra }));
  hash.update(readFileSync(tarball)).update(readFileSync(middleware));
  for (const path of sourceFiles(appDir)) hash.update(`\0${path}\0`).update(readFileSync(join(appDir, path)));
  return hash.digest("hex");
}

/** The side's copy of the app, installed and built, unless its build is of the same inputs. */
async function ensureBuilt(name) {
  const dir = join(buildRoot, name);
  const stamp = join(dir, ".next", "ceg-bench-inputs");
  const { tarball } = await packPackage();
  const wanted = inputsHash(name, tarball);
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === wanted) return { dir, built: false };
  mkdirSync(dir, { recursive: true });
  // Sources afresh (node_modules stays: the install brings it up to date, faster).
  for (const entry of readdirSync(dir)) if (entry !== "node_modules") rmSync(join(dir, entry), { recursive: true, force: true });
  for (const path of sourceFiles(appDir)) cpSync(join(appDir, path), join(dir, path));
  cpSync(SIDES[name].middleware, join(dir, "middleware.ts"));
  await installApp(dir, SIDES[name].extra);
  await buildApp({}, dir); // no CLERK_* at build time: both sides read their keys at run time
  writeFileSync(stamp, wanted);
  return { dir, built: true };
}

const installedVersion = (dir, pkg) =>
  JSON.parse(readFileSync(join(dir, "node_modules", pkg, "package.json"), "utf8")).version;

/** Every file the middleware manifest lists for the middleware (code, wasm, assets): sizes. */
function middlewareBundle(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, ".next", "server", "middleware-manifest.json"), "utf8"));
  const entries = Object.values(manifest.middleware ?? {});
  if (entries.length !== 1) throw new Error(`${dir}: expected one middleware in middleware-manifest.json, found ${entries.length}`);
  const [entry] = entries;
  const paths = new Set([
    ...(entry.files ?? []),
    ...(entry.wasm ?? []).map((w) => w.filePath),
    ...(entry.assets ?? []).map((a) => a.filePath),
  ]);
  const files = [...paths].map((path) => {
    const bytes = readFileSync(join(dir, ".next", path));
    return { path, raw_bytes: bytes.length, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
  });
  const sum = (key) => files.reduce((n, f) => n + f[key], 0);
  return { files, raw_bytes: sum("raw_bytes"), gzip_bytes: sum("gzip_bytes") };
}

// ---- servers and requests -----------------------------------------------------------------

/** `next start`'s environment: the caller's, less any Clerk/Upstash settings, plus `config`. */
function serverEnvironment(config) {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(CLERK_|UPSTASH_|NEXT_PUBLIC_CLERK_)/.test(name)) delete env[name];
  }
  return {
    ...env,
    NODE_OPTIONS: `--require ${LOOPBACK_ONLY}`,
    NEXT_TELEMETRY_DISABLED: "1",
    CLERK_TELEMETRY_DISABLED: "1",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    ...config,
  };
}

/**
 * `next start` on a free loopback port; resolves once it prints Ready. On `localhost`, not
 * 127.0.0.1: Next 16 hands the middleware a request URL on localhost, and @clerk/nextjs turns
 * every request it lets through into a rewrite to that URL; under `-H 127.0.0.1` Next takes
 * that for another origin and proxies the request to itself, again and again.
 */
async function startServer(dir, env) {
  const port = await freePort();
  const spawned = performance.now();
  const { child, exited, stopGroup } = spawnGroup(
    process.execPath,
    [nextBin(dir), "start", "-p", String(port), "-H", "localhost"],
    { cwd: dir, env },
  );
  // The last lines, for an error message; the output of a long run is not kept.
  const tail = [];
  let blocked = 0;
  let armed = false;
  let timer;
  const ready = new Promise((resolveReady, reject) => {
    const onLine = (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (line.includes(ARMED_MARKER)) armed = true;
      if (line.includes(BLOCKED_MARKER)) blocked += 1;
      if (/\bReady in\b/.test(line)) {
        if (armed) resolveReady(performance.now());
        else reject(new Error(`next start is Ready without ${LOOPBACK_ONLY} loaded:\n${tail.join("\n")}`));
      }
    };
    createInterface({ input: child.stdout }).on("line", onLine);
    createInterface({ input: child.stderr }).on("line", onLine);
    exited.then(() => reject(new Error(`next start exited early:\n${tail.join("\n")}`)));
    timer = setTimeout(() => reject(new Error(`next start not Ready within ${READY_TIMEOUT_MS} ms:\n${tail.join("\n")}`)), READY_TIMEOUT_MS);
  });
  try {
    const readyAt = await ready;
    return { url: `http://localhost:${port}`, ready_ms: readyAt - spawned, blocked: () => blocked, tail: () => tail.join("\n"), stop: stopGroup };
  } catch (error) {
    await stopGroup();
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

const headers = (token) => ({ accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) });

/** One GET on a new connection: status, parsed JSON body (or null) and latency. */
function request(url, token) {
  return new Promise((resolveRequest, reject) => {
    const started = performance.now();
    const req = httpGet(url, { headers: headers(token), agent: false, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on("data", (chunk) => chunks.push(chunk));
      res.on("end", () => {
        let body = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        } catch {
          // not JSON: a refusal page
        }
        resolveRequest({ status: res.statusCode, body, ms: performance.now() - started });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on("error", reject);
  });
}

/** One request through this process's HTTP client first, so the first timed request does not
 * pay for the client's own warm-up. */
async function warmClient() {
  const server = createServer((_, res) => res.end("{}"));
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  await request(`http://127.0.0.1:${server.address().port}/`);
  await new Promise((r) => server.close(r));
}

/** Valid token: 200 and signed in; junk and no token: 4xx. Status codes and header names
 * only in the error: an answer may echo the token. */
async function checkAnswers(name, url, valid) {
  const ok = await request(`${url}${ROUTE}`, valid);
  const junk = await request(`${url}${ROUTE}`, "a.b.c");
  const none = await request(`${url}${ROUTE}`);
  const refused = (r) => r.status >= 400 && r.status < 500;
  if (ok.status !== 200 || !ok.body || !SIDES[name].signedIn(ok.body) || !refused(junk) || !refused(none)) {
    throw new Error(
      `${name}: a valid token got ${ok.status} (headers seen: ${Object.keys(ok.body ?? {}).join(", ")}), ` +
        `junk got ${junk.status}, no token got ${none.status} (want 200 signed in, 4xx, 4xx)`,
    );
  }
  return { valid: ok.status, junk: junk.status, none: none.status };
}

/** One bounded autocannon run; `nextToken()` gives each request's bearer token. */
function load(url, { nextToken, seconds, amount }) {
  const started = performance.now();
  return new Promise((resolveRun, reject) => {
    const options = {
      url: `${url}${ROUTE}`,
      connections: CONNECTIONS,
      requests: [
        {
          method: "GET",
          setupRequest: (req) => ({ ...req, headers: { ...req.headers, ...headers(nextToken()) } }),
        },
      ],
    };
    if (amount) options.amount = amount;
    else options.duration = seconds;
    const instance = autocannon(options, (error, result) =>
      error ? reject(error) : resolveRun({ ...result, wallSeconds: (performance.now() - started) / 1000 }),
    );
    const cap = setTimeout(() => instance.stop(), RUN_CAP_MS);
    instance.on("done", () => clearTimeout(cap));
  });
}

function summary(result) {
  const statuses = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  return {
    requests: result.requests.total,
    seconds: result.wallSeconds,
    rps: result.requests.total / result.wallSeconds,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    statuses,
  };
}

/** Fails unless every answer of the run is of the class the mix expects. */
function assertClass(name, mix, run) {
  const want = mix === "junk" ? 4 : 2;
  const wrong = Object.entries(run.statuses).filter(([code]) => Math.floor(Number(code) / 100) !== want);
  if (run.requests === 0 || run.errors > 0 || wrong.length > 0) {
    throw new Error(`${name} ${mix}: want only ${want}xx, got ${JSON.stringify(run.statuses)}, ${run.errors} errors`);
  }
}

/** Runs of one side and mix together (latencies: mean of the runs' percentiles). */
function merge(runs) {
  const requests = runs.reduce((n, r) => n + r.requests, 0);
  const seconds = runs.reduce((n, r) => n + r.seconds, 0);
  const statuses = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  const mean = (key) => runs.reduce((n, r) => n + r[key], 0) / runs.length;
  return { rps: requests / seconds, p50_ms: mean("p50_ms"), p99_ms: mean("p99_ms"), requests, statuses };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** Ours first on even rounds, theirs first on odd ones. */
const order = (round) => (round % 2 === 0 ? ["ours", "theirs"] : ["theirs", "ours"]);
const log = (text) => console.error(`[nextjs] ${text}`);

// ---- the benchmark ------------------------------------------------------------------------

/** Fresh starts, alternating sides: the first protected request's latency after Ready. */
async function firstRequests(dirs, env, valid, starts) {
  const samples = { ours: [], theirs: [] };
  const ready = { ours: [], theirs: [] };
  for (let round = 0; round < starts; round++) {
    for (const name of order(round)) {
      const server = await startServer(dirs[name], env);
      try {
        const first = await request(`${server.url}${ROUTE}`, valid).catch((error) => ({ error }));
        if (first.status !== 200) {
          throw new Error(`${name}: the first request got ${first.status ?? first.error.message}:\n${server.tail()}`);
        }
        if (server.blocked() > 0) throw new Error(`${name}: a connection off loopback:\n${server.tail()}`);
        samples[name].push(first.ms);
        ready[name].push(server.ready_ms);
        log(`first request ${name}: ${first.ms.toFixed(0)} ms (Ready after ${server.ready_ms.toFixed(0)} ms)`);
      } finally {
        await server.stop();
      }
    }
  }
  return {
    starts,
    ours_ms: median(samples.ours),
    theirs_ms: median(samples.theirs),
    ratio: median(samples.ours) / median(samples.theirs),
    ours_samples_ms: samples.ours,
    theirs_samples_ms: samples.theirs,
    ours_ready_ms: median(ready.ours),
    theirs_ready_ms: median(ready.theirs),
  };
}

/** Both servers up, answers checked, then each mix in alternating bounded runs. */
async function loadMixes(dirs, env, { valid, mint, junk }, plan) {
  const servers = {};
  try {
    for (const name of ["ours", "theirs"]) servers[name] = await startServer(dirs[name], env);
    const checks = {};
    for (const name of ["ours", "theirs"]) {
      checks[name] = await checkAnswers(name, servers[name].url, valid);
      await load(servers[name].url, { nextToken: () => valid, amount: plan.warmup });
    }
    log(`answers: ${JSON.stringify(checks)}`);

    // Minted now, after the builds and starts: valid from now until well after the run.
    const freshBatches = Array.from({ length: plan.rounds }, () => Array.from({ length: plan.freshRequests }, mint));
    const mixes = {
      repeated: () => ({ nextToken: () => valid, seconds: plan.seconds }),
      fresh: (round) => {
        // Both sides get the round's batch, each token once (amount): new to either server,
        // whose caches are its own.
        const tokens = freshBatches[round];
        let i = 0;
        return { nextToken: () => tokens[i++ % tokens.length], amount: tokens.length };
      },
      junk: () => {
        let i = 0;
        return { nextToken: () => junk[i++ % junk.length], seconds: plan.seconds };
      },
    };
    const results = {};
    for (const [mix, runPlan] of Object.entries(mixes)) {
      const runs = { ours: [], theirs: [] };
      for (let round = 0; round < plan.rounds; round++) {
        for (const name of order(round)) {
          const run = summary(await load(servers[name].url, runPlan(round)));
          assertClass(name, mix, run);
          runs[name].push(run);
          log(`${mix} ${name}: ${run.rps.toFixed(0)} req/s, p50 ${run.p50_ms} ms, p99 ${run.p99_ms} ms ${JSON.stringify(run.statuses)}`);
        }
      }
      results[mix] = { ours: merge(runs.ours), theirs: merge(runs.theirs) };
      results[mix].rps_ratio = results[mix].ours.rps / results[mix].theirs.rps;
    }
    for (const [name, server] of Object.entries(servers)) {
      if (server.blocked() > 0) throw new Error(`${name}: ${server.blocked()} connections off loopback:\n${server.tail()}`);
    }
    return { checks, results };
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}

async function main() {
  const { values: args } = parseArgs({
    options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
  });
  // Seconds per timed run (repeated, junk); requests per fresh run (each token sent once per
  // side); rounds per side and mix; warm-up requests per side (enough for Next's own code to
  // be compiled: a first full run with 500 was slower than the next one on both sides);
  // fresh starts per side.
  const plan = args.smoke
    ? { seconds: 2, freshRequests: 200, rounds: 1, warmup: 100, starts: 1 }
    : { seconds: 10, freshRequests: 2000, rounds: 4, warmup: 2000, starts: 7 };
  const started = performance.now();
  const loadAtStart = loadavg();

  const dirs = {};
  const builds = {};
  for (const name of ["ours", "theirs"]) {
    const t = performance.now();
    const { dir, built } = await ensureBuilt(name);
    dirs[name] = dir;
    builds[name] = { built, seconds: (performance.now() - t) / 1000 };
    log(`${name}: ${built ? "installed and built" : "build reused"} in ${builds[name].seconds.toFixed(0)} s`);
  }
  const bundle = { ours: middlewareBundle(dirs.ours), theirs: middlewareBundle(dirs.theirs) };
  bundle.ratio = bundle.ours.gzip_bytes / bundle.theirs.gzip_bytes;

  // Clerk-shaped v2 session tokens valid from now for 15 minutes (longer than any run); fresh
  // ones share user and session, a `jti` tells them apart.
  const nowS = Math.floor(Date.now() / 1000);
  const { jwtKey, mint } = tokenMinter((serial) => ({
    azp: AUTHORIZED_PARTY, exp: nowS + 900, fva: [0, -1], iat: nowS - 5, iss: "https://clerk.example.com",
    jti: `bench${serial}`, nbf: nowS - 10, sid: "sess_2bench", sub: SUBJECT, v: 2,
  }));
  const valid = mint();
  const [h, p] = valid.split(".");
  const junk = [
    "not-a-jwt", "a.b", "a.b.c", `${h}.${p}`, `${valid}.extra`, `${b64json("x")}.${p}.c2ln`,
    `${b64json({ alg: "none", typ: "JWT" })}.${p}.`, `${b64json({ alg: "HS256", typ: "JWT" })}.${p}.c2ln`,
    "%%%.***.!!!", "eyJ.eyJ.eyJ",
  ];
  // The same settings for both sides; ours reads CLERK_* itself, theirs through the options
  // bench/nextjs/middleware.ts passes.
  const env = serverEnvironment({
    CLERK_JWT_KEY: jwtKey,
    CLERK_PUBLISHABLE_KEY: PUBLISHABLE_KEY,
    CLERK_SECRET_KEY: SECRET_KEY,
    CLERK_AUTHORIZED_PARTIES: AUTHORIZED_PARTY,
  });

  await warmClient();
  const first = await firstRequests(dirs, env, valid, plan.starts);
  const { checks, results } = await loadMixes(dirs, env, { valid, mint, junk }, plan);

  const report = {
    part: "nextjs",
    smoke: args.smoke,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg: loadAtStart },
    node: process.versions.node,
    next: installedVersion(dirs.ours, "next"),
    clerk_nextjs: installedVersion(dirs.theirs, "@clerk/nextjs"),
    route: `GET ${ROUTE}`,
    connections: CONNECTIONS,
    plan,
    builds,
    seconds: (performance.now() - started) / 1000,
    bundle,
    first_request: first,
    checks,
    outbound_blocked: 0, // any connection off loopback fails the run before this point
    mixes: results,
  };
  if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(markdownTable(report).join("\n"));
  console.log(JSON.stringify(report));
}

/** The README's table for a result of this benchmark. */
export function markdownTable(result) {
  const kb = (n) => (n / 1024).toFixed(1);
  const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
  const { bundle, first_request: first, mixes } = result;
  const lines = [
    `**Next.js** (\`next build && next start\`, Next ${result.next}, Node ${result.node}; the example app with our middleware vs \`clerkMiddleware\` + \`createRouteMatcher\` + \`auth.protect()\` of \`@clerk/nextjs\` ${result.clerk_nextjs} with \`jwtKey\`; \`${result.route}\` with a bearer token, autocannon ${result.connections} connections, alternating runs)`,
    "",
    "| | ours | @clerk/nextjs | ours/theirs |",
    "| --- | ---: | ---: | ---: |",
    `| middleware bundle, gzip KB (raw KB) | ${kb(bundle.ours.gzip_bytes)} (${kb(bundle.ours.raw_bytes)}) | ${kb(bundle.theirs.gzip_bytes)} (${kb(bundle.theirs.raw_bytes)}) | ${bundle.ratio.toFixed(2)} |`,
    `| first request after start, ms (median of ${first.starts}) | ${ms(first.ours_ms)} | ${ms(first.theirs_ms)} | ${first.ratio.toFixed(2)} |`,
  ];
  const names = { repeated: "one token repeated", fresh: "distinct fresh tokens", junk: "junk tokens" };
  for (const [key, name] of Object.entries(names)) {
    const m = mixes[key];
    lines.push(`| req/s, ${name} | ${m.ours.rps.toFixed(0)} | ${m.theirs.rps.toFixed(0)} | ${m.rps_ratio.toFixed(2)} |`);
    lines.push(`| p50 / p99 ms, ${name} | ${ms(m.ours.p50_ms)} / ${ms(m.ours.p99_ms)} | ${ms(m.theirs.p50_ms)} / ${ms(m.theirs.p99_ms)} | |`);
  }
  return lines;
}

// Run only as a script: bench/report.mjs imports markdownTable from here.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
