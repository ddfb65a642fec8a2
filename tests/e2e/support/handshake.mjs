// Shared helpers of the handshake end-to-end tests (tests/e2e/handshake.test.mjs in workerd,
// tests/next/handshake.test.mjs in `next start`): an instance (fake Backend API + fake
// Frontend API + signing key), expired sessions in a cookie jar, and traces written as
// short role-based lines so both runtimes assert the same hops.
import assert from "node:assert/strict";
import { decodeJwt } from "jose";

import { startFakeClerk } from "../../support/fake-clerk.mjs";
import { HANDSHAKE_QUERY, publishableKeyFor, startFakeFrontendApi } from "../../support/fake-frontend-api.mjs";
import { TEST_ISSUER, createSigningKey, jwksOf, mintExpiredToken, nowSeconds } from "./tokens.mjs";

export { publishableKeyFor };

/**
 * The query names of the edge's redirect to the Frontend API, in Clerk's order: the fake's
 * HANDSHAKE_QUERY but the dev browser (`__clerk_db_jwt`), sent by development instances only.
 */
export const HANDSHAKE_QUERY_NAMES = Object.freeze(HANDSHAKE_QUERY.filter((name) => name !== "__clerk_db_jwt"));

/** The reason of an expired session cookie on a GET (Clerk's, without a refresh cookie). */
export const EXPIRED_REASON = "session-token-expired-refresh-non-eligible-no-refresh-cookie";
/** The same on a non-GET. */
export const EXPIRED_NON_GET_REASON = "session-token-expired-refresh-non-eligible-non-get";

/**
 * A fake Clerk instance: signing key, Backend API (JWKS + handshake payloads, answering
 * `secretKey`), Frontend API (signed in as `userId`/`sessionId`).
 */
export async function startInstance({ secretKey, kid = "ins_handshake_e2e", userId = "user_hs_1", sessionId = "sess_hs_1" }) {
  const key = await createSigningKey(kid);
  const clerk = await startFakeClerk({ secretKey, jwks: jwksOf(key) });
  const fapi = await startFakeFrontendApi({ clerk, key, issuer: TEST_ISSUER });
  fapi.signIn({ userId, sessionId });
  return {
    key,
    clerk,
    fapi,
    secretKey,
    userId,
    sessionId,
    pkLive: publishableKeyFor(TEST_ISSUER, "production"),
    pkTest: publishableKeyFor(TEST_ISSUER, "development"),
    /**
     * The environment of an app of this instance (Worker vars, or the Next app's env): its
     * keys, the fake Backend API, the fake Frontend API as CLERK_PROXY_URL, audit lines on.
     */
    appEnv(publishableKey, extra = {}) {
      return {
        CLERK_SECRET_KEY: secretKey,
        CLERK_API_URL: clerk.url,
        CLERK_PUBLISHABLE_KEY: publishableKey,
        CLERK_PROXY_URL: fapi.url,
        CLERK_AUDIT_ALLOWED: "true",
        ...extra,
      };
    },
    /** Back to a signed-in, production, nonce, ok Frontend API with empty logs. */
    reset() {
      fapi.clear();
      fapi.setStyle("production");
      fapi.setPayload("nonce");
      fapi.setMode("ok");
      fapi.setFault(null);
      fapi.signIn({ userId, sessionId });
      clerk.clearFaults();
      clerk.requests.length = 0;
    },
    async close() {
      await fapi.close();
      await clerk.close();
    },
  };
}

/**
 * Puts an expired `__session` (expired `secondsAgo` ago, issued 60 s before) and a
 * `__client_uat` equal to its `iat` in the jar for `appUrl`'s host. Returns the token.
 */
export async function seedExpiredSession(jar, appUrl, key, { sub = "user_hs_1", sid = "sess_hs_1", secondsAgo = 120 } = {}) {
  const token = await mintExpiredToken(key, secondsAgo, { sub, sid });
  jar.set(appUrl, `__session=${token}; Path=/`);
  jar.set(appUrl, `__client_uat=${decodeJwt(token).iat}; Path=/`);
  return token;
}

/**
 * The trace with URLs named by role: `GET app /dashboard?tab -> 307 fapi /v1/client/handshake`.
 * @param {object[]} trace HttpClient trace.
 * @param {Record<string, string>} roles name -> origin, e.g. { app: worker.url, fapi: fapi.url }.
 */
export function roleTrace(trace, roles) {
  const name = (redacted) => {
    if (redacted === null) return null;
    const url = new URL(redacted);
    const role = Object.entries(roles).find(([, origin]) => new URL(origin).origin === url.origin)?.[0] ?? url.origin;
    return `${role} ${url.pathname}${url.search}`;
  };
  return trace.map((hop) => `${hop.method} ${name(hop.url)} -> ${hop.status}${hop.location ? ` ${name(hop.location)}` : ""}`);
}

/** Asserts that `token` is a live session token of `userId` (decoded only: the edge verified it). */
export function assertFreshSession(token, userId, what = "__session") {
  assert.ok(token, `${what} is set`);
  const claims = decodeJwt(token);
  assert.equal(claims.sub, userId, what);
  assert.ok(claims.exp > nowSeconds(), `${what} is not expired`);
}

/** Asserts the headers of the edge's redirect to the Frontend API (hop `hop` of a trace). */
export function assertHandshakeRedirect(hop, { fapiUrl, reason, redirectUrl, count = 1, devBrowser = null }) {
  const context = `handshake redirect: ${hop.url} -> ${hop.status}`;
  assert.equal(hop.status, 307, context);
  const location = new URL(hop.rawLocation);
  assert.equal(`${location.origin}${location.pathname}`, `${new URL(fapiUrl).origin}/v1/client/handshake`, context);
  const names = [...location.searchParams.keys()];
  assert.deepEqual(names, devBrowser ? HANDSHAKE_QUERY : HANDSHAKE_QUERY_NAMES, context);
  assert.equal(location.searchParams.get("redirect_url"), redirectUrl, context);
  assert.equal(location.searchParams.get("__clerk_api_version"), "2026-05-12", context);
  assert.equal(location.searchParams.get("suffixed_cookies"), "false", context);
  assert.equal(location.searchParams.get("__clerk_hs_reason"), reason, context);
  assert.equal(location.searchParams.get("format"), "nonce", context);
  if (devBrowser) assert.equal(location.searchParams.get("__clerk_db_jwt"), devBrowser, context);
  assert.equal(hop.headers.get("cache-control"), "no-store", context);
  assert.equal(hop.headers.get("x-clerk-auth-status"), "handshake", context);
  assert.equal(hop.headers.get("x-clerk-auth-reason"), reason, context);
  const counter = hop.headers.getSetCookie().find((header) => header.startsWith("__clerk_redirect_count="));
  assert.equal(counter, `__clerk_redirect_count=${count}; SameSite=Lax; HttpOnly; Max-Age=2`, context);
}
