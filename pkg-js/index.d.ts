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
  | "misconfigured"
  | "role-required"
  | "permission-required"
  | "authorization-required"
  | "public-path";

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
  | "auth.forbidden"
  | "middleware.error";

/**
 * An `auth.*` audit line (README "2. Read the audit log"). One type per field: `status` is
 * always the HTTP status number the edge answered with, `auth_status` the auth outcome.
 */
export interface AuthAuditLine {
  ts: string;
  level: "info" | "warn" | "error";
  event: AuditEventName;
  request_id: string;
  method: string;
  /** Never the query string. */
  path: string;
  ip: string;
  user_agent: string;
  /**
   * The HTTP status of the edge's own answer (401, 307, 500); absent on forwarded requests
   * (`auth.allowed`, `auth.bypassed`), whose line is written before the origin answers.
   */
  status?: number;
  /** The auth outcome, as `x-clerk-auth-status` says it. */
  auth_status?: ClerkAuthStatus;
  reason?: ClerkAuthReason;
  user_id?: string;
  session_id?: string;
  /** `auth.bypassed` only. */
  mode?: "open" | "grace";
  bypass_reason?: string | null;
  until?: string | null;
  /** `auth.forbidden` only: the role the route asked for. */
  required_role?: string;
  /** `auth.forbidden` only: the permission the route asked for. */
  required_permission?: string;
}

/**
 * The line every answered diagnosis prints (`level` `warn` when the overall verdict is
 * `warn` or `fail`): the verdicts only, never a value.
 */
export interface DiagnoseAuditLine {
  ts: string;
  level: "info" | "warn";
  event: "admin.diagnose";
  request_id: string;
  method: string;
  path: string;
  ip: string;
  user_agent: string;
  overall: DiagnoseVerdict;
  /** Check name -> verdict. */
  checks: Record<string, DiagnoseVerdict>;
  status: 200;
  ok: true;
}

/** A diagnosis verdict: `skipped` checks did not run here and do not count in `overall`. */
export type DiagnoseVerdict = "ok" | "warn" | "fail" | "skipped";

/** One check of a {@link DiagnoseReport}: the fields below, plus the check's own facts. */
export interface DiagnoseCheck {
  name:
    | "configuration"
    | "keys"
    | "backend_api"
    | "status_page"
    | "deny_list"
    | "d1"
    | "auth_live"
    | "state";
  verdict: DiagnoseVerdict;
  /** How long the probe took (one attempt), `null` when none ran. */
  took_ms: number | null;
  /** The facts in one line (the text form's row). */
  summary: string;
  /** What to do; `null` when ok. */
  advice: string | null;
  /**
   * The facts: `variables` ({name, state: "set" | "unset" | "invalid", problem?}[]),
   * `source`/`kids`/`cached_keys` (keys), `request`/`status`/`rate_limit` (backend_api),
   * `url`/`reachable`/`indicator`/`description` (status_page), `live` (auth_live),
   * `bypass`/`webhooks`/`handshake`/`health` (state).
   */
  [fact: string]: unknown;
}

/** The JSON body of `GET /__clerk/admin/diagnose` (`?format=text`: the same as text). */
export interface DiagnoseReport {
  /** The worst verdict of the checks. */
  overall: "ok" | "warn" | "fail";
  at: string;
  version: string;
  thresholds: {
    auth_p95_ms: number;
    api_ms: number;
    deny_list_ms: number;
    d1_ms: number;
    status_page_timeout_ms: number;
  };
  checks: DiagnoseCheck[];
}

/** Options of {@link createDiagnoseHandler}. */
export interface DiagnoseHandlerOptions {
  /** The configuration; default `process.env`. */
  env?: ClerkEdgeEnv;
  /** The deny-list store whose read is timed; default this runtime's {@link memoryStore}. */
  store?: DenyListStore;
  /** The `fetch` for the Backend API, the JWKS and the status page; default the global one. */
  fetch?: typeof fetch;
}

/**
 * `GET` route handler of `/__clerk/admin/diagnose` ({@link DiagnoseReport}; text with
 * `?format=text`): needs `Authorization: Bearer <CLERK_ADMIN_TOKEN>` (unset: 404). Times
 * one attempt each of the Backend API, the JWKS, Clerk's status page (`CLERK_STATUS_URL`)
 * and a store read, all at once. Its live section stays empty unless this runtime also
 * protects requests: in Next.js ask the middleware, which answers the same route itself.
 */
export function createDiagnoseHandler(
  options?: DiagnoseHandlerOptions,
): (req: Request) => Promise<Response>;

/**
 * The `event` of the lines {@link resyncUsers} and {@link verifySync} print (and the Worker's
 * resync routes): `action` is `start`, `resume`, `cancel`, `done` or `failed`, with
 * `operator_reason` and the counters.
 */
export type SyncAuditEventName = "admin.resync" | "admin.verify_sync";

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
 * Next.js middleware (edge `middleware.ts`, or Node `proxy.ts` on Next 16): protects requests
 * as the Worker does (CONTRACT.md section 2). Without a handler every matched request must be
 * signed in (except `CLERK_PUBLIC_PATHS`): signed-in and bypassed requests go on with
 * `x-clerk-*` request headers (incoming ones are always removed first, and what is set is
 * signed: `x-clerk-edge-signature`); others get 401 JSON, a 307 to `CLERK_SIGN_IN_URL`, or 500
 * while misconfigured. With a publishable key, expired session cookies of GET documents take
 * Clerk's handshake (307 to the Frontend API, `x-clerk-auth-status: handshake`), and the
 * cookies it sets reach the page's response. Also answers `GET /__clerk/health` and
 * `GET /__clerk/admin/diagnose` (with the live record of the requests it protected; see
 * {@link createDiagnoseHandler}). Audit lines go to `console.log`.
 *
 * With a handler, as `clerkMiddleware((auth, req) => …)`: every matched request but
 * `CLERK_PUBLIC_PATHS` is checked first (handshakes, misconfiguration and deny-listed
 * sessions are answered by the edge as without a handler); then the handler runs with the
 * request signed in, bypassed, or signed out. A signed-out request the handler does not
 * `auth.protect()` goes on signed out (no identity, `x-clerk-auth-status: signed-out`).
 */
export function clerkEdgeMiddleware(
  options?: ClerkEdgeMiddlewareOptions,
  handler?: ClerkEdgeMiddlewareHandler,
): ClerkEdgeMiddlewareFunction;
export function clerkEdgeMiddleware(
  handler: ClerkEdgeMiddlewareHandler,
  options?: ClerkEdgeMiddlewareOptions,
): ClerkEdgeMiddlewareFunction;

/** The function Next calls: `export default clerkEdgeMiddleware(...)`. */
export type ClerkEdgeMiddlewareFunction = (req: Request, event?: unknown) => Promise<Response>;

/**
 * A middleware handler: return nothing (the request goes on with the edge's identity
 * headers), a `NextResponse.next()`/`.rewrite()` (the same, with your headers and rewrite;
 * any `x-clerk-*` you set is dropped), or your own response (a redirect, a page). Throwing
 * fails closed: 500 and a `middleware.error` line with `detail: "handler"`.
 */
export type ClerkEdgeMiddlewareHandler = (
  auth: ClerkEdgeMiddlewareAuth,
  req: Request & { nextUrl?: URL },
  event?: unknown,
) => void | Response | Promise<void | Response>;

/** `auth` in a middleware handler: `await auth()`, `await auth.protect(...)`. */
export interface ClerkEdgeMiddlewareAuth {
  (): Promise<MiddlewareAuthObject>;
  /**
   * Ends the request unless it is signed in (or let through by the emergency bypass) and has
   * what `params` asks: signed out, the edge's own answer (307 to `CLERK_SIGN_IN_URL` for a
   * page, 401 JSON otherwise, `auth.denied` line); signed in without the role or permission,
   * 404 with reason `role-required`, `permission-required` or `authorization-required` and an
   * `auth.forbidden` line. A role or permission check on a bypassed request without an
   * identity refuses. Resolves to the auth object otherwise.
   */
  protect(
    params?: AuthorizationParams & ProtectOptions,
    options?: ProtectOptions,
  ): Promise<MiddlewareAuthObject>;
  protect(predicate: (has: (params: AuthorizationParams) => boolean) => boolean, options?: ProtectOptions): Promise<MiddlewareAuthObject>;
}

/** What `has()` and `protect()` check: Clerk's `{ role, permission }` (both: AND). */
export interface AuthorizationParams {
  /** An organization role, with or without its `org:` prefix. */
  role?: string;
  /** An organization permission, `org:<feature>:<permission>` (the prefix may be left out). */
  permission?: string;
}

/** Where `protect()` sends the request instead of its default answers. */
export interface ProtectOptions {
  /** Redirect (307) here when signed out. */
  unauthenticatedUrl?: string;
  /** Redirect (307) here when signed in without the role or permission. */
  unauthorizedUrl?: string;
}

/**
 * The auth state of a request (`auth()` in a middleware handler and in server code,
 * {@link verifyIdentityHeaders}): Clerk's auth object fields, read from the session token's
 * v1 or v2 claims as Clerk reads them. Absent values are `null`.
 */
export interface AuthState {
  /** `signed-in`, `signed-out`, or `bypassed` (the emergency bypass let it through). */
  status: "signed-in" | "signed-out" | "bypassed";
  /** Why signed out (a {@link ClerkAuthReason}), `null` otherwise. */
  reason: ClerkAuthReason | null;
  /** A user is identified (signed in, or bypassed with a valid or grace-period token). */
  isAuthenticated: boolean;
  userId: string | null;
  sessionId: string | null;
  orgId: string | null;
  /** `org:`-prefixed. */
  orgRole: string | null;
  orgSlug: string | null;
  /** `org:<feature>:<permission>` (v1 `org_permissions`, v2 `fea`/`o.per`/`o.fpm`). */
  orgPermissions: string[] | null;
  /**
   * Clerk's `has({ role, permission })`: false when signed out, without an organization, or
   * when nothing is asked. Throws a TypeError for `feature`, `plan` and `reverification`,
   * which it cannot check (never a guess).
   */
  has(params: AuthorizationParams): boolean;
}

/** `auth()` in a middleware handler. */
export interface MiddlewareAuthObject extends AuthState {
  /** A 307 to `CLERK_SIGN_IN_URL` with `redirect_url` (default: this request's URL). */
  redirectToSignIn(options?: { returnBackUrl?: string | URL }): Response;
}

/**
 * `createRouteMatcher(patterns)` as `@clerk/nextjs`'s: path-to-regexp 6 patterns
 * (`/dashboard(.*)`, `/org/:slug`), RegExps, an array of them, or a function of the request.
 * Paths are matched after `decodeURI` with repeated slashes collapsed; a path with malformed
 * percent-encoding throws (a middleware handler then answers 400). An invalid pattern throws
 * at creation.
 */
export function createRouteMatcher(
  patterns: string | RegExp | Array<string | RegExp> | ((req: Request) => boolean),
): (req: Request | { nextUrl: { pathname: string } } | string) => boolean;

/** Why {@link verifyIdentityHeaders} did not trust a request's identity headers. */
export class IdentityHeadersError extends Error {
  readonly problem: "no-secret-key" | "unsigned" | "bad-signature" | "stale-signature" | "unknown-status";
}

/**
 * Checks the `x-clerk-*` headers of a request the edge forwarded (the Next.js middleware, or
 * the Worker in front of any origin) under their `x-clerk-edge-signature` (HMAC-SHA256 with
 * `CLERK_SECRET_KEY`, at most 5 minutes old) and answers the auth state. Throws an
 * {@link IdentityHeadersError} that says what to do when they are unsigned, forged or stale.
 */
export function verifyIdentityHeaders(
  headers: Headers | Record<string, string>,
  options?: { secretKey?: string; now?: number },
): Promise<AuthState>;

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

/**
 * A user as the resync reads it from Clerk and as the application stores it: the columns of
 * the Worker's `users` table. `updated_at` is Clerk's, in Unix ms: the ordering key of the
 * webhook rules.
 */
export interface SyncUser {
  id: string;
  primary_email: string | null;
  first_name: string | null;
  last_name: string | null;
  banned: boolean;
  updated_at: number;
}

/**
 * A stored row as `getUsers` answers it: a {@link SyncUser}, where `banned` may also be 0/1
 * (SQLite) and `updated_at` a `Date` or a `bigint` of Unix ms.
 */
export interface StoredUserRow {
  id: string;
  primary_email?: string | null;
  first_name?: string | null;
  last_name?: string | null;
  banned?: boolean | number | bigint;
  updated_at: number | bigint | Date;
}

/** The state of a job: `running` only in `onProgress`. */
export type SyncJobState = "running" | "done" | "failed" | "cancelled";

/** The status fields of a resync or an integrity check (the Worker's status route's `job`). */
export interface SyncJobStatus {
  id: string;
  kind: "resync" | "verify";
  state: SyncJobState;
  phase: "clear" | "count" | "walk" | "sweep" | "cleanup" | "finished";
  reason: string;
  dry_run: boolean;
  page_size: number;
  /** RFC 3339. */
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  pages: number;
  users_seen: number;
  /** `GET /v1/users/count` at the start. */
  total_users: number | null;
  api_calls: number;
  /** Failed attempts (5xx, timeouts, network errors) and failed callbacks. */
  errors: number;
  rate_limited_seconds: number;
  users_per_second: number | null;
  eta_seconds: number | null;
  waiting_until: string | null;
  /** Why the job failed (or the last retried failure): what to do is in the text. */
  last_error: string | null;
  resumes: number;
  last_operator_reason: string | null;
  [field: string]: unknown;
}

/** The counters of a resync. */
export interface ResyncCounters {
  /** Users with no row (inserted, or would be in a dry run). */
  inserted: number;
  /** Rows that were older or different (overwritten, or would be). */
  updated: number;
  /** Rows that already said exactly this. */
  unchanged: number;
  /** Rows newer than Clerk's answer: kept. */
  kept_newer: number;
  /** Ids with a tombstone that Clerk still lists: never brought back. */
  conflicts: number;
  removed: number;
  /** Rows `upsertUser` changed (it did not answer `false`). */
  written: number;
  /** Planned writes `upsertUser` answered `false` for (a webhook got there first). */
  raced: number;
  remove_deleted: boolean;
}

/** Options of {@link resyncUsers}. */
export interface ResyncUsersOptions {
  /** `CLERK_SECRET_KEY`: sent to the Backend API only, never in a result, error or log line. */
  secretKey: string;
  /** `CLERK_API_URL`; default Clerk's. */
  apiUrl?: string;
  /** Users per page, 1..500; default 500. */
  pageSize?: number;
  /** Count what would change; call no `upsertUser`. */
  dryRun?: boolean;
  /** Why (an incident id): required; the `operator_reason` of the audit lines. */
  reason: string;
  /**
   * The `cursor` of an earlier run's result: a failed or cancelled run continues from its
   * last applied page, with its own settings (another `dryRun` or `pageSize` is refused).
   */
  cursor?: string;
  /** The stored rows of these ids (any order; absent ids have no row). */
  getUsers: (ids: string[]) => StoredUserRow[] | Promise<StoredUserRow[]>;
  /**
   * Writes one user with the webhook rules (never over a newer row, never for an id with a
   * tombstone). Called only for users the core says to insert or update. Answer `false` when
   * the guarded write changed nothing (counted as `raced`).
   */
  upsertUser?: (user: SyncUser) => unknown | Promise<unknown>;
  /** Which of these ids have a tombstone (a processed `user.deleted`). */
  getTombstones?: (ids: string[]) => string[] | Promise<string[]>;
  /** After every applied page: the status, and the cursor to resume from were the run to stop. */
  onProgress?: (status: SyncJobStatus, cursor: string) => unknown | Promise<unknown>;
  /** Stops the run after the current page (state `cancelled`, resumable). */
  signal?: AbortSignal;
  /** The clock, in Unix ms; default `Date.now`. */
  now?: () => number;
  /** How the run waits for a rate limit or a backoff; default a timer that an abort ends. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** The `fetch` used for the Backend API; default the global one. */
  fetch?: typeof fetch;
  /** Where the `admin.resync` audit lines go; default `console.log`; `null`: nowhere. */
  log?: ((line: string) => void) | null;
}

/** The result of {@link resyncUsers}. */
export interface ResyncUsersResult extends SyncJobStatus, ResyncCounters {
  state: Exclude<SyncJobState, "running">;
  /** Opaque: pass it back as `cursor` to resume a failed or cancelled run. */
  cursor: string;
  /** `last_error`. */
  lastError: string | null;
}

/**
 * Walks every Clerk user (`GET /v1/users`, oldest first, cursor pages) and applies each to the
 * application's table with the webhook rules; honours rate limits (`Retry-After`) and backs
 * off on 5xx, timeouts and network errors; a run that fails or is aborted returns a cursor
 * that resumes it. Rejects with a {@link SyncError} only for refused options (no `reason`,
 * a `pageSize` out of 1..500, an unusable cursor).
 */
export function resyncUsers(options: ResyncUsersOptions): Promise<ResyncUsersResult>;

/** One class of difference of an integrity check. */
export interface SyncDifferenceClass {
  count: number;
  /** The first 100 user ids. */
  sample: string[];
}

/** What an integrity check found. */
export interface SyncReport {
  /** Rows the sweep read. */
  edge_rows: number;
  /** Users whose row says what Clerk says. */
  matching: number;
  /** Live Clerk users with no row. */
  missing_in_edge: SyncDifferenceClass;
  /** Rows whose user no longer exists in Clerk. */
  missing_in_clerk: SyncDifferenceClass;
  /** Rows whose e-mail, names or banned flag differ from Clerk. */
  differ: SyncDifferenceClass;
  /** How many rows differ in each column. */
  differ_by_field: Record<string, number>;
  /** Clerk users the application has a tombstone for. */
  tombstoned: SyncDifferenceClass;
  /** Rows not judged: changed within 5 minutes of the start, or during the check. */
  changed_during_check: number;
}

/** Options of {@link verifySync}. */
export interface VerifySyncOptions {
  secretKey: string;
  apiUrl?: string;
  pageSize?: number;
  /** The `operator_reason` of its audit lines; default `verify-sync`. */
  reason?: string;
  getUsers: (ids: string[]) => StoredUserRow[] | Promise<StoredUserRow[]>;
  /** Up to `limit` stored rows with ids after `afterId` (`null`: from the first), in id order. */
  listUsers: (
    afterId: string | null,
    limit: number,
  ) => Array<{ id: string; updated_at: number | bigint | Date }> | Promise<Array<{ id: string; updated_at: number | bigint | Date }>>;
  getTombstones?: (ids: string[]) => string[] | Promise<string[]>;
  /** After every compared page. */
  onProgress?: (status: SyncJobStatus) => unknown | Promise<unknown>;
  /** Stops the check (state `cancelled`; a check is not resumed: start a new one). */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  fetch?: typeof fetch;
  /** Where the `admin.verify_sync` audit lines go; default `console.log`; `null`: nowhere. */
  log?: ((line: string) => void) | null;
}

/** The result of {@link verifySync}: the status with the report. */
export interface VerifySyncResult extends SyncJobStatus {
  state: Exclude<SyncJobState, "running">;
  /** Every class of difference added up. */
  differences: number;
  /** True when the check finished and found no difference. */
  in_sync: boolean;
  report: SyncReport;
  lastError: string | null;
}

/**
 * The integrity check: compares every Clerk user with its row, then sweeps the table for rows
 * whose user is gone from Clerk. Writes nothing.
 */
export function verifySync(options: VerifySyncOptions): Promise<VerifySyncResult>;

/** A refusal of {@link resyncUsers} / {@link verifySync}'s options, with the core's code. */
export class SyncError extends Error {
  /** `invalid-field`, `invalid-cursor`, `nothing-to-resume`, … */
  code: string;
  /** The HTTP status a route answering it would use (400 or 409). */
  status: number;
}

/** The crate version of this build. */
export function version(): string;

/**
 * Options of {@link incidentReport}: the time window. Text is RFC 3339, or
 * `YYYY-MM-DD HH:MM[:SS]` / `YYYY-MM-DD` in UTC; a number is Unix ms. A bad value throws a
 * `RangeError` naming the option and the accepted forms.
 */
export interface IncidentReportOptions {
  /** Lines from this time on (inclusive). */
  from?: string | number | Date;
  /** Lines before this time (exclusive). */
  to?: string | number | Date;
}

/** Counts by name (a reason, an outcome, an HTTP status, an event). */
export type IncidentCounts = Record<string, number>;

/** One episode: lines of one kind and key with no gap of more than 10 minutes. */
export interface IncidentEpisode {
  kind:
    | "key_refresh_failed"
    | "bypass"
    | "webhook_paused"
    | "webhook_failed"
    | "handshake_loop"
    | "config_invalid"
    | "runtime_error";
  /** RFC 3339 times of the first and last line. */
  first: string;
  last: string;
  count: number;
  reasons: IncidentCounts;
  /** `bypass` and `handshake_loop`: distinct `user_id`s. */
  distinct_users?: number;
  /** `bypass`: the key of the episode. */
  mode?: string | null;
  bypass_reason?: string | null;
  until?: string | null;
  /** `config_invalid`: the variable. */
  variable?: string | null;
  /** `runtime_error`: `worker.error` or `middleware.error`. */
  event?: string | null;
  /** The first `problem` text (key failures, invalid configuration). */
  problem?: string;
}

/** The facts of {@link incidentReport} (`clerk-edge-guard report --json`). */
export interface IncidentReportJson {
  report: "clerk-edge-guard post-incident report";
  version: string;
  input: {
    lines: number;
    records: number;
    audit_lines: number;
    by_form: { bare: number; prefixed: number; wrangler_tail: number; logpush: number; vercel: number };
    /** Records with no audit line. */
    skipped: number;
    /** Audit lines that did not parse (or had no valid `ts`). */
    malformed: number;
    outside_range: number;
    /** Audit lines inside the window. */
    analysed: number;
  };
  filter: { from: string | null; to: string | null };
  /** The first and last analysed line. */
  period: { first: string; last: string } | null;
  /** First to last anomaly; `null` when there is none. */
  anomaly: { first: string; last: string; date: string; duration_ms: number; duration: string } | null;
  impact: {
    requests: number;
    by_outcome: IncidentCounts;
    refused: {
      requests: number;
      distinct_users: number;
      anonymous_requests: number;
      anonymous_distinct_ips: number;
      by_reason: IncidentCounts;
      by_status: IncidentCounts;
    };
    bypassed: { requests: number; distinct_users: number; anonymous_requests: number };
    handshakes_by_reason: IncidentCounts;
  };
  /** Analysed lines by event. */
  events: IncidentCounts;
  refusal_spikes: {
    start: string;
    /** The first minute back to normal (or the end of the log when `open`). */
    end: string;
    open: boolean;
    baseline_per_minute: number;
    peak_per_minute: number;
    peak_at: string;
    refusals: number;
    top_reasons: IncidentCounts;
  }[];
  episodes: IncidentEpisode[];
  webhooks_rejected: IncidentCounts;
  admin_actions: {
    ts: string;
    event: "admin.revoke" | "admin.restore" | "admin.resync" | "admin.verify_sync";
    action: string | null;
    user_id: string | null;
    session_id: string | null;
    operator_reason: string | null;
    dry_run: boolean;
    status: number | null;
    ban_requested: boolean;
    counters: Record<string, number>;
  }[];
  /** In time order; `time` is `HH:MM` UTC. */
  timeline: { ts: string; time: string; kind: string; summary: string }[];
}

/** The report: the facts and the runbook's Markdown template filled from them. */
export interface IncidentReportResult {
  json: IncidentReportJson;
  markdown: string;
}

/**
 * The post-incident report of audit lines in any form the package reads (README, runbook
 * section 6): `input` is text, UTF-8 bytes, or an (async) iterable of them such as a stream.
 * Node only (the package's Node entry): the report has a wasm of its own, compiled at the
 * first call, which the edge entry does not load.
 */
export function incidentReport(
  input: string | Uint8Array | Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  options?: IncidentReportOptions,
): Promise<IncidentReportResult>;

/**
 * A streaming report: `push` chunks, then `finish` once (as `clerk-edge-guard report` does).
 * Node only, as {@link incidentReport}.
 */
export function openIncidentReport(options?: IncidentReportOptions): {
  push(chunk: string | Uint8Array): void;
  finish(): IncidentReportResult;
};
