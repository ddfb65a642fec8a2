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
import { protectArguments, stateFromPairs } from "./identity.js";
import { MalformedPathError } from "./route-matcher.js";
import { verifyRsaCheck, verifyRsaCheckSync } from "./webcrypto.js";

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
 * Next.js middleware (edge `middleware.ts`, or Node `proxy.ts` on Next 16) that protects
 * every matched request as the Worker does (CONTRACT.md section 2), or, with a handler,
 * lets the handler decide as `clerkMiddleware`'s does: `clerkEdgeMiddleware(handler?,
 * options?)` or `clerkEdgeMiddleware(options?, handler?)`.
 *
 * @param {Function | object} [first] the handler `(auth, req, event) => Response | void`, or the options
 * @param {Function | object} [second] the other one
 *   options: `env` (default `process.env`, read at the first request); `store` (the
 *   deny-list, default this runtime's memory store, see stores.js); `fetch` (for the JWKS and
 *   the handshake, default the global one); `denyListCacheMs` (default 5000).
 */
export function clerkEdgeMiddleware(first, second) {
  const handler = typeof first === "function" ? first : typeof second === "function" ? second : undefined;
  const options = (typeof first === "object" && first) || (typeof second === "object" && second) || {};
  const store = storeOf(options.store);
  const denyTtl = options.denyListCacheMs ?? DENY_CACHE_TTL_MS;
  return async function clerkEdgeGuard(req, event) {
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
          // Not checked: marked signed out (reason public-path), so that server code's
          // auth() knows the middleware ran.
          return forwardResponse(req.headers, JSON.parse(guard.publicHeaders(now)));
        case "webhooks":
        case "admin-revoke":
        case "admin-restore":
          return jsonResponse(404, { error: "not-found", message: CLERK_ROUTE_IN_NEXT });
        case "admin-diagnose":
          // Only the middleware sees protected traffic: its answer has the live section.
          return await answerDiagnose(state, req, facts, store, options.fetch ?? globalThis.fetch, true);
        case "clerk-not-found":
          return jsonResponse(404, { error: "not-found", message: "no such /__clerk route" });
        default: {
          const decision = await protect(state, req, facts, store, options.fetch, denyTtl, now, started);
          if (!handler) return carryOut(decision, req);
          return await withHandler(handler, decision, state, req, event, facts, options);
        }
      }
    } catch (error) {
      if (error instanceof MalformedPathError) {
        return jsonResponse(400, { error: "bad-request", message: error.message });
      }
      // Fail closed; only the kind of failure reaches the log (an error's text could quote
      // a header or a URL).
      const detail = error?.clerkEdgeGuardDetail ?? "runtime";
      return toResponse(JSON.parse(guard.internalError(facts, detail, now)));
    }
  };
}

/** Sends the Guard's decision: forwards (with its line) or answers. */
function carryOut(decision, req) {
  if (decision.action === "forward") {
    audit(decision.audit);
    return forwardResponse(req.headers, decision.headers, decision.response_headers);
  }
  return toResponse(decision, req.url);
}

/** What protect() throws to end the handler with an answer. */
class Protected {
  constructor(response) {
    this.response = response;
  }
}

/**
 * Runs the handler `(auth, req, event)` as clerkMiddleware's: handshakes, misconfiguration
 * and every answer that is not a plain "signed out" are sent before it runs; a signed-out
 * request reaches it signed out (it may let it through without an identity, or
 * `auth.protect()` it); a signed-in or bypassed one with its identity.
 */
async function withHandler(handler, decision, state, req, event, facts, options) {
  const deferred = decision.action === "forward" ? null : decision.deferrable;
  if (decision.action !== "forward" && !deferred) return toResponse(decision, req.url);
  const forward = deferred
    ? { headers: deferred.headers, responseHeaders: deferred.response_headers, line: null }
    : { headers: decision.headers, responseHeaders: decision.response_headers, line: decision.audit };
  const current = stateFromPairs(forward.headers);
  let refusal = null;
  const refuse = (response) => {
    refusal ??= response;
    throw new Protected(refusal);
  };
  const env = options.env ?? globalThis.process?.env ?? {};
  const redirectTo = (location) =>
    new Response(null, { status: 307, headers: { location: new URL(location, req.url).href } });
  const authObject = {
    ...current,
    redirectToSignIn({ returnBackUrl = req.url } = {}) {
      const signIn = env.CLERK_SIGN_IN_URL;
      if (typeof signIn !== "string" || signIn === "") {
        throw new Error("clerk-edge-guard: redirectToSignIn() needs CLERK_SIGN_IN_URL (the sign-in page's URL)");
      }
      const target = new URL(signIn, req.url);
      if (returnBackUrl) target.searchParams.set("redirect_url", String(returnBackUrl));
      return redirectTo(target.href);
    },
  };
  const auth = async () => authObject;
  auth.protect = (paramsOrPredicate, maybeOptions) => {
    const checked = protect(paramsOrPredicate, maybeOptions);
    // A handler that forgets `await` must not crash the process with an unhandled
    // rejection: the refusal holds anyway (below), and an awaiting caller still sees it.
    checked.catch(() => {});
    return checked;
  };
  const protect = async (paramsOrPredicate, maybeOptions) => {
    const { options: opts, missing: lacking } = protectArguments(paramsOrPredicate, maybeOptions);
    if (!current.isAuthenticated && current.status !== "bypassed") {
      if (opts.unauthenticatedUrl) refuse(redirectTo(opts.unauthenticatedUrl));
      // The edge's own signed-out answer (307 to sign-in for a page, else 401) and its line.
      refuse(toResponse(decision, req.url));
    }
    const missing = lacking(current);
    if (missing) {
      if (opts.unauthorizedUrl) refuse(redirectTo(opts.unauthorizedUrl));
      const identity = JSON.stringify({ user_id: current.userId, session_id: current.sessionId });
      const answer = state.guard.forbidden(facts, identity, missing.role ?? "", missing.permission ?? "", Date.now());
      refuse(toResponse(JSON.parse(answer), req.url));
    }
    return authObject;
  };

  let result;
  try {
    result = await handler(auth, req, event);
  } catch (error) {
    if (!(error instanceof Protected)) {
      throw Object.assign(error instanceof Error ? error : new Error("handler threw"), {
        clerkEdgeGuardDetail: "handler",
      });
    }
  }
  // A refusal holds even when the handler caught what protect() threw.
  if (refusal) return refusal;
  if (result instanceof Response && !isPassThrough(result)) {
    // The handler answered itself (a redirect, its own page): nothing reaches the app. A
    // handshake's cookies still go to the browser (copied: Response.redirect's headers are
    // immutable).
    if (!forward.responseHeaders?.length) return result;
    const headers = new Headers(result.headers);
    for (const [name, value] of forward.responseHeaders) headers.append(name, value);
    return new Response(result.body, { status: result.status, statusText: result.statusText, headers });
  }
  audit(forward.line);
  const ours = forwardResponse(req.headers, forward.headers, forward.responseHeaders);
  return result instanceof Response ? mergePassThrough(ours, result) : ours;
}

/** `NextResponse.next()` or `.rewrite()`: the request goes on to the app. */
function isPassThrough(response) {
  return response.headers.has("x-middleware-next") || response.headers.has("x-middleware-rewrite");
}

/**
 * The handler's `NextResponse.next({ request: { headers } })` or `.rewrite()` with the edge's
 * identity headers: its own request headers are kept except any `x-clerk-*` (only the edge
 * sets those); its response headers and rewrite are kept.
 */
function mergePassThrough(ours, theirs) {
  const headers = new Headers(ours.headers);
  const names = new Set((headers.get("x-middleware-override-headers") ?? "").split(",").filter(Boolean));
  for (const [name, value] of theirs.headers) {
    if (name === "x-middleware-override-headers") {
      for (const n of value.split(",")) if (n && !IDENTITY_HEADER.test(n)) names.add(n);
    } else if (name.startsWith("x-middleware-request-")) {
      if (!IDENTITY_HEADER.test(name.slice("x-middleware-request-".length))) headers.set(name, value);
    } else if (name === "set-cookie") headers.append(name, value);
    else headers.set(name, value);
  }
  if (names.size > 0) headers.set("x-middleware-override-headers", [...names].join(","));
  return new Response(theirs.body, { status: theirs.status, headers });
}

/**
 * The Guard's decision on a protected request: `{"action": "forward", ...}` or
 * `{"action": "respond", ...}` (src/js.rs `Guard::decide`), its handshake lines printed.
 */
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
      const valid = verifyRsaCheckSync(answer.check) ?? (await verifyRsaCheck(answer.check));
      guard.completeCheck(answer.check.pending, valid, now);
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
  return decision;
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
