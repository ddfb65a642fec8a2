// Clerk's handshake end to end in a real Next.js production server: the example app
// (tests/next-app, its middleware the package's wasm in Next's edge sandbox) under
// `next start`, a fake Frontend API reached through CLERK_PROXY_URL and the fake Backend API
// redeeming its nonces, driven by a cookie-jar client that follows every redirect by hand.
// The page (app/page.tsx) prints the identity the middleware established: `#status`, `#user`.
// The scenarios are the Worker's (tests/e2e/support/handshake-scenarios.mjs), played here by
// the Next runtime below.
//
// Needs `npm --prefix pkg-js run build` first; installs and builds the app itself (once for
// both handshake test files, see support/built-app.mjs). Servers: production (pk_live_),
// development (pk_test_), emergency bypass (grace).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { startInstance } from "../e2e/support/handshake.mjs";
import * as scenarios from "../e2e/support/handshake-scenarios.mjs";
import { ensureAppBuilt } from "./support/built-app.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_handshake_secret_key";

let instance;

before(async () => {
  const { built, ms } = await ensureAppBuilt();
  console.log(`next-app ${built ? "installed and built" : "build reused"} in ${ms} ms`);
  instance = await startInstance({ secretKey: SECRET_KEY, kid: "ins_next_handshake" });
});

after(async () => {
  await instance?.close();
});

/** What the page says: `#status` and `#user`. */
function identityOf(html) {
  const field = (id) => html.match(new RegExp(`<p id="${id}">([^<]*)</p>`))?.[1] ?? null;
  return { status: field("status"), user: field("user") };
}

/**
 * The app as a runtime of the shared scenarios: one page (`/`) and one API route; what is
 * served is what the page prints, and what is not served cannot be seen (no origin behind
 * it). The middleware also sets `__clerk_redirect_count` on the answers that carry the
 * directives, which the scenarios do not count.
 */
const runtime = scenarios.defineRuntime({
  name: "the app",
  edge: "app",
  instance: () => instance,
  paths: { dashboard: "/", account: "/", loop: "/", api: "/api/whoami", form: "/", page: "/" },
  // No CLERK_JWT_KEY: the app fetches the JWKS from the fake Backend API.
  start: (publishableKey, extra) => startApp(instance.appEnv(publishableKey, extra)),
  directiveCookies: (names) => names.filter((name) => !name.startsWith("__clerk_redirect_count")),
  assertServed(result, { status, userId }, context) {
    assert.deepEqual(identityOf(result.text), { status, user: userId }, context);
  },
});

describe("production instance (pk_live_)", () => {
  const app = scenarios.useApp(runtime, () => [instance.pkLive]);

  scenarios.productionScenarioTests(runtime, app);

  test("a fetch-style GET and a POST with an expired cookie: 401 with Clerk's reason, no redirect", async () => {
    await scenarios.expiredFetchGet(runtime, app());
    await scenarios.expiredPost(runtime, app());
  });
});

describe("development instance (pk_test_)", () => {
  const app = scenarios.useApp(runtime, () => [instance.pkTest]);

  scenarios.developmentReturnLegTests(runtime, app);
});

describe("development instance: keys switched locally", () => {
  const app = scenarios.useApp(runtime, () => [instance.pkTest]);

  scenarios.handshakeTokenRefusedTest(runtime, app);
});

scenarios.emergencyBypassSuite(runtime, "INC-HS-2");
