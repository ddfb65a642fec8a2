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

/** Options of {@link clerkEdgeMiddleware}. */
export interface ClerkEdgeMiddlewareOptions {
  /** The configuration variables of CONTRACT.md section 1; default `process.env`. */
  env?: Record<string, string | undefined>;
}

/** Next.js edge middleware: protects requests as the Worker does (CONTRACT.md section 2). */
export function clerkEdgeMiddleware(
  options?: ClerkEdgeMiddlewareOptions,
): (req: Request) => Promise<Response>;

/** The crate version of this build. */
export function version(): string;
