// The comparison Worker for scripts/bench.sh: what a hand-written Worker in front of the same
// origin does with @clerk/backend, networkless (`jwtKey`, no JWKS fetch): take the bearer
// token, `verifyToken`, then forward with the user id, or answer 401 with one JSON log line.
// That mirrors the protected-request work of clerk-edge-guard's Worker (whose `auth.denied`
// audit line is mandatory; `wrangler dev` makes every log line cost), minus its deny-list.
import { verifyToken } from "@clerk/backend";

export default {
  async fetch(request, env) {
    const authorization = request.headers.get("authorization") ?? "";
    const token = authorization.startsWith("Bearer ") ? authorization.slice(7) : "";
    let claims;
    try {
      claims = await verifyToken(token, { jwtKey: env.CLERK_JWT_KEY });
    } catch (error) {
      const reason = error?.reason ?? "token-invalid";
      console.log(JSON.stringify({ ts: new Date().toISOString(), level: "warn", event: "auth.denied", reason }));
      return Response.json(
        { error: "unauthenticated", reason },
        { status: 401, headers: { "cache-control": "no-store" } },
      );
    }
    const url = new URL(request.url);
    const headers = new Headers(request.headers);
    headers.set("x-clerk-user-id", claims.sub);
    return fetch(`${env.ORIGIN_URL}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      redirect: "manual",
    });
  },
};
