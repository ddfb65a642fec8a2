// Edge middleware: every matched request is checked by clerk-edge-guard's wasm (the same
// core as the Cloudflare Worker). The configuration is read from process.env at the first
// request, so one `next build` serves any CLERK_* settings given to `next start`.
import { clerkEdgeMiddleware } from "clerk-edge-guard";

import { denyListStore } from "./lib/store";

export default clerkEdgeMiddleware({ store: denyListStore() });

export const config = {
  // Everything but Next's static files and the routes that authenticate themselves
  // (Svix signatures, the admin bearer token).
  matcher: ["/((?!_next/static|_next/image|favicon.ico|api/webhooks|api/admin).*)"],
};
