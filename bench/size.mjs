#!/usr/bin/env node
// Sizes of what ships: the Worker's wasm and JS glue (build/, from scripts/build-worker.sh)
// and the npm package's wasm and glue (pkg-js/dist/, from `npm --prefix pkg-js run build`),
// raw and gzip -9 (what Cloudflare's script size limit and a download actually see).
//
//   node bench/size.mjs [--out FILE]     (scripts/bench.sh runs it)
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";

const { values: args } = parseArgs({ options: { out: { type: "string" }, smoke: { type: "boolean" } } });
const root = dirname(dirname(fileURLToPath(import.meta.url)));

const artifacts = {
  worker_wasm: "build/index_bg.wasm",
  worker_js: "build/index.js",
  pkg_wasm: "pkg-js/dist/clerk_edge_guard_bg.wasm",
  pkg_js: "pkg-js/dist/clerk_edge_guard.js",
};
const files = {};
for (const [name, path] of Object.entries(artifacts)) {
  const full = join(root, path);
  if (!existsSync(full)) throw new Error(`${path} is missing: build first (scripts/bench.sh does)`);
  const bytes = readFileSync(full);
  files[name] = { path, bytes: statSync(full).size, gzip_bytes: gzipSync(bytes, { level: 9 }).length };
}
const report = { part: "size", files };
if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);

const kb = (n) => (n / 1024).toFixed(1);
console.log("| artifact | raw KB | gzip KB |");
console.log("| --- | ---: | ---: |");
for (const f of Object.values(files)) console.log(`| ${f.path} | ${kb(f.bytes)} | ${kb(f.gzip_bytes)} |`);
console.log(JSON.stringify(report));
