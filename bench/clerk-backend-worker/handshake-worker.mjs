// The @clerk/backend side of bench/workerd.mjs's handshake figures: a hand-written Worker
// doing what `@clerk/nextjs`' middleware does with `authenticateRequest` on every request,
// networkless (`jwtKey`: the session and handshake tokens are checked against the PEM, no
// JWKS fetch; the secret key is a placeholder `authenticateRequest` insists on and never
// sends, since no nonce is redeemed). An answer with a Location is a 307 with Clerk's
// headers, as `@clerk/nextjs` sends it: the redirect to the Frontend API (status handshake)
// or the development return leg's redirect to the cleaned URL with the cookies (status
// signed-in); else signed in, the request goes to the origin with the user id; signed out,
// 401 and one JSON log line, as worker.mjs.
import { createClerkClient } from "@clerk/backend";

// One client per isolate: its options come from env, which a module only sees in fetch.
let clerk;

export default {
  async fetch(request, env) {
    clerk ??= createClerkClient({
      secretKey: env.CLERK_SECRET_KEY,
      publishableKey: env.CLERK_PUBLISHABLE_KEY,
      jwtKey: env.CLERK_JWT_KEY,
    });
    const state = await clerk.authenticateRequest(request);
    if (state.headers.get("location")) {
      return new Response(null, { status: 307, headers: state.headers });
    }
    if (!state.isSignedIn) {
      console.log(JSON.stringify({ ts: new Date().toISOString(), level: "warn", event: "auth.denied", reason: state.reason }));
      return Response.json(
        { error: "unauthenticated", reason: state.reason },
        { status: 401, headers: { "cache-control": "no-store" } },
      );
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-clerk-user-id", state.toAuth().userId);
    return fetch(`${env.ORIGIN_URL}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      redirect: "manual",
    });
  },
};
