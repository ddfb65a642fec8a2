// `auth()` for Next.js server code (server components, route handlers, server actions), as
// `@clerk/nextjs/server`'s, over the `next/headers` and `next/navigation` modules it is given
// (server.js and server-node.js import them, each the way its loader resolves them). It reads
// the identity the middleware forwarded, trusting it only under the middleware's signature
// (identity.js), and `auth.protect()` answers as Clerk's: a page goes to the sign-in page, a
// server action gets 401, anything else 404; a signed-in user without the role or permission
// asked for gets 404. No wasm.
import { protectArguments, verifyIdentityHeaders } from "./identity.js";

/** `auth` (with `auth.protect`) over Next's `headers()` and its navigation module. */
export function createAuth(headers, navigation) {
  /**
   * The auth state of the current request: `{ status, reason, isAuthenticated, userId,
   * sessionId, orgId, orgRole, orgSlug, orgPermissions, has }`. Throws an
   * `IdentityHeadersError` saying what to do when the middleware did not run for this route
   * (no signature) or the headers are not the middleware's, and when `CLERK_SECRET_KEY` is not
   * set (the key the middleware signs with).
   */
  async function auth() {
    return verifyIdentityHeaders(await headers());
  }

  /**
   * `auth.protect(params?, options?)`: the auth state when the request is signed in (or let
   * through by the emergency bypass) and has what `params` asks (`{ role, permission }`, or a
   * function of `has`); otherwise ends the render as Clerk's does. `options`:
   * `unauthenticatedUrl`, `unauthorizedUrl` (redirects instead of the defaults).
   */
  auth.protect = async function protect(paramsOrPredicate, maybeOptions) {
    const requestHeaders = await headers();
    const state = await verifyIdentityHeaders(requestHeaders);
    const { options: opts, missing: lacking } = protectArguments(paramsOrPredicate, maybeOptions);
    if (!state.isAuthenticated && state.status !== "bypassed") {
      if (opts.unauthenticatedUrl) navigation.redirect(opts.unauthenticatedUrl);
      if (isPageRequest(requestHeaders)) navigation.redirect(signInUrl(requestHeaders));
      if (isServerAction(requestHeaders)) unauthorized(navigation);
      navigation.notFound();
    }
    const missing = lacking(state);
    if (missing) {
      if (opts.unauthorizedUrl) navigation.redirect(opts.unauthorizedUrl);
      navigation.notFound();
    }
    return state;
  };

  return auth;
}

/** Next's `unauthorized()` (401) where the app enabled it, else `notFound()`. */
function unauthorized(navigation) {
  if (typeof navigation.unauthorized === "function") {
    try {
      navigation.unauthorized();
    } catch (error) {
      // Next's own interrupt carries a digest; without `experimental.authInterrupts` it
      // throws a plain error instead, and the answer falls back to 404.
      if (typeof error?.digest === "string") throw error;
    }
  }
  navigation.notFound();
}

/** A document or an App Router navigation, as Clerk's `isPageRequest` tells. */
function isPageRequest(h) {
  const dest = h.get("sec-fetch-dest");
  return (
    dest === "document" ||
    dest === "iframe" ||
    (h.get("accept") ?? "").includes("text/html") ||
    (h.get("next-url") !== null && !isServerAction(h)) ||
    h.get("x-nextjs-data") !== null
  );
}

function isServerAction(h) {
  return (
    h.get("next-url") !== null &&
    ((h.get("accept") ?? "").includes("text/x-component") ||
      (h.get("content-type") ?? "").includes("multipart/form-data") ||
      h.get("next-action") !== null)
  );
}

/** `CLERK_SIGN_IN_URL`, with the page to come back to when the request says which. */
function signInUrl(h) {
  const signIn = globalThis.process?.env?.CLERK_SIGN_IN_URL;
  if (typeof signIn !== "string" || signIn === "") {
    throw new Error("clerk-edge-guard: auth.protect() sends signed-out pages to CLERK_SIGN_IN_URL, which is not set");
  }
  const host = h.get("x-forwarded-host") ?? h.get("host");
  const path = h.get("next-url");
  if (!host || !path) return signIn;
  const proto = h.get("x-forwarded-proto") ?? "https";
  let target;
  try {
    target = new URL(signIn);
  } catch {
    return signIn;
  }
  target.searchParams.set("redirect_url", `${proto}://${host}${path}`);
  return target.href;
}
