#!/usr/bin/env node
// Builds pkg-js/dist from the crate: `npm --prefix pkg-js run build`. Three wasm files:
//   - clerk_edge_guard (feature `js`): the middleware, route handlers and API;
//   - clerk_edge_guard_sync (feature `js-sync`): the user resync and integrity check
//     (resyncUsers, verifySync), compiled at their first call, so the middleware's wasm does
//     not carry the job;
//   - clerk_edge_guard_report (feature `report-cli`): the `clerk-edge-guard report` command's,
//     loaded only by it (and the Node entry's incidentReport), so the middleware's wasm does
//     not carry the report.
// For each:
//   1. cargo build --release --target wasm32-unknown-unknown --no-default-features --features <f> --lib
//   2. wasm-bindgen --target web (one glue for both entries; each entry calls initSync itself)
//   3. patch the glue's `instanceof WebAssembly.Module` check to be realm-independent
//      (Next's edge sandbox hands over a Module from another realm)
//   4. npm binaryen's wasm-opt -Oz (never Debian's: too old for this wasm)
// Needs the toolchain of scripts/install-toolchain.sh: wasm-bindgen on PATH (or
// WASM_BINDGEN_BIN) matching Cargo.lock, and the root `npm install` (binaryen).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const pkgDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(pkgDir);
const dist = join(pkgDir, "dist");
const crateName = "clerk_edge_guard";

function run(cmd, args, opts = {}) {
  console.error(`[pkg-js] ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
}

const cargoTarget = process.env.CARGO_TARGET_DIR ?? join(root, "target");
const wasmOpt = process.env.WASM_OPT_BIN || join(root, "node_modules", "binaryen", "bin", "wasm-opt");
if (!existsSync(wasmOpt)) throw new Error(`[pkg-js] ${wasmOpt} missing: run npm install at the repo root`);
// The features rustc's wasm32 target emits; explicit so newer binaryen encodings never appear.
const wasmFeatures = [
  "mutable-globals", "sign-ext", "nontrapping-float-to-int", "bulk-memory",
  "multivalue", "reference-types",
].map((f) => `--enable-${f}`);
const optArgs = ["-Oz", "--strip-debug", "--strip-producers", ...wasmFeatures];
// npm binaryen's wasm-opt is itself wasm and slow (~15 s here): an unchanged input is
// taken from the cache of the last run instead (target/ is cargo's, never committed).
const cacheDir = join(cargoTarget, "pkg-js-wasm-opt");

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
const kept = new Set();
for (const [feature, name] of [
  ["js", crateName],
  ["js-sync", `${crateName}_sync`],
  ["report-cli", `${crateName}_report`],
]) {
  run("cargo", [
    "build", "--release", "--target", "wasm32-unknown-unknown",
    "--no-default-features", "--features", feature, "--lib",
  ]);
  const rawWasm = join(cargoTarget, "wasm32-unknown-unknown", "release", `${crateName}.wasm`);
  run(process.env.WASM_BINDGEN_BIN || "wasm-bindgen", [
    rawWasm, "--out-dir", dist, "--out-name", name,
    "--target", "web", "--omit-default-module-path", "--no-typescript",
  ]);
  patchGlue(join(dist, `${name}.js`));
  kept.add(optimise(join(dist, `${name}_bg.wasm`)));
}
// Only the current inputs' outputs stay cached.
for (const file of existsSync(cacheDir) ? readdirSync(cacheDir) : []) {
  if (!kept.has(file)) rmSync(join(cacheDir, file), { force: true });
}

/** Realm-independent WebAssembly.Module check (TOOLCHAIN pitfall 6). Fails loudly if a
 * wasm-bindgen upgrade changes the generated code, rather than ship an unpatched glue. */
function patchGlue(gluePath) {
  const glue = readFileSync(gluePath, "utf8");
  const needle = "instanceof WebAssembly.Module";
  const realmFree = (subject) =>
    `(Object.prototype.toString.call(${subject}) === "[object WebAssembly.Module]")`;
  const patched = glue.replace(/([A-Za-z_$][\w$]*) instanceof WebAssembly\.Module/g, (_, subject) =>
    realmFree(subject),
  );
  if (patched === glue || patched.includes(needle)) {
    throw new Error(`[pkg-js] could not patch every '${needle}' in ${gluePath}`);
  }
  writeFileSync(gluePath, patched);
}

/** wasm-opt in place (or the cached output for the same input); answers the cache file name. */
function optimise(wasmPath) {
  const key = createHash("sha256")
    .update(readFileSync(wasmPath))
    .update(JSON.stringify(optArgs))
    .update(readFileSync(join(root, "node_modules", "binaryen", "package.json")))
    .digest("hex");
  const cached = join(cacheDir, `${key}.wasm`);
  if (existsSync(cached)) {
    console.error(`[pkg-js] wasm-opt: unchanged input, reusing ${cached}`);
    copyFileSync(cached, wasmPath);
  } else {
    run(wasmOpt, [wasmPath, ...optArgs, "-o", wasmPath]);
    mkdirSync(cacheDir, { recursive: true });
    copyFileSync(wasmPath, cached);
  }
  const bytes = readFileSync(wasmPath);
  console.error(
    `[pkg-js] ${wasmPath}: ${statSync(wasmPath).size} bytes raw, ${gzipSync(bytes, { level: 9 }).length} bytes gzip`,
  );
  return `${key}.wasm`;
}
