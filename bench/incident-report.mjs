#!/usr/bin/env node
// The post-incident report's speed (not a timed test): the generated 100,000-line incident log
// (tests/support/incident-log.mjs) through the package's `incidentReport` in this process, and
// through `clerk-edge-guard report --json` end to end (a fresh Node process: start-up, wasm
// compile, read, analyse, write). Figures: lines/s and ms per 100,000 lines, medians.
//
//   node bench/incident-report.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { incidentReport } from "../pkg-js/index.js";
import { incidentLog } from "../tests/support/incident-log.mjs";

const { values: args } = parseArgs({ options: { out: { type: "string" }, smoke: { type: "boolean" } } });
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = join(root, "pkg-js", "bin", "clerk-edge-guard.mjs");

const { text, lines } = incidentLog();
const dir = mkdtempSync(join(tmpdir(), "ceg-bench-report-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
const logPath = join(dir, "incident.log");
writeFileSync(logPath, text);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const figures = (ms, runs) => ({ runs, median_ms: ms, lines_per_second: Math.round((lines / ms) * 1000), ms_per_100k_lines: (ms * 100_000) / lines });

// In process: the log as 64 KiB chunks of bytes, as a file stream hands them over.
const bytes = Buffer.from(text);
async function* chunks() {
  for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536);
}
await incidentReport(chunks()); // warm-up
const apiRuns = args.smoke ? 2 : 10;
const apiMs = [];
for (let i = 0; i < apiRuns; i++) {
  const started = performance.now();
  const { json } = await incidentReport(chunks());
  apiMs.push(performance.now() - started);
  if (json.input.lines !== lines) throw new Error(`read ${json.input.lines} lines, expected ${lines}`);
}

const cliRuns = args.smoke ? 1 : 5;
const cliMs = [];
for (let i = 0; i < cliRuns; i++) {
  const started = performance.now();
  const run = spawnSync(process.execPath, [bin, "report", logPath, "--json"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  cliMs.push(performance.now() - started);
  if (run.status !== 0) throw new Error(`clerk-edge-guard report failed: ${run.stderr}`);
}

const report = {
  part: "incident-report",
  node: process.version,
  lines,
  bytes: bytes.length,
  api: figures(median(apiMs), apiRuns),
  cli: figures(median(cliMs), cliRuns),
};
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);

console.log("| post-incident report, 100,000 lines | ms | lines/s |");
console.log("| --- | ---: | ---: |");
console.log(`| incidentReport (in process) | ${report.api.median_ms.toFixed(0)} | ${report.api.lines_per_second.toLocaleString("en")} |`);
console.log(`| clerk-edge-guard report --json (new process) | ${report.cli.median_ms.toFixed(0)} | ${report.cli.lines_per_second.toLocaleString("en")} |`);
console.log(JSON.stringify(report));
