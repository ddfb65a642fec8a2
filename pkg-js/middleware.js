// clerkEdgeMiddleware: the Worker's protected-request flow (src/worker/protect.rs) as a
// Next.js middleware function, `(req: Request) => Promise<Response>`.
//
// Forwarding works like `NextResponse.next({ request: { headers } })` without importing
// `next` (the package does not depend on it): a 200 with `x-middleware-next: 1`,
// `x-middleware-override-headers: <every request header name after the change>` and one
// `x-middleware-request-<name>: <value>` per header. Next then replaces the request's headers
// with exactly that set, so a header missing from the list (every incoming `x-clerk-*` or `x_clerk_*`) is
// removed. Refusals are ordinary responses: Next sends them to the client as they are.
import {
  denyHit,
  guardState,
  jsonResponse,
  requestFacts,
  sendPlanned,
  storeOf,
  toResponse,
  audit,
  DENY_CACHE_TTL_MS,
} from "./guard.js";
import { answerDiagnose } from "./diagnose.js";
import { verifyRsaCheck } from "./webcrypto.js";

// src/policy/decision.rs is_identity_header: `x-clerk-*`, and the `x_clerk_*` spellings that
// CGI-style origins read as the same header.
const IDENTITY_HEADER = /^x[-_]clerk[-_]/i;

/**
 * The middleware response that lets the request through with its headers replaced: every
 * incoming `x-clerk-*` removed, then `set` (`[[name, value]...]`) added. With nothing to
 * change, a plain `x-middleware-next` (Next keeps the request as it is).
 */
export function forwardResponse(requestHeaders, set = [], responseHeaders = []) {
  const headers = new Headers(requestHeaders);
  const spoofed = [];
  for (const name of headers.keys()) if (IDENTITY_HEADER.test(name)) spoofed.push(name);
  const out = new Headers({ "x-middleware-next": "1" });
  // A handshake's cookies: Next copies the middleware response's headers (every
  // `set-cookie` included) onto the page's response.
  for (const [name, value] of responseHeaders) out.append(name, value);
  if (spoofed.length === 0 && set.length === 0) return new Response(null, { headers: out });
  for (const name of spoofed) headers.delete(name);
  for (const [name, value] of set) headers.set(name, value);
  const names = [];
  for (const [name, value] of headers) {
    out.set(`x-middleware-request-${name}`, value);
    names.push(name);
  }
  out.set("x-middleware-override-headers", names.join(","));
  return new Response(null, { headers: out });
}

const CLERK_ROUTE_IN_NEXT =
  "in Next.js the webhook and admin routes are route handlers of your app: mount " +
  "createWebhookHandler / createRevokeHandler / createRestoreHandler (see the README)";

/**
 * Next.js edge middleware that protects every matched request as the Worker does
 * (CONTRACT.md section 2).
 *
 * @param {{ env?: Record<string, string | undefined>, store?: object, fetch?: typeof fetch,
 *   denyListCacheMs?: number }} [options]
 *   `env`: the configuration (default `process.env`, read at the first request);
 *   `store`: the deny-list (default: this runtime's memory store, see stores.js);
 *   `fetch`: for the JWKS (default the global `fetch`);
 *   `denyListCacheMs`: how long a deny-list read is trusted here (default 5000).
 */
export function clerkEdgeMiddleware(options = {}) {
  const store = storeOf(options.store);
  const denyTtl = options.denyListCacheMs ?? DENY_CACHE_TTL_MS;
  return async function clerkEdgeGuard(req) {
    const started = performance.now();
    const now = Date.now();
    const url = new URL(req.url);
    const facts = requestFacts(req, url);
    const state = guardState(options.env, facts);
    const { guard } = state;
    try {
      switch (guard.route(url.pathname)) {
        case "health":
          return toResponse(JSON.parse(guard.health(req.method, now)));
        case "public":
          return forwardResponse(req.headers);
        case "webhooks":
        case "admin-revoke":
        case "admin-restore":
          return jsonResponse(404, { error: "not-found", message: CLERK_ROUTE_IN_NEXT });
        case "admin-diagnose":
          // Only the middleware sees protected traffic: its answer has the live section.
          return await answerDiagnose(state, req, facts, store, options.fetch ?? globalThis.fetch, true);
        case "clerk-not-found":
          return jsonResponse(404, { error: "not-found", message: "no such /__clerk route" });
        default:
          return await protect(state, req, facts, store, options.fetch, denyTtl, now, started);
      }
    } catch (error) {
      // Fail closed; only the kind of failure reaches the log (an error's text could quote
      // a header or a URL).
      const detail = error?.clerkEdgeGuardDetail ?? "runtime";
      return toResponse(JSON.parse(guard.internalError(facts, detail, now)));
    }
  };
}

async function protect(state, req, requestFactsJson, store, fetchOption, denyTtl, now, started) {
  let facts = requestFactsJson;
  const { guard } = state;
  // What this request did and how long each part took (µs): the Server-Timing header and
  // the diagnosis's record of recent decisions.
  const work = {};
  const timed = (step, from) => {
    work[step] = (work[step] ?? 0) + Math.round((performance.now() - from) * 1000);
  };
  // A refresh already under way: wait for it rather than fail for lack of keys.
  if (state.jwksInFlight) {
    const from = performance.now();
    await state.jwksInFlight;
    timed("jwks_us", from);
  }
  // The I/O the wasm asks for, a bounded number of times, then the wasm decides alone: a
  // JWKS fetch and a WebCrypto check per token (the cookie's, and on a handshake's return
  // leg the new one), and the attempts of the handshake nonce exchange.
  let answer;
  for (let round = 0; ; round++) {
    answer = JSON.parse(guard.identity(facts, now, round < MAX_IO_ROUNDS));
    const from = performance.now();
    if (answer.call) {
      if (answer.call.delay_ms > 0) await sleep(answer.call.delay_ms);
      const outcome = await sendPlanned(fetchOption ?? globalThis.fetch, answer.call);
      const withAttempt = JSON.parse(facts);
      withAttempt.handshake_attempts = [...(withAttempt.handshake_attempts ?? []), outcome];
      facts = JSON.stringify(withAttempt);
      timed("handshake_us", from);
    } else if (answer.fetch) {
      state.jwksInFlight = refreshJwks(guard, answer.fetch, facts, fetchOption ?? globalThis.fetch);
      try {
        await state.jwksInFlight;
      } finally {
        state.jwksInFlight = null;
      }
      timed("jwks_us", from);
    } else if (answer.check) {
      guard.completeCheck(answer.check.pending, await verifyRsaCheck(answer.check), now);
      timed("webcrypto_us", from);
    } else {
      break;
    }
  }
  work.token = answer.token === true;
  let hit = "";
  if (answer.identity) {
    const from = performance.now();
    try {
      hit = await denyHit(store, answer.identity, now, denyTtl);
    } catch (error) {
      throw Object.assign(new Error("deny-list read failed", { cause: error }), {
        clerkEdgeGuardDetail: "deny-list",
      });
    }
    timed("denylist_us", from);
  }
  work.total_us = Math.round((performance.now() - started) * 1000);
  const decision = JSON.parse(guard.decide(facts, hit, now, JSON.stringify(work)));
  for (const line of decision.events ?? []) audit(line);
  if (decision.action === "forward") {
    audit(decision.audit);
    return forwardResponse(req.headers, decision.headers, decision.response_headers);
  }
  return toResponse(decision, req.url);
}

/** Enough rounds for two tokens (JWKS fetch + WebCrypto check each) and three attempts. */
const MAX_IO_ROUNDS = 8;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function refreshJwks(guard, plan, facts, fetchImpl) {
  const outcome = await sendPlanned(fetchImpl, plan);
  const { audit: line } = JSON.parse(
    guard.recordJwks(facts, JSON.stringify(outcome), Date.now()),
  );
  audit(line);
}
