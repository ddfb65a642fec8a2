// auth() and auth.protect() of `clerk-edge-guard/server` in the example app's server
// components and route handlers, in `next build && next start`, behind its middleware written
// as a clerkMiddleware user writes it (createRouteMatcher, auth.protect({ role })): what server
// code reads for signed-in, signed-out and organization users (v1 and v2 tokens), the
// middleware's and the server's refusals, and forged identity headers on a route the
// middleware's matcher leaves out.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { createSigningKey, mintToken, sessionClaims } from "../e2e/support/tokens.mjs";
import { VARIANTS, ensureAppBuilt } from "./support/built-app.mjs";
import { startApp } from "./support/next-app.mjs";

const SECRET_KEY = "sk_test_next_server_auth";
let key;
let app;

const CASES = [];
const scenario = (name, fn) => CASES.push([name, fn]);

const member = () =>
  mintToken(key, sessionClaims({ sub: "user_member", sid: "sess_member", extra: { org_id: "org_1", org_role: "org:member", org_permissions: ["org:posts:read"] } }));
const admin = () =>
  mintToken(
    key,
    sessionClaims({
      sub: "user_admin",
      sid: "sess_admin",
      extra: { v: 2, fea: "o:posts", o: { id: "org_1", rol: "admin", slg: "acme", per: "read,write", fpm: "3" } },
    }),
  );
const bearer = (token) => ({ authorization: `Bearer ${token}` });
const page = (token) => ({ accept: "text/html", "sec-fetch-dest": "document", ...(token ? { cookie: `__session=${token}` } : {}) });

scenario("a route handler's auth() reads the identity, organization and permissions (v2 token)", async () => {
  const response = await fetch(`${app.url}/api/me`, { headers: bearer(await admin()) });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), {
    status: "signed-in",
    userId: "user_admin",
    sessionId: "sess_admin",
    orgId: "org_1",
    orgRole: "org:admin",
    orgSlug: "acme",
    orgPermissions: ["org:posts:read", "org:posts:write"],
    canWritePosts: true,
  });
});

scenario("auth.protect({ permission }) in a route handler: 404 without it, as Clerk's", async () => {
  const refused = await fetch(`${app.url}/api/me`, { method: "POST", headers: bearer(await member()) });
  assert.equal(refused.status, 404);
  const allowed = await fetch(`${app.url}/api/me`, { method: "POST", headers: bearer(await admin()) });
  assert.equal(allowed.status, 200);
  assert.deepEqual(await allowed.json(), { written: true, by: "user_admin" });
});

scenario("a public page and route: auth() says who is signed in, or that nobody is", async () => {
  const anonymous = await fetch(`${app.url}/pricing`, { headers: page() });
  assert.equal(anonymous.status, 200);
  const html = await anonymous.text();
  assert.match(html, /<p id="status">signed-out<\/p>/);
  assert.match(html, /<p id="user">anonymous<\/p>/);
  const signedIn = await (await fetch(`${app.url}/pricing`, { headers: page(await member()) })).text();
  assert.match(signedIn, /<p id="user">user_member<\/p>/);

  const api = await fetch(`${app.url}/api/public/me`);
  assert.deepEqual(await api.json(), { status: "signed-out", reason: "session-token-and-uat-missing", userId: null });
});

scenario("the middleware's auth.protect({ role }): 404 and an auth.forbidden line for a member; the admin page renders for an admin", async () => {
  const refused = await fetch(`${app.url}/admin`, { headers: page(await member()), redirect: "manual" });
  assert.equal(refused.status, 404);
  assert.equal(refused.headers.get("x-clerk-auth-reason"), "role-required");
  const line = await app.waitForAudit((e) => e.event === "auth.forbidden" && e.path === "/admin");
  assert.equal(line.user_id, "user_member");
  assert.equal(line.required_role, "org:admin");

  const allowed = await fetch(`${app.url}/admin`, { headers: page(await admin()) });
  assert.equal(allowed.status, 200);
  const html = await allowed.text();
  assert.match(html, /<p id="role">org:admin<\/p>/);

  const signedOut = await fetch(`${app.url}/admin`, { headers: page(), redirect: "manual" });
  assert.equal(signedOut.status, 307);
  assert.match(signedOut.headers.get("location"), /^https:\/\/accounts\.example\.test\/sign-in\?redirect_url=/);
});

scenario("forged identity headers on a route the middleware does not run for are refused by auth()", async () => {
  const forged = {
    "x-clerk-auth-status": "signed-in",
    "x-clerk-user-id": "user_admin",
    "x-clerk-org-role": "org:admin",
    "x-clerk-edge-signature": `v1,${Date.now()},${"A".repeat(43)}`,
  };
  const response = await fetch(`${app.url}/api/unguarded`, { headers: forged });
  assert.equal(response.status, 401);
  const body = await response.json();
  assert.equal(body.trusted, false);
  assert.equal(body.problem, "bad-signature");
  const { "x-clerk-edge-signature": _, ...unsigned } = forged;
  const noSignature = await (await fetch(`${app.url}/api/unguarded`, { headers: unsigned })).json();
  assert.equal(noSignature.problem, "unsigned");
  assert.match(noSignature.message, /config\.matcher/);
});

// Every runtime the package supports: Next 16's edge middleware and Node proxy, and Next 15.
for (const variant of ["edge", "proxy", "next15"]) {
  describe(VARIANTS[variant].label, () => {
    before(async () => {
      const { dir, built, ms } = await ensureAppBuilt(variant);
      console.log(`# ${VARIANTS[variant].label}: ${built ? "built" : "build reused"} in ${ms} ms`);
      key = await createSigningKey(`ins_next_server_auth_${variant}`);
      app = await startApp(
        {
          CLERK_JWT_KEY: key.pem,
          CLERK_SECRET_KEY: SECRET_KEY,
          CLERK_SIGN_IN_URL: "https://accounts.example.test/sign-in",
        },
        { dir },
      );
    });
    after(async () => {
      await app?.stop();
      app = undefined;
    });
    for (const [name, fn] of CASES) test(name, fn);
  });
}
