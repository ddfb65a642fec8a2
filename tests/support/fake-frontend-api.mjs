// A local fake of Clerk's Frontend API, for end-to-end tests of the handshake: the one
// endpoint a server-side SDK redirects browsers to, `GET /v1/client/handshake`. It keeps one
// "client" (the browser's Clerk session) that a test signs in or out, and answers the way
// Clerk's Frontend API does (see tests/fixtures/reference/handshake.md, section 3):
//
// - production style: sets the cookie `__clerk_handshake_nonce=<nonce>` (or
//   `__clerk_handshake=<jwt>`) and 307s back to `redirect_url`. Cookies ignore ports, so an
//   app on 127.0.0.1:A receives a cookie this fake set on 127.0.0.1:B, as an app on
//   example.com receives one that clerk.example.com set on the registrable domain;
// - development style: 307s to `redirect_url` with `__clerk_handshake_nonce=<nonce>` (or
//   `__clerk_handshake=<jwt>`) added to its query.
//
// A nonce is redeemed at the fake Backend API (tests/support/fake-clerk.mjs, whose instance
// this fake is given: the two share the nonce store), `GET /v1/clients/handshake_payload`.
// The directives are Set-Cookie strings: a fresh session token (RS256, Clerk's v2 claims),
// `__client_uat`, and the deletion of the nonce cookie; signed out, the deletion of
// `__session` and `__client_uat=0`. "broken" mode signs with another key of the same `kid`,
// as an app whose keys do not match its Clerk instance sees it.
//
// Node >= 20, ESM, node: built-ins plus the test token helpers (jose).
//
//   const clerk = await startFakeClerk({ secretKey, jwks: jwksOf(key) });
//   const fapi = await startFakeFrontendApi({ clerk, key, style: "production" });
//   fapi.signIn({ userId: "user_1", sessionId: "sess_1" });
//   ... point CLERK_PROXY_URL at fapi.url ...
//   fapi.hits  // one entry per request: { method, path, query, cookies, status, outcome }
//   await fapi.close();

import { TEST_ISSUER, createSigningKey, mintToken, nowSeconds, sessionClaims } from "../e2e/support/tokens.mjs";
import { clerkErrors } from "./fake-clerk.mjs";
import { sendJson, serveLocal } from "./http-fake.mjs";

/** The path of the handshake endpoint. */
export const HANDSHAKE_PATH = "/v1/client/handshake";

/** `style`: how the result comes back to the app. */
export const STYLES = Object.freeze(["production", "development"]);
/** `payload`: a nonce to redeem at the Backend API, or the directives in a signed JWT. */
export const PAYLOADS = Object.freeze(["nonce", "token"]);
/** `mode`: "ok", or "broken" (sessions and handshake tokens signed with another key). */
export const MODES = Object.freeze(["ok", "broken"]);

/** Ten years, the Max-Age Clerk gives `__client_uat`. */
const CLIENT_UAT_MAX_AGE = 315360000;

/** The query parameters Clerk's SDKs send, in their order (handshake.md, section 2). */
export const HANDSHAKE_QUERY = Object.freeze([
  "redirect_url",
  "__clerk_api_version",
  "suffixed_cookies",
  "__clerk_hs_reason",
  "format",
  "__session",
  "__clerk_db_jwt",
]);

/**
 * The publishable key of an instance whose Frontend API is `issuer`: `pk_live_` (production)
 * or `pk_test_` (development) + base64("<host>$") without padding, as Clerk's keys are.
 */
export function publishableKeyFor(issuer = TEST_ISSUER, instanceType = "production") {
  const prefix = instanceType === "production" ? "pk_live_" : "pk_test_";
  return prefix + Buffer.from(`${new URL(issuer).host}$`).toString("base64").replace(/=+$/, "");
}

/** Parses a Cookie request header into name -> value (first value of a repeated name wins). */
export function parseCookieHeader(header = "") {
  const cookies = {};
  for (const part of header.split(";")) {
    const at = part.indexOf("=");
    if (at < 0) continue;
    const name = part.slice(0, at).trim();
    if (name && !(name in cookies)) cookies[name] = part.slice(at + 1).trim();
  }
  return cookies;
}

/**
 * Starts the fake on 127.0.0.1 (ephemeral port unless `options.port`).
 *
 * options:
 * - clerk: a startFakeClerk() instance (required for the nonce payload: it stores the nonces);
 * - key: the instance's signing key from createSigningKey() (required);
 * - issuer: `iss` of the tokens, the instance's Frontend API URL (default TEST_ISSUER);
 * - style, payload, mode: see STYLES, PAYLOADS, MODES (default production, nonce, ok);
 * - handshakeTokenHeader: extra JWT header fields of handshake tokens (e.g. `{ cat: "…" }`);
 * - tokenLifetime: seconds from `iat` to `exp` of session tokens (default 60, as Clerk's);
 * - requireDevBrowser: development style answers 400 without `__clerk_db_jwt` (default true);
 * - log: a function given one line per request (never a token or a nonce).
 *
 * Returns { url, port, close(), signIn({ userId, sessionId, azp? }), signOut(),
 * setStyle(s), setPayload(p), setMode(m), setFault(f), hits, clear(), state, lastToken() }.
 */
export async function startFakeFrontendApi(options = {}) {
  const { clerk, key } = options;
  if (!key?.privateKey || !key?.kid) throw new TypeError("startFakeFrontendApi needs the instance's signing key");
  const issuer = options.issuer ?? TEST_ISSUER;
  const log = options.log ?? null;
  const tokenLifetime = options.tokenLifetime ?? 60;
  const requireDevBrowser = options.requireDevBrowser ?? true;
  const handshakeTokenHeader = options.handshakeTokenHeader ?? {};
  // Another key pair that claims the instance's kid: what a mismatched key setup looks like.
  const wrongKey = options.wrongKey ?? (await createSigningKey(key.kid));

  const state = {
    style: "production",
    payload: "nonce",
    mode: "ok",
    // An injected fault (setFault), or null.
    fault: null,
    // The client: null when signed out.
    session: null,
    lastToken: null,
  };
  const hits = [];

  const setStyle = (style) => {
    if (!STYLES.includes(style)) throw new TypeError(`style must be one of ${STYLES.join(", ")}`);
    state.style = style;
  };
  const setPayload = (payload) => {
    if (!PAYLOADS.includes(payload)) throw new TypeError(`payload must be one of ${PAYLOADS.join(", ")}`);
    if (payload === "nonce" && !clerk?.addHandshakePayload) {
      throw new TypeError("the nonce payload needs the fake Backend API: pass options.clerk");
    }
    state.payload = payload;
  };
  const setMode = (mode) => {
    if (!MODES.includes(mode)) throw new TypeError(`mode must be one of ${MODES.join(", ")}`);
    state.mode = mode;
  };
  /**
   * Makes every request fail until cleared (null): { kind: "error", status: 5xx } answers
   * that status with Clerk's error shape, { kind: "hang" } never answers (until close()),
   * { kind: "delay", ms } answers as usual after `ms`.
   */
  const setFault = (fault) => {
    if (fault === null) {
      state.fault = null;
      return;
    }
    const ok =
      (fault?.kind === "error" && fault.status >= 500 && fault.status <= 599) ||
      fault?.kind === "hang" ||
      (fault?.kind === "delay" && fault.ms >= 0);
    if (!ok) throw new TypeError("fault must be { kind: 'error', status: 5xx }, { kind: 'hang' }, { kind: 'delay', ms } or null");
    state.fault = { ...fault };
  };
  setStyle(options.style ?? "production");
  setPayload(options.payload ?? "nonce");
  setMode(options.mode ?? "ok");

  function signIn({ userId, sessionId, azp } = {}) {
    if (typeof userId !== "string" || typeof sessionId !== "string") {
      throw new TypeError("signIn needs { userId, sessionId }");
    }
    state.session = { userId, sessionId, azp };
  }
  const signOut = () => {
    state.session = null;
  };

  const signingKey = () => (state.mode === "broken" ? wrongKey : key);

  /** The directives for the current client, as Set-Cookie strings. */
  async function directives(redirectUrl) {
    const out = [];
    if (state.session) {
      const iat = nowSeconds();
      const claims = sessionClaims({
        sub: state.session.userId,
        sid: state.session.sessionId,
        issuedAt: iat,
        expiresIn: tokenLifetime,
        extra: { iss: issuer, azp: state.session.azp ?? redirectUrl.origin, v: 2 },
      });
      const token = await mintToken(signingKey(), claims);
      state.lastToken = token;
      out.push(`__session=${token}; Path=/; SameSite=Lax`);
      out.push(`__client_uat=${iat}; Path=/; SameSite=Lax; Max-Age=${CLIENT_UAT_MAX_AGE}`);
    } else {
      out.push("__session=; Path=/; SameSite=Lax; Max-Age=0");
      out.push(`__client_uat=0; Path=/; SameSite=Lax; Max-Age=${CLIENT_UAT_MAX_AGE}`);
    }
    out.push("__clerk_handshake_nonce=; Path=/; Max-Age=0");
    return out;
  }

  function send(res, entry, status, headers, body) {
    entry.status = status;
    if (log) log(`fake-frontend-api ${entry.method} ${entry.path} ${entry.outcome} -> ${status}`);
    sendJson(res, status, body, { "cache-control": "no-store", ...headers });
  }

  async function handle(req, res) {
    const url = new URL(req.url, "http://fake-frontend-api.invalid");
    const entry = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      queryNames: [...url.searchParams.keys()],
      cookies: Object.keys(parseCookieHeader(req.headers.cookie)),
      style: state.style,
      payload: state.payload,
      mode: state.mode,
      outcome: null,
      status: null,
    };
    hits.push(entry);

    const fault = state.fault;
    if (fault?.kind === "error") {
      entry.outcome = "fault";
      return send(res, entry, fault.status, {}, clerkErrors("internal_clerk_error", "Oops, an unexpected error occurred"));
    }
    if (fault?.kind === "hang") {
      entry.outcome = "hang";
      return;
    }
    if (fault?.kind === "delay") await new Promise((resolve) => setTimeout(resolve, fault.ms));

    if (url.pathname !== HANDSHAKE_PATH) {
      entry.outcome = "not-found";
      return send(res, entry, 404, {}, clerkErrors("resource_not_found", "not found", "Resource not found"));
    }
    if (req.method !== "GET") {
      entry.outcome = "method-not-allowed";
      return send(res, entry, 405, { allow: "GET" }, clerkErrors("method_not_allowed", "method not allowed"));
    }
    const bad = (message) => {
      entry.outcome = "bad-request";
      return send(res, entry, 400, {}, clerkErrors("form_param_missing", "invalid handshake request", message));
    };
    const raw = url.searchParams.get("redirect_url");
    let redirectUrl;
    try {
      redirectUrl = new URL(raw ?? "");
    } catch {
      return bad("redirect_url must be an absolute URL");
    }
    if (!["http:", "https:"].includes(redirectUrl.protocol)) return bad("redirect_url must be http(s)");
    if (url.searchParams.get("format") !== "nonce") return bad("format must be nonce");
    if (state.style === "development" && requireDevBrowser && !url.searchParams.get("__clerk_db_jwt")) {
      entry.outcome = "dev-browser-missing";
      return send(
        res,
        entry,
        401,
        {},
        clerkErrors("dev_browser_unauthenticated", "Browser unauthenticated", "Unable to authenticate this browser for your development instance."),
      );
    }

    const list = await directives(redirectUrl);
    entry.outcome = state.session ? "signed-in" : "signed-out";
    const location = new URL(redirectUrl);
    const headers = {};
    let name;
    let value;
    if (state.payload === "nonce") {
      name = "__clerk_handshake_nonce";
      value = clerk.addHandshakePayload(list);
    } else {
      name = "__clerk_handshake";
      value = await mintToken(signingKey(), { handshake: list }, handshakeTokenHeader);
    }
    if (state.style === "production") {
      headers["set-cookie"] = `${name}=${value}; Path=/; SameSite=Lax; HttpOnly`;
    } else {
      location.searchParams.set(name, value);
    }
    headers.location = location.href;
    return send(res, entry, 307, headers, undefined);
  }

  const { url, port, close } = await serveLocal(handle, {
    port: options.port,
    errorBody: (error) => clerkErrors("fake_frontend_api_bug", String(error?.message)),
  });

  return {
    url,
    port,
    close,
    state,
    hits,
    clear: () => hits.splice(0),
    signIn,
    signOut,
    setStyle,
    setPayload,
    setMode,
    setFault,
    /** The last session token minted (for assertions; never log it). */
    lastToken: () => state.lastToken,
  };
}
