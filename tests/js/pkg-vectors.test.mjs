// The npm package, imported from Node, against Clerk's own fixture vectors
// (tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json, rows of
// expected_outcomes_default_skew_5000ms): through verifySessionToken, and through
// clerkEdgeMiddleware with the same clock, keys and authorized parties given as env.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { clerkEdgeMiddleware, verifySessionToken } from "../../pkg-js/index.js";

const vectors = JSON.parse(
  readFileSync(new URL("../fixtures/reference/vectors/clerk_session_jwt_vectors.json", import.meta.url), "utf8"),
);
const rows = vectors.expected_outcomes_default_skew_5000ms;
const tokenOf = (row) => vectors.tokens[row.token]?.jwt ?? row.token;
const label = (row) =>
  `${row.token} at ${row.now} with ${row.key}${row.authorizedParties ? ` azp=${JSON.stringify(row.authorizedParties)}` : ""} -> ${row.expect}`;

test("the fixture file has the rows this test expects", () => {
  assert.ok(rows.length >= 15);
  assert.ok(rows.some((r) => r.key === "public_key_pem") && rows.some((r) => r.key === "jwks"));
});

for (const row of rows) {
  test(`verifySessionToken: ${label(row)}`, async () => {
    const options = { now: row.now * 1000, authorizedParties: row.authorizedParties };
    if (row.key === "jwks") options.jwks = vectors.keys.jwks;
    else options.jwtKey = vectors.keys[row.key];
    const result = await verifySessionToken(tokenOf(row), options);
    if (row.expect === "ok") {
      assert.equal(result.status, "signed-in", JSON.stringify(result));
      assert.equal(result.claims.sub, JSON.parse(Buffer.from(tokenOf(row).split(".")[1], "base64url")).sub);
    } else {
      assert.deepEqual(result, { status: "signed-out", reason: row.expect });
    }
  });
}

for (const row of rows) {
  test(`clerkEdgeMiddleware: ${label(row)}`, async (t) => {
    t.mock.method(Date, "now", () => row.now * 1000);
    t.mock.method(console, "log", () => {});
    const env = {};
    let fetched = 0;
    const fetchJwks = async (url, init) => {
      fetched += 1;
      assert.equal(new URL(url).pathname, "/v1/jwks");
      assert.equal(new Headers(init.headers).get("authorization"), "Bearer sk_test_vectors");
      return Response.json(vectors.keys.jwks);
    };
    if (row.key === "jwks") env.CLERK_SECRET_KEY = "sk_test_vectors";
    else env.CLERK_JWT_KEY = vectors.keys[row.key];
    if (row.authorizedParties?.length) env.CLERK_AUTHORIZED_PARTIES = row.authorizedParties.join(",");
    const middleware = clerkEdgeMiddleware({ env, fetch: fetchJwks });
    const response = await middleware(
      new Request("https://app.example.test/dashboard", {
        headers: { authorization: `Bearer ${tokenOf(row)}`, "x-clerk-user-id": "user_spoofed" },
      }),
    );
    const token = tokenOf(row);
    if (row.expect === "ok") {
      const sub = JSON.parse(Buffer.from(token.split(".")[1], "base64url")).sub;
      assert.equal(response.headers.get("x-middleware-next"), "1");
      assert.equal(response.headers.get("x-middleware-request-x-clerk-auth-status"), "signed-in");
      assert.equal(response.headers.get("x-middleware-request-x-clerk-user-id"), sub);
    } else {
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("x-clerk-auth-reason"), row.expect);
      assert.deepEqual(await response.json(), { error: "unauthenticated", reason: row.expect });
    }
    // A token that cannot be decoded never makes the middleware fetch keys.
    if (row.key === "jwks" && row.expect !== "token-invalid") assert.equal(fetched, 1);
  });
}
