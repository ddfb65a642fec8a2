// The chain works end to end: the Worker built by scripts/build-worker.sh runs in workerd
// under `wrangler dev`, answers its health route, forwards to an origin, and its audit lines
// reach the test through wrangler's output.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { startOrigin, startWorker } from "./support/index.mjs";

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
