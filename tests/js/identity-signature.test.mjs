// The signature of the forwarded identity (x-clerk-edge-signature): made in wasm by the
// middleware, checked by verifyIdentityHeaders with WebCrypto, and recomputed here with
// node:crypto from the README's definition. Forged, moved, stale and unsigned headers are
// refused with an error that says what to do.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { before, test } from "node:test";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, verifyIdentityHeaders, IdentityHeadersError } from "../../pkg-js/index.js";

const SECRET_KEY = "sk_test_identity_signature";
const SIGNED = [
  "x-clerk-auth-status",
  "x-clerk-auth-reason",
  "x-clerk-user-id",
  "x-clerk-session-id",
  "x-clerk-org-id",
  "x-clerk-org-role",
  "x-clerk-org-slug",
  "x-clerk-org-permissions",
];
let headers;

before(async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const iat = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    sub: "user_sig",
    sid: "sess_sig",
    iat,
    nbf: iat - 5,
    exp: iat + 600,
    org_id: "org_sig",
    org_role: "org:admin",
    org_permissions: ["org:a:read", "org:a:write"],
  })
    .setProtectedHeader({ alg: "RS256", kid: "k" })
    .sign(privateKey);
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: await exportSPKI(publicKey), CLERK_SECRET_KEY: SECRET_KEY } });
  const response = await middleware(new Request("https://app.test/x", { headers: { authorization: `Bearer ${token}` } }));
  headers = new Headers();
  for (const name of response.headers.get("x-middleware-override-headers").split(",")) {
    headers.set(name, response.headers.get(`x-middleware-request-${name}`));
  }
});

const problem = async (h, options) => {
  try {
    await verifyIdentityHeaders(h, { secretKey: SECRET_KEY, ...options });
    return "accepted";
  } catch (error) {
    assert.ok(error instanceof IdentityHeadersError, String(error));
    return error.problem;
  }
};

test("the signature is the README's HMAC, recomputed independently", async () => {
  const [version, at, mac] = headers.get("x-clerk-edge-signature").split(",");
  assert.equal(version, "v1");
  assert.ok(Math.abs(Number(at) - Date.now()) < 10_000);
  let text = `clerk-edge-guard identity v1\n${at}\n`;
  for (const name of SIGNED) text += `${headers.get(name) ?? ""}\n`;
  assert.equal(mac, createHmac("sha256", SECRET_KEY).update(text).digest("base64url"));
  assert.equal(headers.get("x-clerk-org-permissions"), "org:a:read,org:a:write");
  const state = await verifyIdentityHeaders(headers, { secretKey: SECRET_KEY });
  assert.equal(state.userId, "user_sig");
  assert.equal(state.has({ permission: "org:a:write" }), true);
});

test("forged, moved, stale or unsigned identity headers are refused", async () => {
  assert.equal(await problem(headers), "accepted");
  for (const [name, value] of [
    ["x-clerk-user-id", "user_admin"],
    ["x-clerk-org-role", "org:owner"],
    ["x-clerk-org-permissions", "org:a:read,org:a:write,org:billing:manage"],
    ["x-clerk-auth-status", "bypassed"],
  ]) {
    const forged = new Headers(headers);
    forged.set(name, value);
    assert.equal(await problem(forged), "bad-signature", name);
  }
  const moved = new Headers(headers);
  moved.delete("x-clerk-session-id");
  moved.set("x-clerk-org-slug", headers.get("x-clerk-session-id"));
  assert.equal(await problem(moved), "bad-signature");
  assert.equal(await problem(headers, { secretKey: "sk_test_other" }), "bad-signature");
  assert.equal(await problem(headers, { now: Date.now() + 6 * 60 * 1000 }), "stale-signature");
  assert.equal(await problem(headers, { now: Date.now() - 2 * 60 * 1000 }), "stale-signature");
  const unsigned = new Headers(headers);
  unsigned.delete("x-clerk-edge-signature");
  assert.equal(await problem(unsigned), "unsigned");
  const retimed = new Headers(headers);
  const [, at, mac] = headers.get("x-clerk-edge-signature").split(",");
  retimed.set("x-clerk-edge-signature", `v1,${Number(at) + 1},${mac}`);
  assert.equal(await problem(retimed), "bad-signature");
  for (const junk of ["", "v1", "v2,1,abc", `v1,${at},${mac},x`, `v1,-1,${mac}`, `v1,${at},${mac}=`]) {
    const bad = new Headers(headers);
    bad.set("x-clerk-edge-signature", junk);
    assert.equal(await problem(bad), "bad-signature", JSON.stringify(junk));
  }
});

test("without a secret key the error says which variable to set", async () => {
  const saved = process.env.CLERK_SECRET_KEY;
  delete process.env.CLERK_SECRET_KEY;
  try {
    await assert.rejects(verifyIdentityHeaders(headers), (error) => {
      assert.equal(error.problem, "no-secret-key");
      assert.match(error.message, /CLERK_SECRET_KEY is not set/);
      return true;
    });
  } finally {
    if (saved !== undefined) process.env.CLERK_SECRET_KEY = saved;
  }
  // The message for a route the middleware did not see says how to fix the matcher.
  await assert.rejects(verifyIdentityHeaders(new Headers({ "x-clerk-user-id": "user_x" }), { secretKey: SECRET_KEY }), /config\.matcher/);
});
