#!/usr/bin/env node
// Sizes of what ships: the Worker's wasm and JS glue (build/, from scripts/build-worker.sh)
// and the npm package's wasm and glue (pkg-js/dist/, from `npm --prefix pkg-js run build`),
// raw and gzip -9 (what Cloudflare's script size limit and a download actually see), and the
// package's cold import time in Node.
//
//   node bench/size.mjs [--out FILE]     (scripts/bench.sh runs it)
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const { values: args } = parseArgs({ options: { out: { type: "string" }, smoke: { type: "boolean" } } });
const root = dirname(dirname(fileURLToPath(import.meta.url)));

const artifacts = {
  worker_wasm: "build/index_bg.wasm",
  worker_js: "build/index.js",
  pkg_wasm: "pkg-js/dist/clerk_edge_guard_bg.wasm",
  pkg_js: "pkg-js/dist/clerk_edge_guard.js",
  // Loaded only by resyncUsers/verifySync, and the report command (not by the middleware).
  pkg_sync_wasm: "pkg-js/dist/clerk_edge_guard_sync_bg.wasm",
  pkg_report_wasm: "pkg-js/dist/clerk_edge_guard_report_bg.wasm",
};
const files = {};
for (const [name, path] of Object.entries(artifacts)) {
  const full = join(root, path);
  if (!existsSync(full)) throw new Error(`${path} is missing: build first (scripts/bench.sh does)`);
  const bytes = readFileSync(full);
  files[name] = { path, bytes: statSync(full).size, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
}
// Cold import of the npm package in Node: a fresh process each time (nothing cached), timed
// inside it from just before `import()` to the package being ready (wasm compiled and
// instantiated: it is ready once imported), so Node's own start-up is not counted.
const importRuns = args.smoke ? 3 : 15;
const pkgUrl = pathToFileURL(join(root, "pkg-js", "index.js")).href;
const probe = `const t = performance.now(); const m = await import(${JSON.stringify(pkgUrl)}); ` +
  `if (typeof m.verifySessionToken !== "function") throw new Error("not loaded"); ` +
  `console.log(performance.now() - t);`;
const importMs = [];
for (let i = 0; i < importRuns; i++) {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8" });
  importMs.push(Number(out.trim()));
}
importMs.sort((a, b) => a - b);
const coldImport = {
  runs: importRuns,
  median_ms: importMs[Math.floor(importMs.length / 2)],
  min_ms: importMs[0],
  max_ms: importMs.at(-1),
  node: process.version,
};
const report = { part: "size", files, cold_import: coldImport };
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);

const kb = (n) => (n / 1024).toFixed(1);
console.log("| artifact | raw KB | gzip KB |");
console.log("| --- | ---: | ---: |");
for (const f of Object.values(files)) console.log(`| ${f.path} | ${kb(f.bytes)} | ${kb(f.gzip_bytes)} |`);
console.log(`cold import of pkg-js in Node ${coldImport.node}: median ${coldImport.median_ms.toFixed(1)} ms (${coldImport.min_ms.toFixed(1)}-${coldImport.max_ms.toFixed(1)}, ${importRuns} fresh processes)`);
console.log(JSON.stringify(report));
