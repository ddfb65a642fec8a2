// The middleware, written as a `clerkMiddleware` user writes it: every matched request is
// checked by clerk-edge-guard's wasm (the same core as the Cloudflare Worker), then the
// handler decides which routes need a session, or a role. The configuration is read from
// process.env at the first request, so one `next build` serves any CLERK_* settings given
// to `next start`.
import { clerkEdgeMiddleware, createRouteMatcher } from "clerk-edge-guard";

import { denyListStore } from "./lib/store";

// Open to signed-out visitors (their server code still reads who is signed in with auth()).
const isPublicRoute = createRouteMatcher(["/pricing(.*)", "/api/public(.*)"]);
// Organization admins only.
const isAdminRoute = createRouteMatcher(["/admin(.*)"]);

export default clerkEdgeMiddleware(
  async (auth, req) => {
    if (isAdminRoute(req)) await auth.protect({ role: "org:admin" });
    else if (!isPublicRoute(req)) await auth.protect();
  },
  { store: denyListStore() },
);

export const config = {
  // Everything but Next's static files and the routes that authenticate themselves (Svix
  // signatures, the admin bearer token). `api/unguarded` is left out on purpose: it shows
  // that server code refuses identity headers the middleware did not sign.
  matcher: ["/((?!_next/static|_next/image|favicon.ico|api/webhooks|api/admin|api/unguarded).*)"],
};
