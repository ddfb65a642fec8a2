#!/usr/bin/env node
// Native criterion benchmarks (benches/core.rs): runs `cargo bench --bench core` and collects
// criterion's estimates (mean and median, ns) into one JSON file.
//
//   node bench/native.mjs [--smoke] [--out FILE]     (scripts/bench.sh runs it)
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
});
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const timing = args.smoke
  ? ["--warm-up-time", "0.2", "--measurement-time", "0.5", "--sample-size", "10"]
  : ["--warm-up-time", "1", "--measurement-time", "3"];

// Criterion writes its estimates under CRITERION_HOME: a fresh directory per run.
const home = mkdtempSync(join(tmpdir(), "ceg-criterion-"));
try {
  execFileSync("cargo", ["bench", "--bench", "core", "--", "--noplot", ...timing], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, CRITERION_HOME: home },
  });
  const benches = {};
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (!entry.isDirectory()) continue;
      const estimates = join(path, "new", "estimates.json");
      if (existsSync(estimates) && existsSync(join(path, "new", "benchmark.json"))) {
        const { full_id: id } = JSON.parse(readFileSync(join(path, "new", "benchmark.json"), "utf8"));
        const e = JSON.parse(readFileSync(estimates, "utf8"));
        benches[id ?? relative(home, path)] = { mean_ns: e.mean.point_estimate, median_ns: e.median.point_estimate };
      } else {
        walk(path);
      }
    }
  };
  walk(home);
  const junk = Object.entries(benches).filter(([id]) => id.startsWith("token/junk/"));
  const report = {
    part: "native",
    smoke: args.smoke,
    benches,
    junk_worst_median_ns: Math.max(...junk.map(([, b]) => b.median_ns)),
  };
  if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  const us = (ns) => (ns / 1000).toFixed(ns < 10_000 ? 2 : 1);
  console.log("| native (criterion) | median µs | mean µs |");
  console.log("| --- | ---: | ---: |");
  for (const [id, b] of Object.entries(benches).sort()) console.log(`| ${id} | ${us(b.median_ns)} | ${us(b.mean_ns)} |`);
  console.log(JSON.stringify(report));
} finally {
  rmSync(home, { recursive: true, force: true });
}
