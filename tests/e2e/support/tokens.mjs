// Session tokens for end-to-end tests, minted with `jose` (an implementation independent of
// the Worker's Rust verifier): RS256 keys with a `kid`, their PEM and JWKS forms, Clerk-shaped
// claims (v1 and v2 organization claims), and the broken tokens a verifier must refuse.
import { randomBytes } from "node:crypto";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";

/** A Clerk-like Frontend API issuer for test tokens. */
export const TEST_ISSUER = "https://clerk.edge-guard.test";

/** Seconds since the epoch, now. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A fresh RS256 signing key.
 * @param {string} [kid] the key id put in the JWK and in tokens' headers.
 * @returns {Promise<{ kid: string, privateKey: CryptoKey, publicKey: CryptoKey, pem: string, jwk: object }>}
 *   `pem`: SPKI public key (for `CLERK_JWT_KEY`); `jwk`: public JWK as Clerk's `/v1/jwks` serves it.
 */
export async function createSigningKey(kid = `ins_${randomBytes(6).toString("hex")}`) {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  return { kid, privateKey, publicKey, pem, jwk };
}

/** A JWKS document (`{"keys": [...]}`) of the given signing keys' public halves. */
export const jwksOf = (...keys) => ({ keys: keys.map((key) => key.jwk) });

/**
 * Clerk session token claims, valid for `expiresIn` seconds from `issuedAt`.
 * @param {object} [options]
 * @param {string} [options.sub] user id.
 * @param {string} [options.sid] session id.
 * @param {number} [options.issuedAt] `iat` (seconds), default now.
 * @param {number} [options.expiresIn] seconds from `issuedAt` to `exp`, default 600.
 * @param {object} [options.extra] more claims (e.g. `org_id`, or `v: 2` with `o`).
 */
export function sessionClaims({
  sub = "user_e2e_1",
  sid = "sess_e2e_1",
  issuedAt = nowSeconds(),
  expiresIn = 600,
  extra = {},
} = {}) {
  return {
    iss: TEST_ISSUER,
    sub,
    sid,
    iat: issuedAt,
    nbf: issuedAt - 10,
    exp: issuedAt + expiresIn,
    ...extra,
  };
}

/** A token signed by `key` (RS256, its kid) over `claims`; `header` overrides header fields. */
export function mintToken(key, claims = sessionClaims(), header = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: key.kid, ...header })
    .sign(key.privateKey);
}

/**
 * A token whose `exp` passed `secondsAgo` seconds ago (validly signed otherwise): issued
 * 60 s before it expired, as Clerk's session tokens are.
 */
export function mintExpiredToken(key, secondsAgo, claimsOptions = {}) {
  const exp = nowSeconds() - secondsAgo;
  return mintToken(key, sessionClaims({ ...claimsOptions, issuedAt: exp - 60, expiresIn: 60 }));
}

const b64url = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** An unsigned `alg: none` token (jose refuses to make one, so it is built by hand). */
export function unsignedToken(claims = sessionClaims(), kid) {
  const header = { alg: "none", typ: "JWT", ...(kid ? { kid } : {}) };
  return `${b64url(header)}.${b64url(claims)}.`;
}

/** A string that is not a JWT at all. */
export const GARBAGE_TOKEN = "not-a-jwt.garbage";
