// The measurements of bench/workerd.mjs (see there for what and why). Two phases, each with
// one workerd process per side so each side's CPU time is its own:
//   1. bearer tokens: the built Worker and bench/clerk-backend-worker/worker.mjs, both with
//      CLERK_JWT_KEY and ORIGIN_URL only, as bench/runtime.mjs runs them;
//   2. the handshake: the built Worker and clerk-backend-worker/handshake-worker.mjs, both
//      with the same development publishable key (pk_test_: the return leg comes back in the
//      query and is answered with a redirect, the leg the brief asks for; a production return
//      leg is a cookie and goes on to the origin instead).
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { b64json, tokenMinter } from "../tokens.mjs";
import { spawnGroup } from "../../tests/e2e/support/process-groups.mjs";
import { freePort, repoRoot } from "../../tests/e2e/support/worker.mjs";
import { CONNECTIONS, run, sideBySide } from "./load.mjs";
import { bundle, compatibilityDate, startWorkerd, workerdVersion } from "./serve.mjs";

const clerkWorkerDir = join(repoRoot, "bench", "clerk-backend-worker");

/**
 * Seconds per timed run (repeated, junk), requests per run where each is sent once (fresh,
 * handshake), runs per side, and untimed warm-up requests per Worker and kind (enough for
 * V8 to tier the hot wasm and JS up: its compiler threads count in the process's CPU time).
 * Every run is bounded (load.mjs caps each at 30 s).
 */
const plans = {
  smoke: { seconds: 1, freshRequests: 150, handshakeRequests: 150, rounds: 1, warmup: 50 },
  full: { seconds: 4, freshRequests: 2000, handshakeRequests: 1500, rounds: 4, warmup: 1000 },
};

const BENCH_PATH = "/bench/resource";
// The handshake's instance: a development Frontend API host, its publishable key
// (pk_test_ + base64("<host>$") unpadded, as Clerk's), and the page a browser asks for.
const FAPI_HOST = "bench.clerk.accounts.dev";
const PUBLISHABLE_KEY = `pk_test_${Buffer.from(`${FAPI_HOST}$`).toString("base64").replace(/=+$/, "")}`;
// authenticateRequest refuses to run without a secret key, though networkless it never
// sends it; ours gets the same, so both sides have one configuration.
const SECRET_KEY = "sk_test_bench_networkless_placeholder";
const PAGE = "/dashboard?tab=2";
const DEV_BROWSER = "dvb_bench_workerd";
/** The query names of the redirect to the Frontend API, a development one (handshake.md, 2). */
const HANDSHAKE_QUERY = "redirect_url&__clerk_api_version&suffixed_cookies&__clerk_hs_reason&format&__session&__clerk_db_jwt";
const DOCUMENT_HEADERS = {
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "sec-fetch-dest": "document",
  "sec-fetch-mode": "navigate",
  "sec-fetch-site": "none",
};
/** Ten years, the Max-Age Clerk gives `__client_uat`. */
const CLIENT_UAT_MAX_AGE = 315360000;

// What no log line may hold: a token (any JWT), a cookie or handshake value, a query string.
const SECRET_SHAPES = [/eyJ[\w-]{8,}/, new RegExp(DEV_BROWSER), /__clerk_handshake=/, /__session=/, /tab=2/];

const NOW_S = Math.floor(Date.now() / 1000);
// One key pair for the run; tokenMinter asks for each token's claims, handed over by `sign`.
let nextClaims;
const { jwtKey, mint } = tokenMinter(() => nextClaims);
const sign = (claims) => {
  nextClaims = claims;
  return mint();
};
let serial = 0;
/** Clerk-shaped v2 session claims, distinct by `jti`, issued `age` seconds ago, living `life`. */
const sessionClaims = (iss, age, life) => {
  serial += 1;
  const iat = NOW_S - age;
  return {
    azp: "https://app.example.com", exp: iat + life, iat, iss, jti: `bench${serial}`,
    nbf: iat - 10, sid: "sess_2bench", sub: "user_2bench", v: 2,
  };
};
// Bearer tokens as bench/runtime.mjs mints them: one user and session (so the guard's
// deny-list reads stay cached as for one busy session), an hour to live.
const bearer = () => sign(sessionClaims("https://clerk.example.com", 10, 3600));

/** A returning visitor's cookies: a session that expired 9 minutes ago, `__client_uat` = its iat. */
function expiredCookies() {
  const claims = sessionClaims(`https://${FAPI_HOST}`, 600, 60);
  return `__session=${sign(claims)}; __client_uat=${claims.iat}; __clerk_db_jwt=${DEV_BROWSER}`;
}

/**
 * The redirect leg: a document GET with an expired session → 307 to the Frontend API.
 * The return leg: the same page with `?__clerk_handshake=<jwt>` as the Frontend API sends a
 * development browser back (its directives: a fresh session, `__client_uat`, the nonce
 * cookie's deletion), the browser's old cookies still on → 307 to the page, cookies set.
 * Every request is distinct (fresh tokens), as every browser's handshake is.
 */
function handshakeRequests() {
  const cookie = expiredCookies();
  const session = sessionClaims(`https://${FAPI_HOST}`, 5, 60);
  const directives = [
    `__session=${sign(session)}; Path=/; SameSite=Lax`,
    `__client_uat=${session.iat}; Path=/; SameSite=Lax; Max-Age=${CLIENT_UAT_MAX_AGE}`,
    "__clerk_handshake_nonce=; Path=/; Max-Age=0",
  ];
  const handshake = sign({ handshake: directives });
  return {
    redirect: { path: PAGE, headers: { ...DOCUMENT_HEADERS, cookie } },
    return_leg: { path: `${PAGE}&__clerk_handshake=${handshake}`, headers: { ...DOCUMENT_HEADERS, cookie } },
  };
}

const valid = bearer();
const [h, p] = valid.split(".");
// The junk of bench/runtime.mjs.
const junk = [
  "not-a-jwt", "a.b", "a.b.c", `${h}.${p}`, `${valid}.extra`, `${b64json("x")}.${p}.c2ln`,
  `${b64json({ alg: "none", typ: "JWT" })}.${p}.`, `${b64json({ alg: "HS256", typ: "JWT" })}.${p}.c2ln`,
  "%%%.***.!!!", "eyJ.eyJ.eyJ",
];

/** autocannon's per-request hook: `next()` gives { path, headers } for each request. */
const requestsFrom = (next) => (request) => {
  const { path, headers } = next();
  return { ...request, path, headers: { ...request.headers, ...headers } };
};
const bearerRequest = (token) => ({ path: BENCH_PATH, headers: { authorization: `Bearer ${token}` } });
/** Each item once, in order: never more requests than items (`amount`), so none repeats. */
const once = (items, toRequest) => {
  let i = 0;
  return { setup: requestsFrom(() => toRequest(items[i++ % items.length])), amount: items.length };
};

async function startOrigin() {
  const port = await freePort();
  const { child, stopGroup } = spawnGroup(process.execPath, [join(repoRoot, "demo", "echo-origin.mjs"), String(port)]);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("echo origin: not listening within 10 s")), 10_000);
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (/listening/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { url: `http://127.0.0.1:${port}`, stop: stopGroup };
}

/** GET `path` of `worker`, redirects not followed: { status, headers, body }. */
async function ask(worker, { path, headers }) {
  const res = await fetch(`${worker.url}${path}`, { headers, redirect: "manual" });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** An answer's Location as host, path and query names only: values hold tokens. */
function where(res) {
  const location = res.headers.get("location");
  if (!location) return "(no location)";
  const url = new URL(location);
  return `${url.host}${url.pathname}?${[...url.searchParams.keys()].join("&")}`;
}

const setCookieNames = (headers) => headers.getSetCookie().map((c) => c.slice(0, c.indexOf("="))).sort();

/** Both Workers answer bearer tokens as they must: 200 with the identity at the origin, 401. */
async function checkBearer(workers) {
  for (const [side, worker] of Object.entries(workers)) {
    const ok = await ask(worker, bearerRequest(valid));
    const seen = ok.status === 200 ? JSON.parse(ok.body).headers["x-clerk-user-id"] : undefined;
    const refused = await ask(worker, bearerRequest("a.b.c"));
    if (ok.status !== 200 || seen !== "user_2bench" || refused.status !== 401) {
      throw new Error(`${side}: a valid token got ${ok.status} (origin saw user ${seen}), junk got ${refused.status} (want 200 with user_2bench, 401)`);
    }
  }
}

/**
 * Both Workers answer both handshake legs alike and as Clerk's handshake does: the redirect
 * leg a 307 to the Frontend API with the same reason and the loop counter cookie; the return
 * leg a 307 to the page on the Worker's own host with the session cookies.
 */
async function checkHandshake(workers, sample) {
  for (const [side, worker] of Object.entries(workers)) {
    const redirect = await ask(worker, sample.redirect);
    const back = await ask(worker, sample.return_leg);
    const got = {
      redirect: `${redirect.status} ${where(redirect)} ${redirect.headers.get("x-clerk-auth-reason")} [${setCookieNames(redirect.headers)}]`,
      return_leg: `${back.status} ${where(back)} [${setCookieNames(back.headers)}]`,
    };
    const want = {
      redirect: `307 ${FAPI_HOST}/v1/client/handshake?${HANDSHAKE_QUERY} session-token-expired-refresh-non-eligible-no-refresh-cookie [__clerk_redirect_count]`,
      return_leg: `307 ${new URL(worker.url).host}/dashboard?tab [__clerk_handshake_nonce,__client_uat,__session]`,
    };
    for (const leg of ["redirect", "return_leg"]) {
      if (got[leg] !== want[leg]) throw new Error(`${side}, handshake ${leg}: got ${got[leg]}, want ${want[leg]}`);
    }
  }
}

/**
 * Starts one workerd per side; `onLine` checks every line either prints. Returns
 * { ours, theirs } and `stop()`.
 */
async function startPair({ vars, theirsBundle, date, onLine }) {
  const oursModules = [
    { path: join(repoRoot, "build", "index.js"), name: "index.js", type: "esModule" },
    { path: join(repoRoot, "build", "index_bg.wasm"), name: "index_bg.wasm", type: "wasm" },
  ];
  const theirsModules = [{ path: theirsBundle, name: "worker.js", type: "esModule" }];
  const started = await Promise.allSettled([
    // The guard reads its deny-list on the protected path: KV is the one binding it needs
    // there (D1 and the Durable Object serve webhooks, admin routes and the resync only).
    startWorkerd({ modules: oursModules, vars, kvNamespaces: ["CLERK_EDGE"], date, onLine }),
    startWorkerd({ modules: theirsModules, vars, date, onLine }),
  ]);
  const stop = () => Promise.all(started.map((s) => s.status === "fulfilled" && s.value.stop()));
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { workers: { ours: started[0].value, theirs: started[1].value }, stop };
}

/**
 * Runs the benchmark. `log` gets progress lines (never a token). Returns the report.
 * @param {{ smoke: boolean, log: (line: string) => void }} options
 */
export async function runBenchmark({ smoke, log }) {
  const plan = smoke ? plans.smoke : plans.full;
  const started = performance.now();
  const loadAtStart = loadavg();
  const date = compatibilityDate(join(repoRoot, "wrangler.toml"));
  if (compatibilityDate(join(clerkWorkerDir, "wrangler.toml")) !== date) {
    throw new Error("the two Workers' wrangler.toml name different compatibility dates");
  }
  let logLines = 0;
  let leaks = 0;
  const onLine = (line) => {
    logLines += 1;
    if (SECRET_SHAPES.some((shape) => shape.test(line))) leaks += 1;
  };

  const stops = [];
  const bundleDir = mkdtempSync(join(tmpdir(), "ceg-bench-bundle-"));
  stops.push(() => rmSync(bundleDir, { recursive: true, force: true }));
  try {
    const clerkToml = join(clerkWorkerDir, "wrangler.toml");
    const [bearerBundle, handshakeBundle] = await Promise.all([
      bundle(clerkToml, join(clerkWorkerDir, "worker.mjs"), join(bundleDir, "bearer")),
      bundle(clerkToml, join(clerkWorkerDir, "handshake-worker.mjs"), join(bundleDir, "handshake")),
    ]);

    // Every token before any load, so signing never competes with a measured run.
    const mintStart = performance.now();
    const freshBatches = Array.from({ length: plan.rounds }, () => Array.from({ length: plan.freshRequests }, bearer));
    const handshakeBatches = Array.from({ length: plan.rounds }, () =>
      Array.from({ length: plan.handshakeRequests }, handshakeRequests),
    );
    log(`tokens minted in ${((performance.now() - mintStart) / 1000).toFixed(1)} s`);

    const origin = await startOrigin();
    stops.push(origin.stop);

    // Phase 1: bearer tokens.
    const bearerVars = { CLERK_JWT_KEY: jwtKey, ORIGIN_URL: origin.url };
    const phase1 = await startPair({ vars: bearerVars, theirsBundle: bearerBundle, date, onLine });
    stops.push(phase1.stop);
    await checkBearer(phase1.workers);
    for (const worker of Object.values(phase1.workers)) {
      await run(worker, { setup: requestsFrom(() => bearerRequest(valid)), amount: plan.warmup });
    }
    const mixPlans = {
      repeated: { status: 200, plan: () => ({ setup: requestsFrom(() => bearerRequest(valid)), seconds: plan.seconds }) },
      fresh: { status: 200, plan: (round) => once(freshBatches[round], bearerRequest) },
      junk: {
        status: 401,
        plan: () => {
          let i = 0;
          return { setup: requestsFrom(() => bearerRequest(junk[i++ % junk.length])), seconds: plan.seconds };
        },
      },
    };
    const mixes = {};
    for (const [mix, { status, plan: mixPlan }] of Object.entries(mixPlans)) {
      mixes[mix] = await sideBySide(phase1.workers, { rounds: plan.rounds, status, plan: mixPlan, label: mix, log });
    }
    await phase1.stop();

    // Phase 2: the handshake.
    const handshakeVars = { ...bearerVars, CLERK_PUBLISHABLE_KEY: PUBLISHABLE_KEY, CLERK_SECRET_KEY: SECRET_KEY };
    const phase2 = await startPair({ vars: handshakeVars, theirsBundle: handshakeBundle, date, onLine });
    stops.push(phase2.stop);
    const sample = handshakeRequests();
    await checkHandshake(phase2.workers, sample);
    // Warm-up on the sample's requests, repeated (JIT and key import; untimed).
    for (const worker of Object.values(phase2.workers)) {
      for (const leg of ["redirect", "return_leg"]) {
        await run(worker, { setup: requestsFrom(() => sample[leg]), amount: plan.warmup });
      }
    }
    const handshake = {};
    for (const leg of ["redirect", "return_leg"]) {
      handshake[leg] = await sideBySide(phase2.workers, {
        rounds: plan.rounds,
        status: 307,
        plan: (round) => once(handshakeBatches[round], (requests) => requests[leg]),
        label: `handshake ${leg}`,
        log,
      });
    }
    await phase2.stop();

    if (leaks) throw new Error(`${leaks} of ${logLines} workerd log lines hold a token, a cookie or a query string`);
    return {
      part: "workerd",
      smoke,
      machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg: loadAtStart },
      node: process.version,
      workerd_version: workerdVersion(),
      clerk_backend: (await import("@clerk/backend/package.json", { with: { type: "json" } })).default.version,
      compatibility_date: date,
      connections: CONNECTIONS,
      plan,
      seconds: (performance.now() - started) / 1000,
      log_lines: logLines,
      mixes,
      handshake,
    };
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}
