// Types of `clerk-edge-guard/server`: auth() for Next.js server code (server components,
// route handlers, server actions), as `@clerk/nextjs/server`'s.
import type { AuthState, AuthorizationParams, ProtectOptions } from "./index.js";

export type { AuthState, AuthorizationParams, ProtectOptions } from "./index.js";
export { createRouteMatcher, verifyIdentityHeaders, IdentityHeadersError } from "./index.js";

/**
 * The auth state of the current request, from the identity headers the middleware set,
 * trusted only under their signature (`x-clerk-edge-signature`, keyed with
 * `CLERK_SECRET_KEY`). Rejects with an `IdentityHeadersError` saying what to do when the
 * middleware did not run for this route, the headers are forged or stale, or
 * `CLERK_SECRET_KEY` is not set.
 */
export declare function auth(): Promise<AuthState>;
export declare namespace auth {
  /**
   * The auth state when signed in (or bypassed) with what `params` asks; otherwise ends the
   * render as Clerk's `auth.protect()` does: signed out, a page is redirected to
   * `CLERK_SIGN_IN_URL` (or `unauthenticatedUrl`), a server action gets 401 (where the app
   * enabled Next's `authInterrupts`, else 404), anything else 404; signed in without the role
   * or permission, 404 (or a redirect to `unauthorizedUrl`).
   */
  function protect(params?: AuthorizationParams & ProtectOptions, options?: ProtectOptions): Promise<AuthState>;
  function protect(
    predicate: (has: (params: AuthorizationParams) => boolean) => boolean,
    options?: ProtectOptions,
  ): Promise<AuthState>;
}
