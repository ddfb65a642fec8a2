#!/usr/bin/env node
// V8 side by side on Clerk's cookie path (the handshake decision): the pkg-js middleware
// `clerkEdgeMiddleware` against `@clerk/backend`'s `authenticateRequest` (what
// `@clerk/nextjs`' `clerkMiddleware` runs on every request), same key (`jwtKey`, no network),
// same publishable key, same requests, same clock (Date.now pinned), one process, batches
// alternating (and which goes first). The ratio ours/theirs is the figure to trust.
//
// Ours does more per request than Clerk's: the deny-list look-up (memory store), the
// Next.js forward or refusal `Response`, and the audit line of every refusal (formatted;
// `console.log` is swapped for a counter while timing, so a terminal's speed is not measured).
//
// Mixes, each a browser's cookies on a GET document request:
//   signed-in   a valid `__session` and `__client_uat` (the steady state)
//   handshake   an expired `__session` with `__client_uat` > 0 (a returning visitor: 307)
//   signed-out  no Clerk cookies at all (session-token-and-uat-missing)
//
//   node bench/cookie-path.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { createClerkClient } from "@clerk/backend";
import { tokenMinter } from "./tokens.mjs";

const pkgJs = process.env.BENCH_PKG_JS ? new URL(`file://${process.env.BENCH_PKG_JS}`) : "../pkg-js/index.js";
const { clerkEdgeMiddleware } = await import(pkgJs);

const { values: args } = parseArgs({
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});

const NOW_S = 1_760_000_000;
const NOW_MS = NOW_S * 1000 + 417;
const [BATCH, ROUNDS] = args.smoke ? [50, 3] : [400, 20];
Date.now = () => NOW_MS;

const FAPI = "clerk.example.com";
const publishableKey = `pk_live_${Buffer.from(`${FAPI}$`).toString("base64").replace(/=+$/, "")}`;
const secretKey = "sk_live_bench_cookie_path";
let expiredSerial = false;
const { jwtKey, mint } = tokenMinter((serial) => {
  const iat = expiredSerial ? NOW_S - 600 : NOW_S - 10;
  return {
    azp: "https://app.example.com", exp: iat + 60, fva: [0, -1], iat, iss: `https://${FAPI}`,
    nbf: iat - 10, sid: `sess_${serial}`, sub: `user_2bench${serial}`, v: 2,
  };
});
const valid = mint();
expiredSerial = true;
const expired = mint();

const clerk = createClerkClient({ secretKey, publishableKey, jwtKey });
const middleware = clerkEdgeMiddleware({
  env: { CLERK_JWT_KEY: jwtKey, CLERK_SECRET_KEY: secretKey, CLERK_PUBLISHABLE_KEY: publishableKey },
});

const documentRequest = (cookie) =>
  new Request("https://app.example.com/dashboard?tab=orders", {
    headers: {
      cookie,
      "sec-fetch-dest": "document",
      accept: "text/html,application/xhtml+xml",
      "user-agent": "bench",
    },
  });

const mixes = {
  "signed-in": `__session=${valid}; __client_uat=${NOW_S - 3600}`,
  handshake: `__session=${expired}; __client_uat=${NOW_S - 3600}`,
  "signed-out": "theme=dark",
};

/** Both answers reduced to what the client sees: outcome and reason. */
async function oursOutcome(cookie) {
  const res = await middleware(documentRequest(cookie));
  if (res.headers.get("x-middleware-next")) return "signed-in";
  return `${res.headers.get("x-clerk-auth-status")}/${res.headers.get("x-clerk-auth-reason")}`;
}
async function theirsOutcome(cookie) {
  const state = await clerk.authenticateRequest(documentRequest(cookie));
  return state.status === "signed-in" ? "signed-in" : `${state.status}/${state.reason}`;
}

let linesWritten = 0;
const realLog = console.log;
const timed = async (fn, cookie, n) => {
  console.log = () => {
    linesWritten += 1;
  };
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(cookie);
  const ms = performance.now() - start;
  console.log = realLog;
  return ms;
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const started = performance.now();
const loadAtStart = loadavg();
const results = {};
for (const [name, cookie] of Object.entries(mixes)) {
  // Same answer first: a fast wrong decision is no result.
  console.log = () => {};
  const [a, b] = [await oursOutcome(cookie), await theirsOutcome(cookie)];
  console.log = realLog;
  if (a !== b) throw new Error(`${name}: ours ${a}, @clerk/backend ${b}`);
  await timed(oursOutcome, cookie, BATCH); // warm-up (JIT, key import), untimed
  await timed(theirsOutcome, cookie, BATCH);
  let ours = 0;
  let theirs = 0;
  const ratios = [];
  for (let round = 0; round < ROUNDS; round++) {
    let x;
    let y;
    if (round % 2 === 0) {
      x = await timed(oursOutcome, cookie, BATCH);
      y = await timed(theirsOutcome, cookie, BATCH);
    } else {
      y = await timed(theirsOutcome, cookie, BATCH);
      x = await timed(oursOutcome, cookie, BATCH);
    }
    ours += x;
    theirs += y;
    ratios.push(x / y);
  }
  const calls = BATCH * ROUNDS;
  results[name] = {
    outcome: a,
    calls_per_side: calls,
    ours_us: (ours * 1000) / calls,
    theirs_us: (theirs * 1000) / calls,
    ratio: ours / theirs,
    median_round_ratio: median(ratios),
  };
  const r = results[name];
  console.error(`[cookie-path] ${name} (${a}): ours ${r.ours_us.toFixed(1)} µs, @clerk/backend ${r.theirs_us.toFixed(1)} µs, ratio ${r.ratio.toFixed(3)}`);
}

const report = {
  part: "cookie-path",
  smoke: args.smoke,
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg: loadAtStart },
  node: process.version,
  clerk_backend: (await import("@clerk/backend/package.json", { with: { type: "json" } })).default.version,
  seconds: (performance.now() - started) / 1000,
  audit_lines_formatted: linesWritten,
  mixes: results,
};
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
console.log("| cookie path, V8 (Node " + process.version + ") | outcome | ours µs | @clerk/backend µs | ours/theirs |");
console.log("| --- | --- | ---: | ---: | ---: |");
for (const [name, r] of Object.entries(results)) {
  console.log(`| ${name} | ${r.outcome} | ${r.ours_us.toFixed(1)} | ${r.theirs_us.toFixed(1)} | ${r.ratio.toFixed(2)} |`);
}
console.log(JSON.stringify(report));
