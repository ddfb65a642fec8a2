// The @clerk/nextjs side of bench/nextjs.mjs: tests/next-app/middleware.ts as a
// `clerkMiddleware` user writes it, replacing that file in the benchmark's copy of the app.
// The same public routes and `matcher`, so both middlewares protect the same routes (the
// admin role check is left out: the benchmark never requests /admin). Networkless: `jwtKey`
// verifies session tokens without fetching JWKS. The keys come from process.env at the first
// request, as ours does, so the build captures none of them. The secret key is not an option
// here: @clerk/nextjs then wants CLERK_ENCRYPTION_KEY to pass it on to server code; it reads
// CLERK_SECRET_KEY from the environment itself.
import { clerkMiddleware, createRouteMatcher } from "@clerk/nextjs/server";

const isPublicRoute = createRouteMatcher(["/pricing(.*)", "/api/public(.*)"]);

export default clerkMiddleware(
  async (auth, req) => {
    if (!isPublicRoute(req)) await auth.protect();
  },
  {
    jwtKey: process.env.CLERK_JWT_KEY,
    publishableKey: process.env.CLERK_PUBLISHABLE_KEY,
    authorizedParties: process.env.CLERK_AUTHORIZED_PARTIES?.split(","),
  },
);

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico|api/webhooks|api/admin|api/unguarded).*)"],
};
