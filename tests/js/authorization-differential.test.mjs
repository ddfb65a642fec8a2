// Differential test of role and permission checks: generated session tokens (v1 claims
// `org_id`/`org_role`/`org_permissions`, and v2's `o` with `fea`/`per`/`fpm` bit sets),
// checked by @clerk/backend (`authenticateRequest(...).toAuth().has(params)`, networkless with
// `jwtKey`) and by ours twice: `auth().has(params)` in a clerkEdgeMiddleware handler, and
// `has(params)` of the auth state server code reads back from the forwarded, signed headers
// (verifyIdentityHeaders, as clerk-edge-guard/server's auth() does). Every case must agree.
// Where Clerk's claim parser throws (a malformed `fea`), ours must grant no permission.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClerkClient } from "@clerk/backend";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";

import { clerkEdgeMiddleware, verifyIdentityHeaders } from "../../pkg-js/index.js";
import { seeded } from "./support/prng.mjs";

process.env.CLERK_TELEMETRY_DISABLED = "1";
const CASES = Number(process.env.AUTHORIZATION_CASES ?? 1500);
const SEED = Number(process.env.AUTHORIZATION_SEED ?? 20261202);
const SECRET_KEY = "sk_test_authorization_differential";
const PK = "pk_test_Y2xlcmsuYXV0aHouZXhhbXBsZS5jb20k";

const FEATURES = ["articles", "billing", "teams", "Articles"];
const PERMISSIONS = ["read", "write", "manage", "delete", "Read"];
const ROLES = ["admin", "member", "org:admin", "org:member", "org:org:admin", "Admin", "billing_manager", ""];

function generateClaims({ rand, chance, pick }) {
  const claims = {};
  const version = pick(["v1", "v1", "v1-explicit", "v2", "v2", "v2"]);
  if (version === "v1") {
    if (chance(0.85)) claims.org_id = pick(["org_1", "org_2", ""]);
    if (chance(0.85)) claims.org_role = pick(ROLES.map((r) => (chance(0.7) && r && !r.startsWith("org:") ? `org:${r}` : r)));
    if (chance(0.1)) claims.org_role = 7;
    if (chance(0.8)) {
      const count = Math.floor(rand() * 4);
      claims.org_permissions = Array.from({ length: count }, () => `org:${pick(FEATURES)}:${pick(PERMISSIONS)}`);
      if (chance(0.1)) claims.org_permissions.push(5);
    } else if (chance(0.3)) claims.org_permissions = "org:articles:read";
    return claims;
  }
  if (version === "v1-explicit") {
    claims.v = 1;
    claims.org_id = "org_1";
    claims.org_role = "org:admin";
    claims.org_permissions = ["org:articles:read"];
    return claims;
  }
  claims.v = 2;
  if (chance(0.1)) {
    // v1 claims in a v2 token count for nothing.
    claims.org_id = "org_1";
    claims.org_role = "org:admin";
  }
  if (chance(0.9)) {
    const o = {};
    if (chance(0.9)) o.id = pick(["org_9", "org_8"]);
    if (chance(0.85)) o.rol = pick(ROLES);
    if (chance(0.3)) o.slg = "acme";
    const names = PERMISSIONS.filter(() => chance(0.5));
    if (chance(0.85)) o.per = names.map((n) => (chance(0.1) ? ` ${n} ` : n)).join(",");
    const features = FEATURES.filter(() => chance(0.6));
    if (chance(0.85)) {
      o.fpm = features
        .map(() => {
          const roll = rand();
          if (roll < 0.05) return "x1";
          if (roll < 0.1) return " 3 ";
          if (roll < 0.15) return "1180591620717411303425"; // 2^70 + 1
          return String(Math.floor(rand() * 2 ** (names.length + 1)));
        })
        .join(",");
    }
    if (chance(0.9)) {
      claims.fea = features
        .map((f) => {
          const roll = rand();
          if (roll < 0.03) return f; // no colon: Clerk's parser throws
          return `${pick(["o", "o", "o", "u", "ou", "uo", "x"])}:${f}`;
        })
        .join(chance(0.2) ? " , " : ",");
    }
    claims.o = o;
  }
  return claims;
}

function generateParams({ chance, pick }) {
  const params = {};
  const kind = pick(["role", "permission", "both", "role", "permission"]);
  if (kind !== "permission") params.role = pick([...ROLES, "org:admin", "admin"]);
  if (kind !== "role") {
    const permission = `${pick(FEATURES)}:${pick(PERMISSIONS)}`;
    params.permission = chance(0.8) ? `org:${permission}` : permission;
  }
  return params;
}

test(`${CASES} generated tokens: has({ role | permission }) as @clerk/backend's`, async () => {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  const pem = await exportSPKI(publicKey);
  const clerk = createClerkClient({ secretKey: SECRET_KEY, publishableKey: PK, jwtKey: pem });
  let forHandler;
  let seenByHandler;
  const middleware = clerkEdgeMiddleware({ env: { CLERK_JWT_KEY: pem, CLERK_SECRET_KEY: SECRET_KEY } }, async (auth) => {
    seenByHandler = (await auth()).has(forHandler);
  });
  const draw = seeded(SEED);
  const tally = { granted: 0, refused: 0, clerkThrew: 0, v2: 0 };
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < CASES; i++) {
    const claims = generateClaims(draw);
    const params = generateParams(draw);
    const token = await new SignJWT({ sub: `user_${i}`, sid: `sess_${i}`, iat: now, nbf: now - 5, exp: now + 600, ...claims })
      .setProtectedHeader({ alg: "RS256", kid: "ins_authz" })
      .sign(privateKey);
    const request = () => new Request("https://app.example.test/api/data", { headers: { authorization: `Bearer ${token}` } });
    const what = `case ${i} (seed ${SEED}): claims ${JSON.stringify(claims)} params ${JSON.stringify(params)}`;

    let theirs;
    try {
      const state = await clerk.authenticateRequest(request(), { jwtKey: pem });
      assert.equal(state.status, "signed-in", what);
      theirs = state.toAuth().has(params);
    } catch (error) {
      if (error?.code === "ERR_ASSERTION") throw error;
      theirs = "threw";
    }

    forHandler = params;
    seenByHandler = undefined;
    const original = console.log;
    console.log = () => {};
    let response;
    try {
      response = await middleware(request());
    } finally {
      console.log = original;
    }
    assert.equal(response.headers.get("x-middleware-next"), "1", what);
    const forwarded = new Headers();
    for (const name of response.headers.get("x-middleware-override-headers").split(",")) {
      forwarded.set(name, response.headers.get(`x-middleware-request-${name}`));
    }
    const server = (await verifyIdentityHeaders(forwarded, { secretKey: SECRET_KEY })).has(params);

    if (claims.v === 2) tally.v2++;
    if (theirs === "threw") {
      tally.clerkThrew++;
      if (params.permission !== undefined) {
        assert.equal(seenByHandler, false, `${what}: Clerk threw, ours granted a permission`);
        assert.equal(server, false, `${what}: Clerk threw, ours granted a permission (server)`);
      }
      continue;
    }
    assert.equal(seenByHandler, theirs, `${what}: middleware handler`);
    assert.equal(server, theirs, `${what}: server code`);
    if (theirs) tally.granted++;
    else tally.refused++;
  }
  console.log(`authorization differential: ${JSON.stringify(tally)}`);
  // The generator must exercise both answers, both token versions, and Clerk's throwing path.
  assert.ok(tally.granted > CASES / 20, JSON.stringify(tally));
  assert.ok(tally.refused > CASES / 5, JSON.stringify(tally));
  assert.ok(tally.v2 > CASES / 4, JSON.stringify(tally));
  assert.ok(tally.clerkThrew > 0, JSON.stringify(tally));
});
