// The chain works end to end: the Worker built by scripts/build-worker.sh runs in workerd
// under `wrangler dev`, answers its health route, forwards to an origin, and its audit lines
// reach the test through wrangler's output; pkg-js's edge entry loads in workerd too.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { repoRoot, startOrigin, startWorker, startWranglerDev } from "./support/index.mjs";

let worker;
let origin;

before(async () => {
  origin = await startOrigin();
  worker = await startWorker({
    vars: {
      ORIGIN_URL: origin.url,
      CLERK_PUBLIC_PATHS: "/public/*",
      // A multi-line value: the PEM must survive `--var NAME:VALUE`.
      CLERK_JWT_KEY: readFileSync(new URL("../../demo/demo-public-key.pem", import.meta.url), "utf8"),
    },
  });
});

after(async () => {
  await worker?.stop();
  await origin?.close();
});

test("GET /__clerk/health answers 200 JSON", async () => {
  const res = await worker.fetch("/__clerk/health");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = await res.json();
  assert.equal(body.status, "ok", JSON.stringify(body));
  assert.equal(body.key_source, "pem");
});

test("a request with no token is refused and its audit line is captured", async () => {
  const res = await worker.fetch("/private?secret=1");
  assert.equal(res.status, 401);
  await res.arrayBuffer();
  const event = await worker.waitForAudit((e) => e.event === "auth.denied" && e.path === "/private");
  assert.equal(event.reason, "session-token-and-uat-missing");
  assert.equal(origin.requests.length, 0, "nothing forwarded");
});

test("a public path is forwarded to the origin", async () => {
  const res = await worker.fetch("/public/hello", { headers: { "x-clerk-user-id": "spoofed" } });
  assert.equal(res.status, 200);
  const echoed = await res.json();
  assert.equal(echoed.url, "/public/hello");
  assert.equal(echoed.headers["x-clerk-user-id"], undefined, "incoming x-clerk-* headers are stripped");
});

test("pkg-js's edge entry loads in workerd through its package exports", async (t) => {
  // A JS Worker importing the package by name: wrangler's bundler picks the `workerd`
  // condition (edge.js), which imports the wasm with `?module` and calls initSync.
  const dir = mkdtempSync(join(tmpdir(), "ceg-e2e-pkg-js-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(join(repoRoot, "pkg-js"), join(dir, "node_modules", "clerk-edge-guard"), "dir");
  writeFileSync(
    join(dir, "worker.js"),
    'import { version } from "clerk-edge-guard";\n' +
      "export default { fetch: () => Response.json({ version: version() }) };\n",
  );
  const compatibilityDate = readFileSync(join(repoRoot, "wrangler.toml"), "utf8").match(
    /^compatibility_date = "([\d-]+)"/m,
  )[1];
  writeFileSync(
    join(dir, "wrangler.json"),
    JSON.stringify({ name: "pkg-js-edge", main: "worker.js", compatibility_date: compatibilityDate }),
  );
  const edgeWorker = await startWranglerDev({ configPath: join(dir, "wrangler.json") });
  t.after(() => edgeWorker.stop());

  const res = await edgeWorker.fetch("/");
  assert.equal(res.status, 200, edgeWorker.output());
  const { version } = JSON.parse(readFileSync(join(repoRoot, "pkg-js", "package.json"), "utf8"));
  assert.deepEqual(await res.json(), { version });
});
