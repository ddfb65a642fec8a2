// The npm package's wasm prints a panic's message and location through console.error (the
// Next.js server log) before it aborts, instead of a bare `RuntimeError: unreachable`.
// Shown with the TEST-ONLY build of scripts/build-panic-probes.sh (crate feature
// `panic-probe`: the export panicProbe), which installs the hook exactly as the package's
// wasm does: when the module is instantiated.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const probeDir = join(root, process.env.CARGO_TARGET_DIR ?? "target", "panic-probe", "pkg-js");

test("a panic in pkg-js's wasm reaches console.error with its message and location", async () => {
  const glue = join(probeDir, "clerk_edge_guard.js");
  assert.ok(existsSync(glue), `${probeDir} is missing: run scripts/build-panic-probes.sh (scripts/test.sh does)`);
  const probe = await import(pathToFileURL(glue).href);
  const logged = [];
  const original = console.error;
  console.error = (...args) => logged.push(args.map(String).join(" "));
  try {
    probe.initSync({ module: readFileSync(join(probeDir, "clerk_edge_guard_bg.wasm")) });
    assert.deepEqual(logged, [], "instantiating logs nothing");
    assert.throws(() => probe.panicProbe("probe: the session cache is inconsistent"), WebAssembly.RuntimeError);
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 1, `one log entry: ${JSON.stringify(logged)}`);
  assert.match(logged[0], /panicked at src\/js_panic\.rs:\d+:\d+/);
  assert.match(logged[0], /probe: the session cache is inconsistent/);
});

test("the package's wasm carries the hook: a panic would be formatted, not only trapped", () => {
  // What console_error_panic_hook prints comes from core's PanicInfo formatting; a wasm
  // without the hook (or with `panic = "abort"` and no hook) has no use for it.
  const wasm = readFileSync(join(root, "pkg-js", "dist", "clerk_edge_guard_bg.wasm")).toString("latin1");
  assert.ok(wasm.includes("panicked at"), "pkg-js/dist wasm formats panics");
});
