// The npm package (pkg-js) loads in Node as ESM, ready with no init call, and its edge entry
// works with a pre-compiled WebAssembly.Module from another realm (Next's edge sandbox).
// Needs `npm --prefix pkg-js run build` first (scripts/test.sh does it).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

import * as guard from "../../pkg-js/index.js";

const pkgJson = JSON.parse(readFileSync(new URL("../../pkg-js/package.json", import.meta.url), "utf8"));
const wasmUrl = new URL("../../pkg-js/dist/clerk_edge_guard_bg.wasm", import.meta.url);

test("the Node entry is ready once imported and reports the crate version", () => {
  assert.equal(typeof guard.version, "function");
  assert.equal(guard.version(), pkgJson.version);
});

test("the Node entry exports every function that index.d.ts declares", () => {
  const dts = readFileSync(new URL("../../pkg-js/index.d.ts", import.meta.url), "utf8");
  // Overloads declare a name more than once.
  const declared = [...new Set([...dts.matchAll(/^export function (\w+)/gm)].map((m) => m[1]))].sort();
  assert.deepEqual(declared, [
    "clerkEdgeMiddleware",
    "createDiagnoseHandler",
    "createRestoreHandler",
    "createRevokeHandler",
    "createRouteMatcher",
    "createWebhookHandler",
    "incidentReport",
    "memoryStore",
    "openIncidentReport",
    "resyncUsers",
    "upstashStore",
    "verifyIdentityHeaders",
    "verifySessionToken",
    "verifySync",
    "verifyWebhook",
    "version",
  ]);
  for (const name of declared) assert.equal(typeof guard[name], "function", name);
  // Classes: a name for instanceof checks.
  const classes = [...dts.matchAll(/^export class (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(classes, ["IdentityHeadersError", "SyncError"]);
  for (const name of classes) assert.equal(typeof guard[name], "function", name);
});

test("the glue accepts a WebAssembly.Module compiled in another realm", async () => {
  // A fresh glue instance (query string = new module record), as edge.js would use it.
  const glue = await import(`../../pkg-js/dist/clerk_edge_guard.js?realm-test`);
  const foreignModule = vm.runInNewContext("new WebAssembly.Module(bytes)", {
    bytes: new Uint8Array(readFileSync(wasmUrl)),
  });
  assert.equal(foreignModule instanceof WebAssembly.Module, false, "really from another realm");
  glue.initSync({ module: foreignModule });
  assert.equal(glue.version(), pkgJson.version);
});

test("package.json routes edge runtimes to the edge entry and Node to index.js", () => {
  const root = pkgJson.exports["."];
  assert.equal(pkgJson.type, "module");
  for (const condition of ["edge-light", "workerd", "worker"]) assert.equal(root[condition], "./edge.js");
  assert.equal(root.node, "./index.js");
  assert.equal(root.default, "./index.js");
  assert.ok(Object.keys(root).indexOf("edge-light") < Object.keys(root).indexOf("node"));
  for (const entry of ["./index.js", "./edge.js"]) assert.ok(pkgJson.sideEffects.includes(entry));
  const edge = readFileSync(new URL("../../pkg-js/edge.js", import.meta.url), "utf8");
  assert.match(edge, /from "\.\/dist\/clerk_edge_guard_bg\.wasm\?module"/);
});
