// A panic should never happen (no unwrap on a request path), but if one does, the on-call
// engineer must read its message and location in the Worker's log, the request must not
// reach the origin, and the Worker must go on answering. Shown with the TEST-ONLY build of
// scripts/build-panic-probes.sh (crate feature `panic-probe`: a deliberate panic at
// /__clerk/test/panic); the production build in build/ has no such route.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { repoRoot, startOrigin, startWorker } from "./support/index.mjs";

const probeBuild = join(repoRoot, process.env.CARGO_TARGET_DIR ?? "target", "panic-probe", "worker");
const PROBE_ROUTE = "/__clerk/test/panic";
const PROBE_MESSAGE = "panic probe: a deliberate panic of the test-only build";

let worker;
let origin;

before(async () => {
  if (!existsSync(join(probeBuild, "index.js"))) {
    throw new Error(`${probeBuild} is missing: run scripts/build-panic-probes.sh (scripts/test.sh does)`);
  }
  origin = await startOrigin();
  worker = await startWorker({
    main: join(probeBuild, "index.js"),
    vars: {
      ORIGIN_URL: origin.url,
      CLERK_JWT_KEY: readFileSync(join(repoRoot, "demo", "demo-public-key.pem"), "utf8"),
    },
  });
});

after(async () => {
  await worker?.stop();
  await origin?.close();
});

test("a panic reaches the Worker's log with its message and location; nothing is forwarded; the next request is answered", async () => {
  const healthy = await worker.fetch("/__clerk/health");
  assert.equal(healthy.status, 200);
  await healthy.arrayBuffer();

  const panicked = await worker.fetch(PROBE_ROUTE);
  const body = await panicked.text();
  assert.equal(panicked.status, 500, body.slice(0, 200));
  assert.equal(origin.requests.length, 0, "the panicked request was not forwarded");

  // workers-rs's hook: `Rust panic: panicked at <file>:<line>:<col>:` then the message.
  const located = await worker.waitForLine(/Rust panic: panicked at src\/worker\/mod\.rs:\d+:\d+/);
  assert.ok(located, worker.output());
  await worker.waitForLine((line) => line.includes(PROBE_MESSAGE));
  // The abort's own `RuntimeError: unreachable` may follow; the message comes first.
  const texts = worker.lines.map((l) => l.text);
  const messageAt = texts.findIndex((t) => t.includes(PROBE_MESSAGE));
  const trapAt = texts.findIndex((t) => /RuntimeError: unreachable/.test(t));
  assert.ok(trapAt === -1 || messageAt < trapAt, `the message is logged before the trap:\n${worker.output()}`);

  // The module is instantiated again: the Worker answers, and still fails closed.
  const after = await worker.fetch("/__clerk/health");
  assert.equal(after.status, 200);
  await after.arrayBuffer();
  const refused = await worker.fetch("/private");
  assert.equal(refused.status, 401);
  await refused.arrayBuffer();
  assert.equal(origin.requests.length, 0);
});

test("the production builds have no panic probe", () => {
  for (const file of ["build/index.js", "build/index_bg.wasm", "pkg-js/dist/clerk_edge_guard.js", "pkg-js/dist/clerk_edge_guard_bg.wasm"]) {
    const bytes = readFileSync(join(repoRoot, file)).toString("latin1");
    for (const trace of [PROBE_ROUTE, "panic probe", "panicProbe"]) {
      assert.ok(!bytes.includes(trace), `${file} contains '${trace}'`);
    }
  }
});
