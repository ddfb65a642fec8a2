// Types of the npm package `clerk-edge-guard` (CONTRACT.md section 4). Hand-written: the
// wasm-bindgen glue is an implementation detail behind api.js.

/** Options of {@link verifySessionToken}, named like `@clerk/backend`'s `verifyToken`. */
export interface VerifySessionTokenOptions {
  /** PEM public key (`CLERK_JWT_KEY`): verify with no network call; wins over `jwks`. */
  jwtKey?: string;
  /** A JWKS document, e.g. the body of Clerk's `/v1/jwks`. */
  jwks?: { keys: object[] };
  /** When set, `azp` is required and must be one of these origins. */
  authorizedParties?: string[];
  /** Allowed clock skew in ms, 0..60000; default 5000. */
  clockSkewInMs?: number;
  /** Current time in ms since the epoch; default `Date.now()`. */
  now?: number;
}

/** The outcome of {@link verifySessionToken}; `reason` is one of CONTRACT.md section 3's codes. */
export type VerifySessionTokenResult =
  | { status: "signed-in"; claims: Record<string, unknown> }
  | { status: "signed-out"; reason: string };

/** Verifies a Clerk session token (JWT) the way `@clerk/backend`'s `verifyToken` does. */
export function verifySessionToken(
  token: string,
  options: VerifySessionTokenOptions,
): Promise<VerifySessionTokenResult>;

/** Input of {@link verifyWebhook}: the request's Svix headers and raw body. */
export interface VerifyWebhookInput {
  headers: Headers | Record<string, string>;
  /** The raw request body, exactly as received. */
  body: string;
  /** `whsec_…` signing secret; several, space-separated, during rotation. */
  secret: string;
  /** Current time in ms since the epoch; default `Date.now()`. */
  now?: number;
}

/** The outcome of {@link verifyWebhook}; `reason` is one of CONTRACT.md section 3's webhook codes. */
export type VerifyWebhookResult = { ok: true; event: object } | { ok: false; reason: string };

/** Verifies a Svix-signed Clerk webhook. Synchronous. */
export function verifyWebhook(input: VerifyWebhookInput): VerifyWebhookResult;

/** A configuration: the variables of CONTRACT.md section 1 by name. */
export type ClerkEdgeEnv = Record<string, string | undefined>;

/**
 * Where deny-list entries (revoked sessions and users) and seen webhook ids are kept.
 * Keys: `deny:user:<user_id>`, `deny:session:<session_id>`, `webhook:seen:<svix_id>`.
 * Every method rejects on failure: the middleware then fails closed (500) and the webhook
 * handler answers 500 so that Svix redelivers.
 */
export interface DenyListStore {
  /** The value under `key`, or `null` when there is none (or it expired). */
  get(key: string): Promise<string | null>;
  /** Stores `value` under `key`, expiring after `ttlSeconds` when given. */
  put(key: string, value: string, options?: { ttlSeconds?: number }): Promise<void>;
  /** Removes `key` (no error when absent). */
  delete(key: string): Promise<void>;
}

/**
 * A store in this runtime's memory: per instance only (each serverless instance, edge
 * isolate or `next start` sandbox has its own, lost on restart). The default; right for
 * tests and development. Use a shared store such as {@link upstashStore} in production.
 */
export function memoryStore(): DenyListStore;

/** Options of {@link upstashStore}. */
export interface UpstashStoreOptions {
  /** The database's REST URL (`UPSTASH_REDIS_REST_URL`). */
  url: string;
  /** The database's REST token (`UPSTASH_REDIS_REST_TOKEN`). */
  token: string;
  /** The `fetch` to use; default the global one. */
  fetch?: typeof fetch;
  /** Abandon a command after this long; default 2000 ms. */
  timeoutMs?: number;
}

/** A store over Upstash Redis's REST API with plain `fetch` (edge runtimes included). */
export function upstashStore(options: UpstashStoreOptions): DenyListStore;

/** Options of {@link clerkEdgeMiddleware}. */
export interface ClerkEdgeMiddlewareOptions {
  /**
   * The configuration variables of CONTRACT.md section 1; default `process.env`. Read at
   * the first request (never at build time) and parsed once per env object.
   */
  env?: ClerkEdgeEnv;
  /** The deny-list; default this runtime's {@link memoryStore}. */
  store?: DenyListStore;
  /**
   * The `fetch` used for Backend API calls (the JWKS, and the handshake's nonce exchange
   * `GET /v1/clients/handshake_payload`); default the global one.
   */
  fetch?: typeof fetch;
  /** How long a deny-list read is trusted in this runtime, in ms; default 5000. */
  denyListCacheMs?: number;
}

/** `x-clerk-auth-status` of an answer or a forwarded request. */
export type ClerkAuthStatus = "signed-in" | "signed-out" | "bypassed" | "handshake";

/**
 * `x-clerk-auth-reason` of a signed-out answer or a handshake: `@clerk/backend`'s token error
 * codes, its cookie-path reasons (with a publishable key configured: README "Returning
 * visitors"), and the edge's own.
 */
export type ClerkAuthReason =
  | "token-invalid"
  | "token-invalid-algorithm"
  | "token-invalid-signature"
  | "token-verification-failed"
  | "token-expired"
  | "token-not-active-yet"
  | "token-iat-in-the-future"
  | "token-invalid-authorized-parties"
  | "jwk-kid-mismatch"
  | "jwk-failed-to-resolve"
  | "jwk-remote-failed-to-load"
  | "jwk-remote-invalid"
  | "session-token-and-uat-missing"
  | "session-token-missing"
  | "session-token-but-no-client-uat"
  | "client-uat-but-no-session-token"
  | "session-token-iat-before-client-uat"
  | "session-token-expired-refresh-non-eligible-non-get"
  | "session-token-expired-refresh-non-eligible-no-refresh-cookie"
  | "session-token-nbf"
  | "session-token-iat-in-the-future"
  | "dev-browser-missing"
  | "dev-browser-sync"
  | "primary-domain-cross-origin-sync"
  | "token-type-mismatch"
  | "unexpected-error"
  | "handshake-token-refused"
  | "session-revoked"
  | "user-revoked"
  | "misconfigured";

/** The `event` field of the audit lines the middleware prints. */
export type AuditEventName =
  | "auth.allowed"
  | "auth.denied"
  | "auth.bypassed"
  | "auth.handshake"
  | "auth.handshake_loop"
  | "handshake.nonce_failed"
  | "handshake.token_refused"
  | "handshake.session_refused"
  | "config.invalid"
  | "keys.refresh_failed"
  | "middleware.error";

/** The body of `GET /__clerk/health`. */
export interface HealthReport {
  status: "ok" | "degraded" | "misconfigured";
  key_source: "pem" | "jwks" | null;
  bypass: { mode: "off" | "open" | "grace"; until: string | null };
  handshake:
    | { status: "off"; why: string }
    | {
        status: "on" | "suspended-by-bypass";
        instance: "production" | "development";
        /** The Frontend API host, or `CLERK_PROXY_URL`. */
        frontend_api: string;
      };
  webhooks: { paused: boolean };
  version: string;
  invalid_variables: string[];
}

/**
 * Next.js edge middleware: protects requests as the Worker does (CONTRACT.md section 2).
 * Signed-in and bypassed requests go on with `x-clerk-*` request headers (incoming ones are
 * always removed first); others get 401 JSON, a 307 to `CLERK_SIGN_IN_URL`, or 500 while
 * misconfigured. With a publishable key, expired session cookies of GET documents take
 * Clerk's handshake (307 to the Frontend API, `x-clerk-auth-status: handshake`), and the
 * cookies it sets reach the page's response. Also answers `GET /__clerk/health`. Audit lines
 * go to `console.log`.
 */
export function clerkEdgeMiddleware(
  options?: ClerkEdgeMiddlewareOptions,
): (req: Request) => Promise<Response>;

/** A Clerk webhook event as Clerk sends it (`type`, `data`, `object`, …). */
export interface ClerkWebhookEvent {
  type: string;
  data: Record<string, unknown>;
  object?: string;
  [field: string]: unknown;
}

/** Options of {@link createWebhookHandler}. */
export interface WebhookHandlerOptions {
  /**
   * Called with each verified event, after the deny-list entries were written; the delivery
   * is answered 200 only once it resolved, 500 if it throws (Svix redelivers). Must be
   * idempotent: a redelivery after a failure, or two concurrent deliveries, call it again.
   */
  onEvent?: (event: ClerkWebhookEvent) => unknown | Promise<unknown>;
  /** The configuration; default `process.env`. */
  env?: ClerkEdgeEnv;
  /** The deny-list and the seen-delivery log; default this runtime's {@link memoryStore}. */
  store?: DenyListStore;
}

/**
 * `POST` route handler for Clerk webhooks (Svix): verifies, deny-lists ended sessions and
 * deleted users, de-duplicates by `svix-id`, calls `onEvent`. Answers 200, 400
 * `{"error":"invalid-webhook","reason"}`, 503 with `Retry-After` while paused, or 500.
 */
export function createWebhookHandler(
  options?: WebhookHandlerOptions,
): (req: Request) => Promise<Response>;

/** Options of {@link createRevokeHandler} and {@link createRestoreHandler}. */
export interface AdminHandlerOptions {
  /** The configuration; default `process.env`. */
  env?: ClerkEdgeEnv;
  /** The deny-list; default this runtime's {@link memoryStore}. */
  store?: DenyListStore;
  /** The `fetch` used for the Backend API; default the global one. */
  fetch?: typeof fetch;
}

/**
 * `POST` route handler of the admin revoke route: `{"user_id"}` or `{"session_id"}`, optional
 * `ban`, `reason`, `dry_run`, with `Authorization: Bearer <CLERK_ADMIN_TOKEN>`.
 */
export function createRevokeHandler(
  options?: AdminHandlerOptions,
): (req: Request) => Promise<Response>;

/** `POST` route handler of the admin restore route (`unban` instead of `ban`). */
export function createRestoreHandler(
  options?: AdminHandlerOptions,
): (req: Request) => Promise<Response>;

/** The crate version of this build. */
export function version(): string;
