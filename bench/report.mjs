#!/usr/bin/env node
// The README's Performance table from the latest results (bench/results/*.json, written by
// scripts/bench.sh): the figures, then each target as met or missed.
//
//   node bench/report.mjs [RESULTS_DIR]     (default bench/results)
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { markdownTable as nextjsTable } from "./nextjs.mjs";
import { markdownTable as workerdTable } from "./workerd.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dir = process.argv[2] ?? join(root, "bench", "results");
const read = (part) => {
  const path = join(dir, `${part}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, "utf8")) : undefined;
};
const v8 = read("v8");
const native = read("native");
const runtime = read("runtime");
const size = read("size");
const cookiePath = read("cookie-path");
const incident = read("incident-report");
const workerd = read("workerd");
const nextjs = read("nextjs");

const mixes = [
  ["repeated", "one token repeated"],
  ["fresh", "distinct fresh tokens"],
  ["junk", "junk tokens"],
];
const us = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const kb = (n) => (n / 1024).toFixed(1);
const lines = [];

if (v8) {
  lines.push(`**V8** (Node ${v8.node}, pkg-js \`verifySessionToken\` vs \`@clerk/backend\` ${v8.clerk_backend} \`verifyToken\` with \`jwtKey\`, alternating batches in one process)`);
  lines.push("");
  lines.push("| mix | ours µs/verification | @clerk/backend µs | ours/theirs |");
  lines.push("| --- | ---: | ---: | ---: |");
  for (const [key, name] of mixes) {
    const m = v8.mixes[key];
    lines.push(`| ${name} | ${us(m.ours_us)} | ${us(m.theirs_us)} | ${m.ratio.toFixed(2)} |`);
  }
  lines.push("");
}
if (cookiePath) {
  lines.push(`**Cookie path, V8** (Node ${cookiePath.node}, pkg-js \`clerkEdgeMiddleware\` vs \`@clerk/backend\` ${cookiePath.clerk_backend} \`authenticateRequest\`, what \`@clerk/nextjs\` runs per request; a GET document with a publishable key, alternating batches)`);
  lines.push("");
  lines.push("| cookies | answer | ours µs/request | @clerk/backend µs | ours/theirs |");
  lines.push("| --- | --- | ---: | ---: | ---: |");
  for (const [name, m] of Object.entries(cookiePath.mixes)) {
    lines.push(`| ${name} | ${m.outcome} | ${us(m.ours_us)} | ${us(m.theirs_us)} | ${m.ratio.toFixed(2)} |`);
  }
  lines.push("");
}
if (runtime) {
  lines.push(`**workerd** (\`wrangler dev --local\`, loopback, autocannon ${runtime.connections} connections; the Worker vs a JS Worker with \`@clerk/backend\`, same origin)`);
  lines.push("");
  lines.push("| mix | ours req/s | ours p50 / p99 ms | @clerk/backend req/s | @clerk/backend p50 / p99 ms | req/s ours/theirs |");
  lines.push("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const [key, name] of mixes) {
    const m = runtime.mixes[key];
    const lat = (w) => `${w.p50_ms.toFixed(1)} / ${w.p99_ms.toFixed(1)}`;
    lines.push(`| ${name} | ${m.guard.rps.toFixed(0)} | ${lat(m.guard)} | ${m.clerk.rps.toFixed(0)} | ${lat(m.clerk)} | ${m.rps_ratio.toFixed(2)} |`);
  }
  lines.push("");
}
if (workerd) lines.push(...workerdTable(workerd), "");
if (nextjs) lines.push(...nextjsTable(nextjs), "");
if (native) {
  lines.push("**Native** (criterion, `cargo bench --bench core`)");
  lines.push("");
  lines.push("| benchmark | median µs |");
  lines.push("| --- | ---: |");
  for (const [id, b] of Object.entries(native.benches).sort()) lines.push(`| ${id} | ${us(b.median_ns / 1000)} |`);
  lines.push("");
}
if (size) {
  lines.push("**Size**");
  lines.push("");
  lines.push("| artifact | raw KB | gzip KB |");
  lines.push("| --- | ---: | ---: |");
  for (const f of Object.values(size.files)) lines.push(`| \`${f.path}\` | ${kb(f.bytes)} | ${kb(f.gzip_bytes)} |`);
  lines.push("");
  const cold = size.cold_import;
  if (cold) {
    lines.push(
      `Cold import of pkg-js in Node ${cold.node} (a fresh process each time, import() until ready): median ${cold.median_ms.toFixed(1)} ms, ${cold.min_ms.toFixed(1)}-${cold.max_ms.toFixed(1)} ms over ${cold.runs} runs.`,
    );
    lines.push("");
  }
}

const targets = [];
const target = (name, value, limit, unit, met) => {
  const withUnit = (x) => (unit ? `${x} ${unit}` : `${x}`);
  targets.push(`| ${name} | ${withUnit(value)} | ${withUnit(limit)} | ${met ? "met" : "missed"} |`);
};
// Issue 15's targets (performance round 2); README, Performance.
if (v8) {
  target("V8 ratio, one token repeated", v8.mixes.repeated.ratio.toFixed(2), "<= 0.05", "", v8.mixes.repeated.ratio <= 0.05);
  target("V8 ratio, fresh tokens", v8.mixes.fresh.ratio.toFixed(2), "<= 0.5", "", v8.mixes.fresh.ratio <= 0.5);
  target("V8 ratio, junk tokens", v8.mixes.junk.ratio.toFixed(2), "<= 0.2", "", v8.mixes.junk.ratio <= 0.2);
}
if (native) {
  const worst = native.junk_worst_median_ns / 1000;
  target("junk-token decision, native (worst kind)", us(worst), "< 20", "µs", worst < 20);
  const cookiePathUs = native.benches["cookie_path/signed_in"]?.median_ns / 1000;
  if (cookiePathUs !== undefined) {
    target("cookie-path decision, native (signed in)", us(cookiePathUs), "< 20", "µs", cookiePathUs < 20);
  }
}
if (cookiePath) {
  for (const [name, m] of Object.entries(cookiePath.mixes)) {
    target(`cookie path V8 ratio vs authenticateRequest, ${name}`, m.ratio.toFixed(2), "<= 1.0", "", m.ratio <= 1.0);
  }
}
if (size) {
  const worker = size.files.worker_wasm.gzip_bytes;
  const pkg = size.files.pkg_wasm.gzip_bytes;
  target("Worker wasm, gzip", kb(worker), "<= 150", "KB", worker <= 150 * 1024);
  target("pkg-js wasm, gzip", kb(pkg), "<= 120", "KB", pkg <= 120 * 1024);
}
if (nextjs) {
  const ratio = nextjs.bundle.ratio;
  target("Next.js middleware bundle, ours/@clerk/nextjs (gzip)", ratio.toFixed(2), "<= 1.0", "", ratio <= 1.0);
}
if (targets.length) {
  lines.push("| target | measured | goal | |");
  lines.push("| --- | ---: | ---: | --- |");
  lines.push(...targets);
}
const machine = v8?.machine ?? runtime?.machine ?? workerd?.machine;
if (machine) {
  lines.push("");
  lines.push(
    `Measured on ${machine.cpus} × ${machine.cpu_model}, load average ${machine.loadavg.map((l) => l.toFixed(1)).join(" / ")} at the start of the V8 part; ratios come from alternating batches and are steadier than absolute figures. Runtime figures include \`wrangler dev\`'s own overhead.`,
  );
}
if (incident) {
  lines.push("");
  lines.push(`**Post-incident report** (Node ${incident.node}, the generated ${incident.lines.toLocaleString("en")}-line incident log, ${(incident.bytes / 1024 / 1024).toFixed(1)} MB, medians)`);
  lines.push("");
  lines.push("| how | ms per 100,000 lines | lines/s |");
  lines.push("| --- | ---: | ---: |");
  lines.push(`| \`incidentReport\` in process | ${incident.api.ms_per_100k_lines.toFixed(0)} | ${incident.api.lines_per_second.toLocaleString("en")} |`);
  lines.push(`| \`clerk-edge-guard report --json\`, new process | ${incident.cli.ms_per_100k_lines.toFixed(0)} | ${incident.cli.lines_per_second.toLocaleString("en")} |`);
  lines.push("");
}
console.log(lines.join("\n"));
