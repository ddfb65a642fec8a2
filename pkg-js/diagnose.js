// GET /__clerk/admin/diagnose for JavaScript runtimes: the Worker's route
// (src/worker/diagnose.rs) with the checks, verdicts and answers in wasm
// (src/diagnose/report.rs) and the I/O here: one timed attempt of each probe, all at once.
//
// Two ways in: the middleware answers the route itself (only the middleware sees protected
// traffic, so only its answer has a live section), and createDiagnoseHandler is the same as
// an App Router route handler (in Next.js it runs in its own runtime: its live section is
// empty unless that runtime also protects requests).
import { guardState, requestFacts, sendPlanned, storeOf, toResponse } from "./guard.js";

/** Milliseconds `run()` took, added to what it resolved to. */
async function timed(run) {
  const started = performance.now();
  const outcome = await run();
  return { ...outcome, took_ms: performance.now() - started };
}

/** One read of a deny-list key nobody writes: `{ok: true}` or `{error: true}`. */
async function readStore(store, key) {
  try {
    await store.get(key);
    return { ok: true };
  } catch {
    // The store's error text could quote its URL or token: only that it failed.
    return { error: true };
  }
}

/**
 * Answers the diagnose route for `req` with the guard of `state` (from guardState).
 * `middleware`: whether this runtime protects requests (its guard's live record counts).
 */
export async function answerDiagnose(state, req, facts, store, fetchImpl, middleware) {
  const { guard } = state;
  const head = JSON.parse(guard.diagnoseHead(facts, Date.now()));
  if (head.respond) return toResponse(head.respond);
  const { plan } = head;
  const send = (planned) => (planned ? timed(() => sendPlanned(fetchImpl, planned)) : null);
  const [jwks, backend, statusPage, storeRead] = await Promise.all([
    send(plan.jwks),
    send(plan.backend),
    send(plan.status_page),
    timed(() => readStore(store, plan.store_key)),
  ]);
  const outcomes = { jwks, backend, status_page: statusPage, store: storeRead };
  const query = new URL(req.url).search.slice(1);
  return toResponse(
    JSON.parse(guard.diagnose(facts, JSON.stringify(outcomes), query, middleware, Date.now())),
  );
}

/**
 * `GET` handler of `/__clerk/admin/diagnose` (App Router route handler): needs
 * `Authorization: Bearer <CLERK_ADMIN_TOKEN>` (unset: 404). Times one attempt of the Backend
 * API (`GET /v1/users?limit=1`, with its rate-limit headers), the JWKS, Clerk's status page
 * (`CLERK_STATUS_URL`, 2 s) and a read of the deny-list store, and answers each with a
 * verdict and advice: JSON, or text with `?format=text`.
 *
 * @param {{ env?: object, store?: object, fetch?: typeof fetch }} [options]
 */
export function createDiagnoseHandler(options = {}) {
  const store = storeOf(options.store);
  return async function clerkDiagnose(req) {
    const facts = requestFacts(req);
    const state = guardState(options.env, facts);
    return answerDiagnose(state, req, facts, store, options.fetch ?? globalThis.fetch, false);
  };
}
