#!/usr/bin/env node
// V8 side by side: pkg-js `verifySessionToken` against `@clerk/backend`'s `verifyToken`
// (networkless: `jwtKey`), same key, same tokens, same clock (Date.now pinned), in one process.
// Batches alternate between the two (and which goes first), so machine load hits both alike;
// the ratio ours/theirs is the figure to trust, microseconds are indicative.
//
// Mixes: one token repeated (what a browser session sends), many distinct fresh tokens (every
// one a cache miss for us), and junk (malformed, bad alg, garbage).
//
//   node bench/v8.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
//   BENCH_PKG_JS=/abs/path/to/other/pkg-js/index.js node bench/v8.mjs   (compare a build)
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import { verifyToken } from "@clerk/backend";
import { b64json, tokenMinter } from "./tokens.mjs";

// BENCH_PKG_JS: another build of the package to compare (a path to its index.js).
const pkgJs = process.env.BENCH_PKG_JS ? new URL(`file://${process.env.BENCH_PKG_JS}`) : "../pkg-js/index.js";
const { verifySessionToken } = await import(pkgJs);

const { values: args } = parseArgs({
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});

const NOW_S = 1_760_000_000;
const NOW_MS = NOW_S * 1000 + 417;
// calls per batch and batches per side, per mix
const PLAN = args.smoke
  ? { repeated: [50, 3], fresh: [20, 3], junk: [50, 3] }
  : { repeated: [500, 20], fresh: [100, 20], junk: [500, 20] };

Date.now = () => NOW_MS; // both sides read the clock through Date.now

/** Clerk-shaped v2 session tokens, valid at NOW_MS, one user and session each. */
const { jwtKey, mint } = tokenMinter((serial) => ({
  azp: "https://app.example.com", exp: NOW_S + 60, fva: [0, -1], iat: NOW_S - 10,
  iss: "https://clerk.example.com", nbf: NOW_S - 20, sid: `sess_${serial}`,
  sub: `user_2bench${serial}`, v: 2, o: { id: "org_2bench", rol: "admin", slg: "acme" },
}));

function junkTokens() {
  const valid = mint();
  const [h, p] = valid.split(".");
  const withAlg = (alg) => `${b64json({ alg, typ: "JWT" })}.${p}.c2lnbmF0dXJl`;
  return [
    "", "null", "not-a-jwt", "a.b", "a.b.c", `${h}.${p}`, `${valid}.extra`,
    `${b64json("not json")}.${p}.c2ln`, `${h}.${Buffer.from("{").toString("base64url")}.c2ln`,
    withAlg("none"), withAlg("HS256"), withAlg("ES256"), withAlg(""),
    "%%%.***.!!!", "eyJ.eyJ.eyJ", `Bearer ${valid}`,
  ];
}

const ours = async (token) => (await verifySessionToken(token, { jwtKey })).status;
const theirs = async (token) => {
  try {
    await verifyToken(token, { jwtKey });
    return "signed-in";
  } catch {
    return "signed-out";
  }
};

async function timed(verify, tokens) {
  const start = performance.now();
  for (const token of tokens) await verify(token);
  return performance.now() - start;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Alternating batches; `batchTokens(i)` gives batch i's tokens (the same for both sides). */
async function sideBySide(name, batchTokens, rounds) {
  // Same answers first: a fast wrong verifier is no result.
  for (const token of new Set(batchTokens(-1).slice(0, 20))) {
    const [a, b] = [await ours(token), await theirs(token)];
    if (a !== b) throw new Error(`${name}: ours says ${a}, @clerk/backend says ${b} for ${token.slice(0, 40)}`);
  }
  await timed(ours, batchTokens(-1)); // warm-up, untimed (JIT, key import)
  await timed(theirs, batchTokens(-1));
  let oursMs = 0;
  let theirsMs = 0;
  let calls = 0;
  const roundRatios = [];
  for (let round = 0; round < rounds; round++) {
    const tokens = batchTokens(round);
    let a;
    let b;
    if (round % 2 === 0) {
      a = await timed(ours, tokens);
      b = await timed(theirs, tokens);
    } else {
      b = await timed(theirs, tokens);
      a = await timed(ours, tokens);
    }
    oursMs += a;
    theirsMs += b;
    calls += tokens.length;
    roundRatios.push(a / b);
  }
  const result = {
    calls_per_side: calls,
    ours_us: (oursMs * 1000) / calls,
    theirs_us: (theirsMs * 1000) / calls,
    ratio: oursMs / theirsMs,
    median_round_ratio: median(roundRatios),
  };
  console.error(`[v8] ${name}: ours ${result.ours_us.toFixed(1)} µs, @clerk/backend ${result.theirs_us.toFixed(1)} µs, ratio ${result.ratio.toFixed(3)}`);
  return result;
}

const started = performance.now();
const loadAtStart = loadavg();
const mixes = {};

{
  const [size, rounds] = PLAN.repeated;
  const token = mint();
  const batch = Array(size).fill(token);
  mixes.repeated = await sideBySide("one token repeated", () => batch, rounds);
}
{
  const [size, rounds] = PLAN.fresh;
  // Every token is seen once by each side (never a cache hit for us): warm-up batch + rounds.
  const mintStart = performance.now();
  const batches = Array.from({ length: rounds + 1 }, () => Array.from({ length: size }, mint));
  console.error(`[v8] minted ${(rounds + 1) * size} fresh tokens in ${((performance.now() - mintStart) / 1000).toFixed(1)} s`);
  mixes.fresh = await sideBySide("distinct fresh tokens", (i) => batches[i + 1], rounds);
}
{
  const [size, rounds] = PLAN.junk;
  const junk = junkTokens();
  const batch = Array.from({ length: size }, (_, i) => junk[i % junk.length]);
  mixes.junk = await sideBySide("junk tokens", () => batch, rounds);
}

const report = {
  part: "v8",
  smoke: args.smoke,
  machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? "unknown", loadavg: loadAtStart },
  node: process.version,
  clerk_backend: (await import("@clerk/backend/package.json", { with: { type: "json" } })).default.version,
  seconds: (performance.now() - started) / 1000,
  mixes,
};
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);

const row = (name, m) =>
  `| ${name} | ${m.ours_us.toFixed(1)} | ${m.theirs_us.toFixed(1)} | ${m.ratio.toFixed(2)} |`;
console.log("| V8 (Node " + process.version + ") | ours µs | @clerk/backend µs | ours/theirs |");
console.log("| --- | ---: | ---: | ---: |");
console.log(row("one token repeated", mixes.repeated));
console.log(row("distinct fresh tokens", mixes.fresh));
console.log(row("junk tokens", mixes.junk));
console.log(JSON.stringify(report));
