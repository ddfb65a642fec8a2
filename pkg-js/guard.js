// What the middleware and the route handlers share: one wasm Guard (parsed configuration,
// JWKS and verified-token caches) per env object, the request facts handed to it, the
// deny-list look-up with its short cache, and turning the Guard's JSON answers into
// Responses and audit lines. Nothing here runs at import time.
import { Guard } from "./dist/clerk_edge_guard.js";
import { defaultStore } from "./stores.js";

/** How long a deny-list read (present or absent) is trusted in this runtime, as the Worker. */
export const DENY_CACHE_TTL_MS = 5_000;
const DENY_CACHE_MAX_ENTRIES = 10_000;

/** The variables the Guard reads (CONTRACT.md section 1); nothing else crosses into wasm. */
const CONFIG_NAME = /^(CLERK_[A-Z0-9_]+|NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY|ORIGIN_URL)$/;

const guards = new WeakMap(); // env object -> { guard, jwksInFlight }

/** `process.env` where there is one (Node, Next's edge sandbox), else an empty object. */
function processEnv() {
  const env = globalThis.process?.env;
  return env && typeof env === "object" ? env : EMPTY_ENV;
}
const EMPTY_ENV = Object.freeze({});

/**
 * The state for `env` (default `process.env`, read when first needed, i.e. at request time,
 * never at build time): created once, printing the `config.invalid` lines once, with the
 * fields of the request (`facts`, from requestFacts) that made it read the configuration.
 */
export function guardState(env, facts) {
  const source = env && typeof env === "object" ? env : processEnv();
  let state = guards.get(source);
  if (!state) {
    const picked = {};
    for (const name of Object.keys(source)) {
      const value = source[name];
      // Numbers and booleans (a config object written by hand) count as the text they
      // spell; dropping them would turn a bypass or a pause off without a word.
      if (!CONFIG_NAME.test(name)) continue;
      if (typeof value === "string") picked[name] = value;
      else if (typeof value === "number" || typeof value === "boolean") picked[name] = String(value);
    }
    const guard = new Guard(JSON.stringify(picked));
    for (const line of JSON.parse(guard.configProblems(facts ?? "{}", Date.now()))) console.log(line);
    state = { guard, jwksInFlight: null };
    guards.set(source, state);
  }
  return state;
}

/** The store option, or this runtime's shared memory store. */
export function storeOf(store) {
  if (store === undefined || store === null) return defaultStore();
  for (const method of ["get", "put", "delete"]) {
    if (typeof store[method] !== "function") {
      throw new TypeError(`clerk-edge-guard: store.${method} must be a function (see stores.js)`);
    }
  }
  return store;
}

function randomId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The request facts the Guard decides on, as JSON. Header values go into wasm only; audit
 * lines are built there from the method, path (no query), ip, user agent and request id.
 */
export function requestFacts(req, url = new URL(req.url)) {
  const h = req.headers;
  // The Worker's order (src/worker/mod.rs request_context), then Vercel's headers.
  const forwarded = h.get("x-forwarded-for");
  const ip =
    h.get("cf-connecting-ip") || (forwarded ? forwarded.split(",")[0].trim() : "") || h.get("x-real-ip") || "";
  return JSON.stringify({
    method: req.method,
    path: url.pathname,
    url: req.url,
    authorization: h.get("authorization"),
    cookie: h.get("cookie"),
    sec_fetch_dest: h.get("sec-fetch-dest"),
    accept: h.get("accept"),
    // What Clerk's handshake reads: the public URL behind proxies, and the referrer.
    host: h.get("host"),
    forwarded_host: h.get("x-forwarded-host"),
    forwarded_proto: h.get("x-forwarded-proto"),
    referer: h.get("referer"),
    request_id: h.get("cf-ray") || h.get("x-vercel-id") || randomId(),
    ip,
    user_agent: h.get("user-agent") || "",
  });
}

/** Prints an audit line (already JSON) on the runtime's log. */
export function audit(line) {
  if (typeof line === "string" && line.length > 0) console.log(line);
}

/**
 * Turns the Guard's `{status, headers, body, audit}` into a Response, printing the line.
 * A relative `location` is made absolute against the request URL (Next's middleware
 * adapter parses it as an absolute URL).
 */
export function toResponse(answer, requestUrl) {
  audit(answer.audit);
  const headers = new Headers();
  // Appended: a handshake answer carries several `set-cookie` headers.
  for (const [name, value] of answer.headers ?? []) {
    headers.append(name, name === "location" && requestUrl ? new URL(value, requestUrl).href : value);
  }
  return new Response(answer.body ?? null, { status: answer.status, headers });
}

/** A JSON answer built in JavaScript (no audit line): 404s of the package's own routes. */
export function jsonResponse(status, body, extraHeaders = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...extraHeaders },
  });
}

/**
 * Sends one Backend API (or JWKS, or status page) attempt planned by the Guard, abandoning
 * it after `timeout_ms`. Answers the outcome shape the Guard reads back, with the response
 * headers named in `plan.read_headers`. Never logs: the plan's headers carry the secret key.
 */
export async function sendPlanned(fetchImpl, plan) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), plan.timeout_ms ?? 1200);
  try {
    const response = await fetchImpl(plan.url, {
      method: plan.method ?? "GET",
      headers: plan.headers,
      body: plan.body ?? undefined,
      signal: controller.signal,
    });
    const body = await response.text();
    // `date` and `received_at` let the core read a Retry-After given as an HTTP date.
    const outcome = {
      status: response.status,
      body,
      retry_after: response.headers.get("retry-after"),
      date: response.headers.get("date"),
      received_at: Date.now(),
    };
    // Headers the plan asks for by name (the diagnosis's rate-limit headers), nothing else.
    if (plan.read_headers) {
      outcome.headers = {};
      for (const name of plan.read_headers) {
        const value = response.headers.get(name);
        if (value !== null) outcome.headers[name] = value;
      }
    }
    return outcome;
  } catch {
    // The error's text can quote the URL; say only what kind of failure it was.
    return controller.signal.aborted ? { timeout: true } : { network_error: "connection failed" };
  } finally {
    clearTimeout(timer);
  }
}

// store -> { entries: Map(key -> [present, readAt]), writes: number }. `writes` counts this
// runtime's writes: a read that was in flight while one landed may hold the older answer, so
// it is not cached (src/policy/deny_cache.rs does the same for the Worker).
const denyCaches = new WeakMap();

function denyCache(store) {
  let cache = denyCaches.get(store);
  if (!cache) {
    cache = { entries: new Map(), writes: 0 };
    denyCaches.set(store, cache);
  }
  return cache;
}

function cacheEntry(cache, key, present, now) {
  if (cache.entries.size >= DENY_CACHE_MAX_ENTRIES) cache.entries.clear();
  cache.entries.set(key, [present, now]);
}

/** Records a write (or delete) of `key` made from this runtime: the next check sees it. */
export function rememberDenyEntry(store, key, present, now = Date.now()) {
  const cache = denyCache(store);
  cache.writes += 1;
  cacheEntry(cache, key, present, now);
}

/** How long one deny-list read may take (the Worker's KV read has the same deadline). */
const DENY_READ_DEADLINE_MS = 2000;

/** `store.get(key)`, rejected when it has not answered within {@link DENY_READ_DEADLINE_MS}. */
function readWithDeadline(store, key) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`deny-list store: no answer within ${DENY_READ_DEADLINE_MS} ms`)),
      DENY_READ_DEADLINE_MS,
    );
  });
  return Promise.race([Promise.resolve().then(() => store.get(key)), deadline]).finally(() => clearTimeout(timer));
}

async function isListed(store, key, now, ttlMs) {
  const cache = denyCache(store);
  const cached = cache.entries.get(key);
  if (cached && now - cached[1] < ttlMs) return cached[0];
  const writesBefore = cache.writes;
  // A store failure, or no answer in time, propagates: the request fails closed rather
  // than skipping the check or waiting for ever.
  const present = (await readWithDeadline(store, key)) !== null;
  if (cache.writes === writesBefore) cacheEntry(cache, key, present, now);
  return present;
}

/**
 * `"session"`, `"user"` or `""`: whether the identity's session or user is deny-listed. The
 * session is checked first, its entry being the more specific answer.
 */
export async function denyHit(store, identity, now, ttlMs = DENY_CACHE_TTL_MS) {
  if (identity.session_id && (await isListed(store, `deny:session:${identity.session_id}`, now, ttlMs))) {
    return "session";
  }
  if (await isListed(store, `deny:user:${identity.user_id}`, now, ttlMs)) return "user";
  return "";
}

/**
 * Reads a request body up to `limit` bytes, stopping (and cancelling the stream) as soon as
 * more arrived, so an unauthenticated sender cannot make the runtime buffer megabytes.
 */
export async function readLimited(req, limit) {
  if (!req.body) return { bytes: new Uint8Array(0), tooLarge: false };
  const reader = req.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    chunks.push(value);
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return { bytes: concat(chunks, total), tooLarge: true };
    }
  }
  return { bytes: concat(chunks, total), tooLarge: false };
}

function concat(chunks, total) {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
