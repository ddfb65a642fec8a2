// clerkEdgeMiddleware with a handler, as `clerkMiddleware((auth, req) => …)` users write it:
// what the handler sees, auth.protect() with and without a role or permission (Clerk's
// answers, our reasons and audit lines), what the handler may return, and that the bypass,
// never-bypass, deny-list and public-path rules hold around it. The identity it forwards is
// read back with verifyIdentityHeaders, as server code's auth() does.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, createRouteMatcher, memoryStore, verifyIdentityHeaders } from "../../pkg-js/index.js";

const SECRET_KEY = "sk_test_handler_secret";
let key;
let pem;

before(async () => {
  key = await generateKeyPair("RS256");
  pem = await exportSPKI(key.publicKey);
});

function mint(extra = {}) {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: "user_h", sid: "sess_h", iat, nbf: iat - 5, exp: iat + 600, ...extra })
    .setProtectedHeader({ alg: "RS256", kid: "ins_h" })
    .sign(key.privateKey);
}
const member = () => mint({ org_id: "org_1", org_role: "org:member", org_permissions: ["org:posts:read"] });
const admin = () => mint({ v: 2, fea: "o:posts", o: { id: "org_1", rol: "admin", slg: "acme", per: "read,write", fpm: "3" } });

const env = (extra = {}) => ({
  CLERK_JWT_KEY: pem,
  CLERK_SECRET_KEY: SECRET_KEY,
  CLERK_SIGN_IN_URL: "https://accounts.example.test/sign-in",
  ...extra,
});

const api = (path, token, headers = {}) =>
  new Request(`https://app.example.test${path}`, {
    headers: { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
const page = (path) => new Request(`https://app.example.test${path}`, { headers: { accept: "text/html", "sec-fetch-dest": "document" } });

async function capture(fn) {
  const lines = [];
  const original = console.log;
  console.log = (...args) => lines.push(args.join(" "));
  try {
    return [await fn(), lines.map((l) => JSON.parse(l))];
  } finally {
    console.log = original;
  }
}

/** The request headers Next hands on after a forward. */
function forwarded(response) {
  assert.equal(response.headers.get("x-middleware-next"), "1", `not forwarded: ${response.status}`);
  const out = new Headers();
  for (const name of (response.headers.get("x-middleware-override-headers") ?? "").split(",").filter(Boolean)) {
    out.set(name, response.headers.get(`x-middleware-request-${name}`));
  }
  return out;
}

test("the handler sees the identity; what it forwards is signed and reads back in server code", async () => {
  let seen;
  const middleware = clerkEdgeMiddleware(async (auth) => {
    seen = await auth();
  }, { env: env() });
  const response = await middleware(api("/api/posts", await admin()));
  assert.equal(seen.status, "signed-in");
  assert.equal(seen.userId, "user_h");
  assert.equal(seen.orgRole, "org:admin");
  assert.deepEqual(seen.orgPermissions, ["org:posts:read", "org:posts:write"]);
  assert.equal(seen.has({ permission: "org:posts:write" }), true);
  assert.equal(seen.has({ role: "org:member" }), false);
  const server = await verifyIdentityHeaders(forwarded(response), { secretKey: SECRET_KEY });
  assert.deepEqual(
    { ...server, has: undefined },
    {
      status: "signed-in",
      reason: null,
      isAuthenticated: true,
      userId: "user_h",
      sessionId: "sess_h",
      orgId: "org_1",
      orgRole: "org:admin",
      orgSlug: "acme",
      orgPermissions: ["org:posts:read", "org:posts:write"],
      has: undefined,
    },
  );
});

test("a signed-out request reaches the handler; unprotected, it goes on signed out, with no line", async () => {
  let seen;
  const middleware = clerkEdgeMiddleware({ env: env() }, async (auth) => {
    seen = await auth();
  });
  const [response, lines] = await capture(() => middleware(api("/", null, { "x-clerk-user-id": "user_forged" })));
  assert.equal(seen.isAuthenticated, false);
  assert.equal(seen.userId, null);
  assert.equal(seen.reason, "session-token-and-uat-missing");
  const headers = forwarded(response);
  assert.equal(headers.get("x-clerk-user-id"), null, "the forged header is gone");
  assert.equal(headers.get("x-clerk-auth-status"), "signed-out");
  const server = await verifyIdentityHeaders(headers, { secretKey: SECRET_KEY });
  assert.equal(server.isAuthenticated, false);
  assert.equal(server.has({ role: "org:admin" }), false);
  assert.deepEqual(lines, []);
});

test("auth.protect(): signed out, a page goes to sign-in and an API call gets 401, each with its auth.denied line", async () => {
  const isProtected = createRouteMatcher(["/dashboard(.*)", "/api/(.*)"]);
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    if (isProtected(req)) await auth.protect();
  }, { env: env() });
  const [toSignIn, pageLines] = await capture(() => middleware(page("/dashboard/settings")));
  assert.equal(toSignIn.status, 307);
  const location = new URL(toSignIn.headers.get("location"));
  assert.equal(location.origin + location.pathname, "https://accounts.example.test/sign-in");
  assert.equal(location.searchParams.get("redirect_url"), "https://app.example.test/dashboard/settings");
  assert.deepEqual(pageLines.map((l) => [l.event, l.status]), [["auth.denied", 307]]);

  const [refused, apiLines] = await capture(() => middleware(api("/api/posts", null)));
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).reason, "session-token-and-uat-missing");
  assert.deepEqual(apiLines.map((l) => [l.event, l.status]), [["auth.denied", 401]]);

  // Unprotected routes stay open to signed-out visitors.
  const [open] = await capture(() => middleware(page("/pricing")));
  assert.equal(forwarded(open).get("x-clerk-auth-status"), "signed-out");
});

test("auth.protect({ role | permission }): 404 and an auth.forbidden line naming what was required", async () => {
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    const path = new URL(req.url).pathname;
    if (path.startsWith("/admin")) await auth.protect({ role: "org:admin" });
    if (path.startsWith("/write")) await auth.protect({ permission: "org:posts:write" });
    if (path.startsWith("/custom")) await auth.protect((has) => has({ role: "admin" }) && has({ permission: "posts:read" }));
  }, { env: env() });

  const [refused, lines] = await capture(async () => middleware(api("/admin/users", await member())));
  assert.equal(refused.status, 404);
  assert.equal(refused.headers.get("x-clerk-auth-reason"), "role-required");
  assert.equal((await refused.json()).error, "not-found");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "auth.forbidden");
  assert.equal(lines[0].reason, "role-required");
  assert.equal(lines[0].required_role, "org:admin");
  assert.equal(lines[0].user_id, "user_h");
  assert.equal(lines[0].status, 404);
  assert.equal(lines[0].path, "/admin/users");

  const [noWrite, writeLines] = await capture(async () => middleware(api("/write", await member())));
  assert.equal(noWrite.status, 404);
  assert.equal(writeLines[0].reason, "permission-required");
  assert.equal(writeLines[0].required_permission, "org:posts:write");

  const [custom, customLines] = await capture(async () => middleware(api("/custom", await member())));
  assert.equal(custom.status, 404);
  assert.equal(customLines[0].reason, "authorization-required");

  for (const path of ["/admin", "/write", "/custom"]) {
    const allowed = await middleware(api(path, await admin()));
    assert.equal(forwarded(allowed).get("x-clerk-org-role"), "org:admin", path);
  }
});

test("unauthenticatedUrl and unauthorizedUrl redirect instead", async () => {
  const middleware = clerkEdgeMiddleware(async (auth) => {
    await auth.protect({ role: "org:admin" }, { unauthenticatedUrl: "/login", unauthorizedUrl: "/no-access" });
  }, { env: env() });
  const [signedOut] = await capture(() => middleware(api("/x", null)));
  assert.equal(signedOut.status, 307);
  assert.equal(signedOut.headers.get("location"), "https://app.example.test/login");
  const [member_] = await capture(async () => middleware(api("/x", await member())));
  assert.equal(member_.headers.get("location"), "https://app.example.test/no-access");
});

test("a refusal holds when the handler catches what protect() threw", async () => {
  const middleware = clerkEdgeMiddleware(async (auth) => {
    try {
      await auth.protect();
    } catch {
      // swallowed by mistake
    }
  }, { env: env() });
  const [response] = await capture(() => middleware(api("/x", null)));
  assert.equal(response.status, 401);
});

test("protect() without await still refuses, and leaves no unhandled rejection", async () => {
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const middleware = clerkEdgeMiddleware((auth) => {
      auth.protect(); // the await forgotten
    }, { env: env() });
    const [response] = await capture(() => middleware(api("/x", null)));
    assert.equal(response.status, 401);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("what the handler returns: its own answer, or NextResponse.next() with the edge's identity", async () => {
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    const { userId } = await auth();
    if (new URL(req.url).pathname === "/home" && userId) return Response.redirect("https://app.example.test/dashboard", 307);
    // NextResponse.next({ request: { headers } }) writes these headers; the handler tries to
    // set an identity header too.
    return new Response(null, {
      headers: {
        "x-middleware-next": "1",
        "x-middleware-override-headers": "x-locale,x-clerk-user-id",
        "x-middleware-request-x-locale": "fr",
        "x-middleware-request-x-clerk-user-id": "user_forged",
        "x-app": "kept",
      },
    });
  }, { env: env() });
  const redirected = await middleware(api("/home", await member()));
  assert.equal(redirected.status, 307);
  assert.equal(redirected.headers.get("location"), "https://app.example.test/dashboard");

  const merged = await middleware(api("/feed", await member()));
  assert.equal(merged.headers.get("x-app"), "kept");
  const headers = forwarded(merged);
  assert.equal(headers.get("x-locale"), "fr");
  assert.equal(headers.get("x-clerk-user-id"), "user_h", "only the edge sets identity headers");
  assert.equal((await verifyIdentityHeaders(headers, { secretKey: SECRET_KEY })).userId, "user_h");
});

test("a handler that throws fails closed: 500 and a middleware.error line", async () => {
  const middleware = clerkEdgeMiddleware(async () => {
    throw new Error("bug in the app's handler with a secret sk_test_nope");
  }, { env: env() });
  const [response, lines] = await capture(async () => middleware(api("/x", await member())));
  assert.equal(response.status, 500);
  assert.deepEqual(lines.map((l) => [l.event, l.detail]), [["middleware.error", "handler"]]);
  assert.ok(!JSON.stringify(lines).includes("sk_test_nope"));
});

test("bypass: protect() lets bypassed requests in; a role check without an identity refuses", async () => {
  const bypass = env({ CLERK_EMERGENCY_BYPASS: "true", CLERK_EMERGENCY_BYPASS_REASON: "INC-1", CLERK_NEVER_BYPASS_PATHS: "/admin/*" });
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    const path = new URL(req.url).pathname;
    await auth.protect(path.includes("billing") ? { role: "org:admin" } : undefined);
  }, { env: bypass });
  const [open, lines] = await capture(() => middleware(api("/reports", null)));
  assert.equal(forwarded(open).get("x-clerk-auth-status"), "bypassed");
  assert.deepEqual(lines.map((l) => l.event), ["auth.bypassed"]);
  const [billing, billingLines] = await capture(() => middleware(api("/billing", null)));
  assert.equal(billing.status, 404);
  assert.deepEqual(billingLines.map((l) => l.event), ["auth.forbidden"]);
  // Never-bypass paths are checked as usual, callback or not.
  const [never] = await capture(() => middleware(api("/admin/users", null)));
  assert.equal(never.status, 401);
});

test("a deny-listed user is signed out in the handler, and protect() refuses with the deny reason", async () => {
  const store = memoryStore();
  await store.put("deny:user:user_h", "{}");
  let seen;
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    seen = await auth();
    if (new URL(req.url).pathname !== "/") await auth.protect();
  }, { env: env(), store });
  const [open] = await capture(async () => middleware(api("/", await member())));
  assert.equal(seen.isAuthenticated, false);
  assert.equal(seen.reason, "user-revoked");
  assert.equal(forwarded(open).get("x-clerk-user-id"), null);
  const [refused] = await capture(async () => middleware(api("/x", await member())));
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("x-clerk-auth-reason"), "user-revoked");
});

test("public paths never reach the handler; a malformed path is a 400", async () => {
  let calls = 0;
  const isAdmin = createRouteMatcher("/admin(.*)");
  const middleware = clerkEdgeMiddleware(async (auth, req) => {
    calls++;
    if (isAdmin(req)) await auth.protect();
  }, { env: env({ CLERK_PUBLIC_PATHS: "/assets/*" }) });
  const asset = await middleware(api("/assets/logo.svg", null));
  assert.equal(forwarded(asset).get("x-clerk-auth-reason"), "public-path");
  assert.equal(calls, 0);
  const [bad] = await capture(() => middleware(api("/admin%E0%A4%A", null)));
  assert.equal(bad.status, 400);
  assert.equal(calls, 1);
});

test("has() refuses what it cannot check rather than guess", async () => {
  let error;
  const middleware = clerkEdgeMiddleware(async (auth) => {
    try {
      (await auth()).has({ plan: "pro" });
    } catch (e) {
      error = e;
    }
  }, { env: env() });
  await capture(async () => middleware(api("/", await member())));
  assert.match(error?.message ?? "", /has\(\{ plan \}\) is not supported/);
});
