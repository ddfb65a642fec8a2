// The handshake in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core, which never downloads a browser of its own) opens a protected page of the
// example Next.js app with an expired `__session` and a `__client_uat` cookie, and must land
// on the page signed in, after the round trip through a fake Frontend API (CLERK_PROXY_URL)
// whose nonce cookie the app redeems at the fake Backend API. The redirect trace (statuses
// and URLs without query values) is printed for the report.
//
// Skipped, saying why, when `chromium` is not installed and CI is not set; in CI a missing
// browser fails the test. Needs `npm --prefix pkg-js run build` first.
import assert from "node:assert/strict";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, before, test } from "node:test";

import { redactUrl } from "../e2e/support/cookie-jar.mjs";
import { EXPIRED_REASON, startInstance } from "../e2e/support/handshake.mjs";
import { mintExpiredToken } from "../e2e/support/tokens.mjs";
import { decodeJwt } from "jose";
import { ensureAppBuilt } from "./support/built-app.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_browser_handshake_secret";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** The `chromium` executable on PATH, or null. */
function findChromium() {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "chromium");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const chromiumPath = findChromium();
const inCI = Boolean(process.env.CI);
const skip =
  chromiumPath === null && !inCI
    ? "chromium is not installed (apt-get install -y chromium, or scripts/install-toolchain.sh as root): real-browser test skipped"
    : false;

let instance;
let app;
let context;
let profileDir;

before(async () => {
  if (skip) return;
  if (chromiumPath === null) {
    throw new Error("CI is set but chromium is not installed: scripts/install-toolchain.sh installs it (apt-get install -y chromium)");
  }
  await ensureAppBuilt();
  instance = await startInstance({ secretKey: SECRET_KEY, kid: "ins_next_browser", userId: "user_browser_1", sessionId: "sess_browser_1" });
  app = await startApp(instance.appEnv(instance.pkLive));
  const { chromium } = await import("playwright-core");
  profileDir = mkdtempSync(join(tmpdir(), "ceg-chromium-profile-"));
  // A persistent context on a fresh profile directory: playwright refuses --user-data-dir in args.
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromiumPath,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
});

after(async () => {
  await context?.close().catch(() => {});
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await app?.stop();
  await instance?.close();
});

test("Chromium with an expired session lands on the page signed in, through the handshake", { skip }, async () => {
  const expired = await mintExpiredToken(instance.key, 120, { sub: "user_browser_1", sid: "sess_browser_1" });
  const { port } = new URL(app.url);
  await context.addCookies([
    { name: "__session", value: expired, domain: "127.0.0.1", path: "/", sameSite: "Lax" },
    { name: "__client_uat", value: String(decodeJwt(expired).iat), domain: "127.0.0.1", path: "/", sameSite: "Lax" },
  ]);

  const page = context.pages()[0] ?? (await context.newPage());
  const trace = [];
  page.on("response", (response) => {
    const request = response.request();
    if (!request.isNavigationRequest()) return;
    trace.push({
      method: request.method(),
      url: redactUrl(response.url()),
      status: response.status(),
      location: response.headers().location ? redactUrl(response.headers().location, response.url()) : null,
    });
  });

  const response = await page.goto(`${app.url}/?from=browser`, { waitUntil: "load", timeout: 60_000 });
  const status = (await page.locator("#status").textContent())?.trim();
  const user = (await page.locator("#user").textContent())?.trim();

  const roles = { [app.url]: "app", [instance.fapi.url]: "fapi" };
  const role = (url) => {
    const origin = new URL(url).origin;
    return `${roles[origin] ?? origin} ${url.slice(origin.length)}`;
  };
  const lines = trace.map(
    (hop, i) => `${i + 1}. ${hop.method} ${role(hop.url)} -> ${hop.status}${hop.location ? ` -> ${role(hop.location)}` : ""}`,
  );
  console.log(`browser redirect trace (headless Chromium, app on port ${port}):\n${lines.map((l) => `  ${l}`).join("\n")}`);

  assert.equal(response?.status(), 200, lines.join("\n"));
  assert.equal(status, "signed-in", lines.join("\n"));
  assert.equal(user, "user_browser_1");
  assert.deepEqual(
    trace.map((hop) => [hop.status, role(hop.url).split("?")[0]]),
    [
      [307, "app /"],
      [307, "fapi /v1/client/handshake"],
      [200, "app /"],
    ],
    lines.join("\n"),
  );
  const [first] = instance.fapi.hits;
  assert.equal(first.query.__clerk_hs_reason, EXPIRED_REASON);
  assert.equal(first.query.redirect_url, `${app.url}/?from=browser`);
  assert.equal(instance.fapi.hits.length, 1, "one handshake");

  // The browser kept the directives: a fresh session, no nonce cookie left.
  const cookies = Object.fromEntries((await context.cookies(app.url)).map((c) => [c.name, c.value]));
  assert.ok(cookies.__session && cookies.__session !== expired, "a new __session");
  assert.equal(decodeJwt(cookies.__session).sub, "user_browser_1");
  assert.ok(decodeJwt(cookies.__session).exp > Date.now() / 1000);
  assert.equal(cookies.__clerk_handshake_nonce, undefined);

  // A reload is signed in at once.
  const hitsBefore = instance.fapi.hits.length;
  await page.reload({ waitUntil: "load" });
  assert.equal((await page.locator("#status").textContent())?.trim(), "signed-in");
  assert.equal(instance.fapi.hits.length, hitsBefore, "no second handshake");
});
