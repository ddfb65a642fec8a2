// The identity the edge forwards, read back in server code: the `x-clerk-*` request headers
// under their signature (`x-clerk-edge-signature`, src/policy/signature.rs), and `has()`
// over them, as Clerk's `auth().has({ role, permission })`. Plain JavaScript and WebCrypto:
// no wasm, so server code (server.js) and any Node origin can use it.

/** The signed headers, in the signed text's order (src/policy/signature.rs). */
const SIGNED_HEADERS = [
  "x-clerk-auth-status",
  "x-clerk-auth-reason",
  "x-clerk-user-id",
  "x-clerk-session-id",
  "x-clerk-org-id",
  "x-clerk-org-role",
  "x-clerk-org-slug",
  "x-clerk-org-permissions",
];
const SIGNATURE_HEADER = "x-clerk-edge-signature";
const DOMAIN = "clerk-edge-guard identity v1";
/** How old a signature may be: a request's server code runs within it. */
export const SIGNATURE_MAX_AGE_MS = 5 * 60 * 1000;
/** How far in the future a signature may be dated (the edge's clock may run ahead). */
const SIGNATURE_MAX_FUTURE_MS = 60 * 1000;
const STATUSES = new Set(["signed-in", "signed-out", "bypassed"]);

const utf8 = new TextEncoder();
const hmacKeys = new Map(); // secret key -> Promise<CryptoKey>

function hmacKey(secretKey) {
  let key = hmacKeys.get(secretKey);
  if (!key) {
    if (hmacKeys.size >= 4) hmacKeys.clear();
    key = globalThis.crypto.subtle.importKey("raw", utf8.encode(secretKey), { name: "HMAC", hash: "SHA-256" }, false, [
      "verify",
    ]);
    hmacKeys.set(secretKey, key);
  }
  return key;
}

function base64urlBytes(text) {
  if (!/^[A-Za-z0-9_-]{43}$/.test(text)) return null;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** `get(name)` over a `Headers`, a plain record, or Next's `ReadonlyHeaders`. */
function headerGetter(headers) {
  if (headers && typeof headers.get === "function") return (name) => headers.get(name);
  const record = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === "string") record[name.toLowerCase()] = value;
  }
  return (name) => record[name] ?? null;
}

/** Why the identity headers cannot be trusted, as an error that says what to do. */
export class IdentityHeadersError extends Error {
  constructor(problem, message) {
    super(message);
    this.name = "IdentityHeadersError";
    /** `no-secret-key`, `unsigned`, `bad-signature`, `stale-signature`, `unknown-status`. */
    this.problem = problem;
  }
}

/**
 * Checks the identity headers of a request forwarded by the edge (the Next.js middleware or
 * the Worker) and answers the auth state, or throws an {@link IdentityHeadersError} when
 * they are not the edge's: no signature (the edge did not see this request), a signature
 * that does not verify (headers written by someone else), or one older than 5 minutes.
 *
 * @param {Headers | Record<string, string>} headers the request's headers
 * @param {{ secretKey?: string, now?: number }} [options] `secretKey`: default
 *   `process.env.CLERK_SECRET_KEY`, the key the edge signs with
 */
export async function verifyIdentityHeaders(headers, options = {}) {
  const secretKey = options.secretKey ?? globalThis.process?.env?.CLERK_SECRET_KEY;
  if (typeof secretKey !== "string" || secretKey === "") {
    throw new IdentityHeadersError(
      "no-secret-key",
      "clerk-edge-guard: cannot check the identity headers: CLERK_SECRET_KEY is not set in this " +
        "server's environment. The edge signs them with it; set the same value here.",
    );
  }
  const get = headerGetter(headers);
  const signature = get(SIGNATURE_HEADER);
  if (signature === null) {
    throw new IdentityHeadersError(
      "unsigned",
      "clerk-edge-guard: this request carries no identity signed by the edge (no " +
        `${SIGNATURE_HEADER}): the middleware did not run for this route. Make the ` +
        "middleware's `config.matcher` include it (or, behind the Worker, make sure requests " +
        "cannot reach the origin directly). Identity headers are not trusted without it.",
    );
  }
  const [version, at, mac, extra] = signature.split(",");
  const signedAt = /^\d{1,15}$/.test(at ?? "") ? Number(at) : NaN;
  const bytes = version === "v1" && extra === undefined && Number.isSafeInteger(signedAt) ? base64urlBytes(mac ?? "") : null;
  const values = SIGNED_HEADERS.map((name) => get(name));
  let valid = false;
  if (bytes) {
    let text = `${DOMAIN}\n${signedAt}\n`;
    for (const value of values) text += `${value ?? ""}\n`;
    valid = await globalThis.crypto.subtle.verify("HMAC", await hmacKey(secretKey), bytes, utf8.encode(text));
  }
  if (!valid) {
    throw new IdentityHeadersError(
      "bad-signature",
      `clerk-edge-guard: the identity headers' signature (${SIGNATURE_HEADER}) does not verify: ` +
        "they were not set by the edge, or the edge signs with another CLERK_SECRET_KEY than " +
        "this server's. Identity headers are not trusted.",
    );
  }
  const now = typeof options.now === "number" ? options.now : Date.now();
  if (now - signedAt > SIGNATURE_MAX_AGE_MS || signedAt - now > SIGNATURE_MAX_FUTURE_MS) {
    throw new IdentityHeadersError(
      "stale-signature",
      `clerk-edge-guard: the identity headers were signed ${Math.round((now - signedAt) / 1000)} s ` +
        "from now (at most 300 s old, 60 s ahead): a replayed request, or clocks far apart.",
    );
  }
  if (!STATUSES.has(values[0])) {
    throw new IdentityHeadersError("unknown-status", `clerk-edge-guard: unknown x-clerk-auth-status ${JSON.stringify(values[0])}`);
  }
  return authState(fieldsOf(values));
}

/** The auth state of the `x-clerk-*` headers the edge set, given as `[[name, value]...]`. */
export function stateFromPairs(pairs) {
  return authState(fieldsOf(SIGNED_HEADERS.map((name) => pairs.find(([n]) => n === name)?.[1] ?? null)));
}

/** The auth-state fields of the signed headers' values, in their order. */
function fieldsOf([status, reason, userId, sessionId, orgId, orgRole, orgSlug, orgPermissions]) {
  return { status, reason, userId, sessionId, orgId, orgRole, orgSlug, orgPermissions };
}

/**
 * The auth object of a forwarded identity: `{ status, reason, isAuthenticated, userId,
 * sessionId, orgId, orgRole, orgSlug, orgPermissions, has }` (absent values are `null`, as
 * in Clerk's signed-out auth object).
 */
export function authState({ status, reason, userId, sessionId, orgId, orgRole, orgSlug, orgPermissions }) {
  const auth = {
    status,
    reason: reason || null,
    isAuthenticated: Boolean(userId) && status !== "signed-out",
    userId: userId || null,
    sessionId: sessionId || null,
    orgId: orgId || null,
    orgRole: orgRole || null,
    orgSlug: orgSlug || null,
    orgPermissions: orgPermissions ? orgPermissions.split(",") : orgId ? [] : null,
  };
  auth.has = (params) => unmet(auth, params) === null;
  return auth;
}

/** The keys of `protect(params)` that `has()` reads (the rest are options). */
const AUTHORIZATION_KEYS = ["role", "permission", "feature", "plan", "reverification"];

/**
 * `auth.protect(paramsOrPredicate, maybeOptions)`'s arguments read as Clerk's reads them:
 * `{ options, missing }`. `options` holds `unauthenticatedUrl` / `unauthorizedUrl`;
 * `missing(auth)` is what a signed-in `auth` lacks (see {@link unmet}; `{}` when the
 * predicate said no) or `null`, asked only once the request is known to be signed in.
 * Nothing asked: signed in (or bypassed) is enough.
 */
export function protectArguments(paramsOrPredicate, maybeOptions) {
  const options = {
    ...(paramsOrPredicate && typeof paramsOrPredicate === "object" ? paramsOrPredicate : {}),
    ...(maybeOptions ?? {}),
  };
  const missing = (auth) => {
    if (typeof paramsOrPredicate === "function") return paramsOrPredicate(auth.has) === true ? null : {};
    const params = {};
    for (const key of AUTHORIZATION_KEYS) if (options[key] !== undefined) params[key] = options[key];
    return Object.keys(params).length > 0 ? unmet(auth, params) : null;
  };
  return { options, missing };
}

const SUPPORTED = new Set(["role", "permission"]);
const NOT_SUPPORTED = ["feature", "plan", "reverification"];
const prefixWithOrg = (value) => value.replace(/^(org:)*/, "org:");

/**
 * What `params` asks that `auth` does not have: `null` when `has(params)` is true, else
 * `{ role, permission }` with the unmet parts (`{}` when nothing was asked: Clerk's `has({})`
 * is false). Follows `@clerk/shared`'s `checkOrgAuthorization`: role and permission both
 * (AND), compared with one `org:` prefix, an organization required.
 */
export function unmet(auth, params) {
  if (params === null || typeof params !== "object") {
    throw new TypeError("clerk-edge-guard: has() takes { role?, permission? }");
  }
  for (const key of NOT_SUPPORTED) {
    if (params[key] !== undefined) {
      throw new TypeError(`clerk-edge-guard: has({ ${key} }) is not supported (role and permission are); nothing was let through`);
    }
  }
  const asked = Object.keys(params).filter((key) => SUPPORTED.has(key) && params[key] !== undefined);
  if (!auth.userId || asked.length === 0) return { role: params.role, permission: params.permission };
  const out = {};
  if (params.role !== undefined) {
    const ok =
      typeof params.role === "string" &&
      Boolean(auth.orgId) &&
      typeof auth.orgRole === "string" &&
      auth.orgRole !== "" &&
      prefixWithOrg(auth.orgRole) === prefixWithOrg(params.role);
    if (!ok) out.role = String(params.role);
  }
  if (params.permission !== undefined) {
    const ok =
      typeof params.permission === "string" &&
      Boolean(auth.orgId) &&
      Array.isArray(auth.orgPermissions) &&
      auth.orgPermissions.includes(prefixWithOrg(params.permission));
    if (!ok) out.permission = String(params.permission);
  }
  return Object.keys(out).length === 0 ? null : out;
}
