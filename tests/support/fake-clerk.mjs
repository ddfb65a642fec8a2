// A local fake of the Clerk Backend API, for end-to-end tests of the Worker and the Next.js
// package. It serves only the endpoints clerk-edge-guard calls, shaped after the OpenAPI
// description in tests/fixtures/reference/clerk-backend-api.yml (tests/js/fake-clerk.test.mjs
// fails when the two drift apart), and lets a test rotate keys, seed users and sessions,
// and inject faults (429, 5xx, slow answers, answers that never come).
//
// Node >= 20, ESM, node: built-ins only.
//
//   const clerk = await startFakeClerk({ secretKey: "sk_test_x", jwks });
//   clerk.addSession({ id: "sess_a", user_id: "user_1" });
//   const nonce = clerk.addHandshakePayload(["__session=…; Path=/"]); // redeemable once
//   clerk.setFault("revokeSession", { kind: "rate-limit", retryAfter: 1, times: 2 });
//   ... point CLERK_API_URL at clerk.url ...
//   await clerk.close();

import { randomBytes, randomUUID } from "node:crypto";

import { sendJson, serveLocal } from "./http-fake.mjs";

/** Path prefix of every route: the spec's server is https://api.clerk.com/v1. */
export const API_PREFIX = "/v1";

/** Default secret key; tests that check auth pass their own. */
export const DEFAULT_SECRET_KEY = "sk_test_fake_clerk_secret_key";

/**
 * The routes the fake serves: spec path template (below API_PREFIX), method, and every status
 * the route itself can answer. `undocumented` lists statuses the live API answers but the spec
 * does not document for that operation, each with why; the spec test fails if the spec starts
 * documenting one (so the note gets removed) or if the fake answers anything not accounted for.
 */
export const ROUTES = Object.freeze([
  { name: "jwks", method: "GET", path: "/jwks", statuses: [200], undocumented: {} },
  {
    name: "listSessions",
    method: "GET",
    path: "/sessions",
    statuses: [200, 400, 422],
    undocumented: {},
  },
  {
    name: "revokeSession",
    method: "POST",
    path: "/sessions/{session_id}/revoke",
    statuses: [200, 404],
    rejects: [400],
    undocumented: {},
  },
  {
    name: "banUser",
    method: "POST",
    path: "/users/{user_id}/ban",
    statuses: [200, 404],
    rejects: [402],
    undocumented: { 404: "the live API answers resource_not_found for an unknown user_id" },
  },
  {
    name: "unbanUser",
    method: "POST",
    path: "/users/{user_id}/unban",
    statuses: [200, 404],
    rejects: [402],
    undocumented: { 404: "the live API answers resource_not_found for an unknown user_id" },
  },
]);

/**
 * Routes the fake serves that the spec names without describing: Clerk lists their paths
 * with no operations (`{}`), so the spec test (tests/js/fake-clerk.test.mjs) cannot check
 * them; tests/js/fake-frontend-api.test.mjs checks that the spec still lists each path
 * without operations, and the answers' shape against `@clerk/backend` (the SDK that calls
 * them). `reason` says where the shape comes from.
 */
export const UNDOCUMENTED_ROUTES = Object.freeze([
  {
    name: "handshakePayload",
    method: "GET",
    path: "/clients/handshake_payload",
    statuses: [200, 400, 404],
    reason:
      "the spec lists /clients/handshake_payload with no operations (`{}`): Clerk keeps it " +
      "internal. Shape from @clerk/backend 3.25.0 (ClientAPI.getHandshakePayload and the " +
      "handshake service): GET ?nonce=<n> with the secret key answers " +
      '{"directives":["<Set-Cookie>",…]}; a nonce is redeemable once, an unknown or used ' +
      "one is resource_not_found (404), a missing one form_param_missing (400).",
  },
]);

/**
 * Statuses any route may answer besides its own: 401 for a missing or wrong secret key (the
 * spec's global `security: bearerAuth`), 429 and 5xx only when a test injects them.
 */
export const GLOBAL_STATUSES = Object.freeze({
  401: "global bearerAuth security: AuthenticationInvalid",
  429: "fault injection: TooManyRequests",
  "5xx": "fault injection",
});

/** `status` filter values of GET /sessions (the spec's enum for that parameter). */
export const SESSION_STATUS_FILTERS = Object.freeze([
  "abandoned",
  "active",
  "ended",
  "expired",
  "removed",
  "replaced",
  "revoked",
]);

/** The spec's LimitParameter: default 10, 1..=500; OffsetParameter: >= 0. */
export const LIMIT = Object.freeze({ default: 10, minimum: 1, maximum: 500 });

/**
 * Forms of the GET /sessions answer: "array" (the spec's Session.List, the default),
 * "paginated" (always `{data, total_count}`), "auto" (`{data, total_count}` only when the
 * request says `paginated=true`, as @clerk/backend's paginated calls expect).
 */
export const SESSION_LIST_FORMS = Object.freeze(["array", "paginated", "auto"]);

const DAY_MS = 24 * 60 * 60 * 1000;

const compiledRoutes = [...ROUTES, ...UNDOCUMENTED_ROUTES].map((route) => ({
  ...route,
  pattern: new RegExp(
    "^" +
      API_PREFIX +
      route.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[a-z_]+\}/g, "([^/]+)") +
      "$",
  ),
  params: [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]),
}));

/** A Session object with every field the spec marks required. */
export function makeSession(fields, now = Date.now()) {
  if (!fields || typeof fields.user_id !== "string") {
    throw new TypeError("makeSession needs a user_id");
  }
  return {
    object: "session",
    id: fields.id ?? `sess_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    user_id: fields.user_id,
    client_id: fields.client_id ?? `client_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    actor: null,
    status: "active",
    last_active_organization_id: null,
    last_active_at: now,
    expire_at: now + 7 * DAY_MS,
    abandon_at: now + 30 * DAY_MS,
    updated_at: now,
    created_at: now,
    ...fields,
  };
}

/** A User object with every field the spec marks required. */
export function makeUser(fields, now = Date.now()) {
  if (!fields || typeof fields.id !== "string") throw new TypeError("makeUser needs an id");
  return {
    id: fields.id,
    object: "user",
    external_id: null,
    primary_email_address_id: null,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    username: null,
    first_name: null,
    last_name: null,
    image_url: "",
    has_image: false,
    public_metadata: {},
    private_metadata: {},
    unsafe_metadata: {},
    email_addresses: [],
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    password_enabled: false,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    last_sign_in_at: null,
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: null,
    updated_at: now,
    created_at: now,
    delete_self_enabled: true,
    create_organization_enabled: true,
    last_active_at: null,
    legal_accepted_at: null,
    ...fields,
  };
}

/** Clerk's error body: `{"errors":[{message, long_message, code}], "clerk_trace_id"}`. */
export function clerkErrors(code, message, longMessage = message) {
  return {
    errors: [{ message, long_message: longMessage, code }],
    clerk_trace_id: randomUUID().replaceAll("-", ""),
  };
}

const FAULT_KINDS = new Set(["rate-limit", "error", "reject", "delay", "hang"]);

/** Spec-documented refusals a route can be told to answer (`rejects` of ROUTES). */
const REJECT_CODES = Object.freeze({
  400: ["bad_request", "Bad request"],
  402: ["payment_required", "This feature requires a paid plan"],
});

function checkFault(fault, scope) {
  if (fault === null) return null;
  if (!fault || !FAULT_KINDS.has(fault.kind)) {
    throw new TypeError(`fault.kind must be one of ${[...FAULT_KINDS].join(", ")}`);
  }
  const times = fault.times ?? Infinity;
  if (!(times > 0)) throw new TypeError("fault.times must be > 0 (or omitted: until cleared)");
  if (fault.kind === "error" && !(fault.status >= 500 && fault.status <= 599)) {
    throw new TypeError("an error fault needs a 5xx status");
  }
  if (fault.kind === "reject") {
    const route = ROUTES.find((r) => r.name === scope);
    if (!route?.rejects?.includes(fault.status)) {
      throw new TypeError(`a reject fault needs a route and one of its spec statuses (${route?.rejects ?? "none"})`);
    }
  }
  if (fault.kind === "delay" && !(fault.ms >= 0)) throw new TypeError("a delay fault needs ms");
  return { retryAfter: 1, ...fault, times };
}

/**
 * Starts the fake on 127.0.0.1, on an ephemeral port unless `options.port` is given.
 *
 * options: secretKey (default DEFAULT_SECRET_KEY), jwks ({keys: [...]}), users and sessions
 * (partial objects, completed by makeUser/makeSession), sessionListForm (SESSION_LIST_FORMS),
 * now (() => ms), log (a function given one line per request; never the secret).
 *
 * Returns { url, port, close(), state, setFault(scope, fault), clearFaults(), requests,
 * addUser(fields), addSession(fields), addHandshakePayload(directives, nonce?) -> nonce,
 * setJwks(jwks), setSessionListForm(form) }.
 * state: { users: Map, sessions: Map, jwks, sessionListForm, faults: Map, handshakePayloads:
 * Map nonce -> { directives, redeemed } } (live, mutable).
 * requests: the log, one entry per request: { method, path, query, route, auth: "present" |
 * "absent", authorized, apiVersion, status, fault }.
 * A fault is { kind: "rate-limit", retryAfter?: seconds (1), times? } | { kind: "error",
 * status: 5xx, times? } | { kind: "reject", status: one of the route's spec `rejects` (400,
 * 402), times? } | { kind: "delay", ms, times? } | { kind: "hang", times? }; times
 * (default: until cleared) counts the requests it answers. scope is a route name of ROUTES
 * or UNDOCUMENTED_ROUTES, or "*" (every route); a route's own fault wins over "*".
 * setFault(scope, null) clears it.
 */
export async function startFakeClerk(options = {}) {
  const secretKey = options.secretKey ?? DEFAULT_SECRET_KEY;
  const now = options.now ?? (() => Date.now());
  const log = options.log ?? null;
  const state = {
    users: new Map(),
    sessions: new Map(),
    jwks: options.jwks ?? { keys: [] },
    sessionListForm: "array",
    faults: new Map(),
    handshakePayloads: new Map(),
  };
  const requests = [];
  const timers = new Set();

  function addUser(fields) {
    const user = makeUser(fields, now());
    state.users.set(user.id, user);
    return user;
  }

  function addSession(fields) {
    const session = makeSession(fields, now());
    if (!state.users.has(session.user_id)) addUser({ id: session.user_id });
    state.sessions.set(session.id, session);
    return session;
  }

  function setSessionListForm(form) {
    if (!SESSION_LIST_FORMS.includes(form)) {
      throw new TypeError(`sessionListForm must be one of ${SESSION_LIST_FORMS.join(", ")}`);
    }
    state.sessionListForm = form;
  }

  function setJwks(jwks) {
    if (!jwks || !Array.isArray(jwks.keys)) throw new TypeError("jwks must be { keys: [...] }");
    state.jwks = jwks;
  }

  function setFault(scope, fault) {
    if (scope !== "*" && !compiledRoutes.some((route) => route.name === scope)) {
      throw new TypeError(`unknown fault scope ${scope}: use "*" or a name of ROUTES or UNDOCUMENTED_ROUTES`);
    }
    const checked = checkFault(fault, scope);
    if (checked) state.faults.set(scope, checked);
    else state.faults.delete(scope);
  }

  /**
   * Stores handshake directives (Set-Cookie strings) under a fresh nonce (or `nonce`) and
   * returns the nonce: `GET /v1/clients/handshake_payload?nonce=` answers them once.
   */
  function addHandshakePayload(directives, nonce = randomBytes(24).toString("base64url")) {
    if (!Array.isArray(directives) || !directives.every((d) => typeof d === "string")) {
      throw new TypeError("directives must be an array of Set-Cookie strings");
    }
    if (typeof nonce !== "string" || nonce === "" || state.handshakePayloads.has(nonce)) {
      throw new TypeError("the nonce must be a new, non-empty string");
    }
    state.handshakePayloads.set(nonce, { directives: [...directives], redeemed: false });
    return nonce;
  }

  for (const user of options.users ?? []) addUser(user);
  for (const session of options.sessions ?? []) addSession(session);
  setSessionListForm(options.sessionListForm ?? "array");

  function takeFault(routeName) {
    for (const scope of [routeName, "*"]) {
      const fault = state.faults.get(scope);
      if (!fault) continue;
      fault.times -= 1;
      if (fault.times <= 0) state.faults.delete(scope);
      return fault;
    }
    return null;
  }

  const handlers = {
    jwks: () => [200, state.jwks],

    listSessions: (_params, query) => {
      const userId = query.get("user_id");
      const clientId = query.get("client_id");
      if (!userId && !clientId) {
        return [
          400,
          clerkErrors(
            "form_param_missing",
            "missing query parameter",
            "At least one of user_id or client_id is required",
          ),
        ];
      }
      const status = query.get("status");
      if (status !== null && !SESSION_STATUS_FILTERS.includes(status)) {
        return [422, clerkErrors("form_param_value_invalid", "is invalid", `status is invalid`)];
      }
      const limit = intParam(query, "limit", LIMIT.default);
      const offset = intParam(query, "offset", 0);
      if (limit === null || limit < LIMIT.minimum || limit > LIMIT.maximum) {
        return [
          422,
          clerkErrors(
            "form_param_value_invalid",
            "is invalid",
            `limit must be between ${LIMIT.minimum} and ${LIMIT.maximum}`,
          ),
        ];
      }
      if (offset === null || offset < 0) {
        return [
          422,
          clerkErrors("form_param_value_invalid", "is invalid", "offset must be >= 0"),
        ];
      }
      const matching = [...state.sessions.values()]
        .map((session, index) => ({ session, index }))
        .filter(({ session }) => (!userId || session.user_id === userId))
        .filter(({ session }) => (!clientId || session.client_id === clientId))
        .filter(({ session }) => (!status || session.status === status))
        // Newest first, as the spec says; later insertion first on equal times.
        .sort((a, b) => b.session.created_at - a.session.created_at || b.index - a.index)
        .map(({ session }) => session);
      const page = matching.slice(offset, offset + limit);
      const paginated =
        state.sessionListForm === "paginated" ||
        (state.sessionListForm === "auto" && query.get("paginated") === "true");
      return [200, paginated ? { data: page, total_count: matching.length } : page];
    },

    revokeSession: ({ session_id }) => {
      const session = state.sessions.get(session_id);
      if (!session) return notFound();
      session.status = "revoked";
      session.updated_at = now();
      return [200, session];
    },

    banUser: ({ user_id }) => {
      const user = state.users.get(user_id);
      if (!user) return notFound();
      user.banned = true;
      user.updated_at = now();
      // The spec: "all their sessions are revoked" (pending ones too, not just active).
      for (const session of state.sessions.values()) {
        if (session.user_id === user_id && ["active", "pending"].includes(session.status)) {
          session.status = "revoked";
          session.updated_at = now();
        }
      }
      return [200, user];
    },

    handshakePayload: (_params, query) => {
      const nonce = query.get("nonce");
      if (!nonce) {
        return [
          400,
          clerkErrors("form_param_missing", "missing query parameter", "nonce is required"),
        ];
      }
      const payload = state.handshakePayloads.get(nonce);
      if (!payload || payload.redeemed) return notFound();
      payload.redeemed = true;
      return [200, { directives: payload.directives }];
    },

    unbanUser: ({ user_id }) => {
      const user = state.users.get(user_id);
      if (!user) return notFound();
      user.banned = false;
      user.updated_at = now();
      return [200, user];
    },
  };

  function send(res, entry, status, body, headers = {}) {
    entry.status = status;
    if (log) {
      log(
        `fake-clerk ${entry.method} ${entry.path} auth=${entry.auth}` +
          `${entry.fault ? ` fault=${entry.fault}` : ""} -> ${status}`,
      );
    }
    sendJson(res, status, body, headers);
  }

  function later(ms, fn) {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  function handle(req, res) {
    const url = new URL(req.url, "http://fake-clerk.invalid");
    const authorization = req.headers.authorization;
    const entry = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      route: null,
      auth: authorization ? "present" : "absent",
      authorized: authorization === `Bearer ${secretKey}`,
      apiVersion: req.headers["clerk-api-version"] ?? null,
      status: null,
      fault: null,
    };
    requests.push(entry);

    const onPath = compiledRoutes.filter((route) => route.pattern.test(url.pathname));
    const route = onPath.find((candidate) => candidate.method === req.method);
    if (!route) {
      if (onPath.length > 0) {
        return send(
          res,
          entry,
          405,
          clerkErrors("method_not_allowed", "method not allowed"),
          { allow: onPath.map((candidate) => candidate.method).join(", ") },
        );
      }
      return send(res, entry, 404, notFound()[1]);
    }
    entry.route = route.name;

    const answer = () => {
      if (!entry.authorized) {
        return send(
          res,
          entry,
          401,
          clerkErrors(
            "authentication_invalid",
            "Invalid authentication",
            "Unable to authenticate the request, you need to supply an active API key",
          ),
        );
      }
      const match = route.pattern.exec(url.pathname);
      const params = Object.fromEntries(
        route.params.map((name, index) => [name, decodeURIComponent(match[index + 1])]),
      );
      const [status, body] = handlers[route.name](params, url.searchParams);
      send(res, entry, status, body);
    };

    const fault = takeFault(route.name);
    if (!fault) return answer();
    entry.fault = fault.kind;
    switch (fault.kind) {
      case "rate-limit":
        return send(
          res,
          entry,
          429,
          clerkErrors("too_many_requests", "Too many requests", "Too many requests, retry later"),
          { "retry-after": String(fault.retryAfter) },
        );
      case "error":
        return send(
          res,
          entry,
          fault.status,
          clerkErrors("internal_clerk_error", "Oops, an unexpected error occurred"),
        );
      case "reject":
        return send(res, entry, fault.status, clerkErrors(...REJECT_CODES[fault.status]));
      case "delay":
        return later(fault.ms, answer);
      case "hang":
        return undefined; // close() destroys the socket
    }
  }

  const { url, port, close } = await serveLocal(handle, {
    port: options.port,
    errorBody: (error) => clerkErrors("fake_clerk_bug", String(error?.message)),
    onClose: () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  });

  return {
    url,
    port,
    close,
    state,
    setFault,
    clearFaults: () => state.faults.clear(),
    requests,
    addUser,
    addSession,
    addHandshakePayload,
    setJwks,
    setSessionListForm,
  };
}

function notFound() {
  return [404, clerkErrors("resource_not_found", "not found", "Resource not found")];
}

function intParam(query, name, fallback) {
  const raw = query.get(name);
  if (raw === null) return fallback;
  return /^-?\d{1,9}$/.test(raw) ? Number(raw) : null;
}
