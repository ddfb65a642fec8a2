// The package's public API: the one place that wraps the wasm-bindgen exports of src/js.rs
// (dist/clerk_edge_guard.js). Both entries (index.js for Node, edge.js for edge runtimes)
// initialise the wasm first and then re-export this module, so a new export is added here
// only. Nothing in this module may call into wasm at import time.
import * as wasm from "./dist/clerk_edge_guard.js";
import { subtleCrypto, verifyRsaCheck, verifyRsaCheckSync } from "./webcrypto.js";

/** @returns {string} the crate version */
export function version() {
  return wasm.version();
}

/**
 * Verifies a Clerk session token as `@clerk/backend`'s `verifyToken` does, with the same
 * reason codes. Async like Clerk's, so that the WebCrypto path can be used: the wasm
 * (src/js_fast.rs) does everything but the RSA operation, which runs on the runtime's
 * native crypto (webcrypto.js: node:crypto under Node, `crypto.subtle` elsewhere).
 */
export async function verifySessionToken(token, options = {}) {
  const now = typeof options.now === "number" ? options.now : Date.now();
  const text = typeof token === "string" ? token : String(token ?? "");
  const optionsJson = optionsText(options);
  const known = recall(text, optionsJson, now);
  if (known !== undefined) return known;
  const begunJson = begin(text, optionsJson, now);
  const begun = JSON.parse(begunJson);
  if (begun.done !== undefined) {
    remember(text, optionsJson, now, begunJson, begun.until);
    return begun.done;
  }
  // Node's synchronous RSA, else WebCrypto; `undefined` when neither answered (missing, or
  // failed to import or verify): the wasm's own RSA then decides, with the same answers.
  const valid = verifyRsaCheckSync(begun) ?? (await verifyRsaCheck(begun, subtleCrypto()));
  const completedJson = wasm.verifyCompleteJson(begun.pending, valid, now);
  const completed = JSON.parse(completedJson);
  // The check was dropped from a full in-flight table: verify again on the slow path.
  if (completed.retry === true) return JSON.parse(wasm.verifySessionTokenJson(text, optionsJson, now));
  remember(text, optionsJson, now, completedJson, completed.until);
  return completed.done;
}

// The options are sent to the wasm once per change (src/js_fast.rs keeps them under an id).
let sentOptions = { json: null, id: 0 };
const RESEND = '{"resend":true}';

function begin(token, optionsJson, now) {
  if (sentOptions.json !== optionsJson) sendOptions(optionsJson);
  const answer = wasm.verifyBeginJson(token, sentOptions.id, now);
  if (answer !== RESEND) return answer;
  // Other options were kept since (verifySessionTokenJson's): send these again.
  sendOptions(optionsJson);
  return wasm.verifyBeginJson(token, sentOptions.id, now);
}

function sendOptions(optionsJson) {
  sentOptions = { json: optionsJson, id: wasm.verifyOptions(optionsJson) };
}

// The options as the wasm reads them. Apps pass the same key on every call: when every
// option is a string, a number or absent (immutable), the last text is reused as it is.
let lastOptions = null;
function optionsText({ jwtKey, jwks, authorizedParties, clockSkewInMs }) {
  const last = lastOptions;
  if (
    last !== null && last.jwtKey === jwtKey && last.jwks === jwks &&
    last.authorizedParties === authorizedParties && last.clockSkewInMs === clockSkewInMs
  ) {
    return last.json;
  }
  const json = JSON.stringify({ jwtKey, jwks, authorizedParties, clockSkewInMs });
  const immutable = [jwtKey, jwks, authorizedParties, clockSkewInMs].every(
    (value) => value === undefined || value === null || typeof value !== "object",
  );
  lastOptions = immutable ? { jwtKey, jwks, authorizedParties, clockSkewInMs, json } : null;
  return json;
}

// Answers that cannot change as the clock moves forward, for the same token and options: the
// wasm says until when ("until", ms, exclusive; a signed-in token until its `exp` plus the
// skew, a refusal no later clock lifts for ever). A token seen again (a browser sends the same
// one for up to a minute) then costs a Map lookup and a JSON.parse, no call into the wasm.
// Each answer is parsed again from its text, so callers never share an object. Bounded in
// entries and token size; a clock that goes back misses it (`from`).
const MEMO_MAX_ENTRIES = 1024;
const MEMO_MAX_TOKEN = 4096;
const memo = new Map();
let memoOptions = "";

function recall(token, optionsJson, now) {
  if (optionsJson !== memoOptions) return undefined;
  const entry = memo.get(token);
  if (entry === undefined || now < entry.from || !(now < entry.until)) return undefined;
  return JSON.parse(entry.json).done;
}

function remember(token, optionsJson, now, json, until) {
  if (typeof until !== "number" || token.length > MEMO_MAX_TOKEN) return;
  if (optionsJson !== memoOptions) {
    memo.clear();
    memoOptions = optionsJson;
  }
  if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
  memo.set(token, { json, from: now, until });
}

/** Lower-case header map from a `Headers` object or a plain record. */
function headerRecord(headers) {
  const out = {};
  if (headers && typeof headers.forEach === "function" && typeof headers.get === "function") {
    headers.forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
  } else if (headers && typeof headers === "object") {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === "string") out[name.toLowerCase()] = value;
    }
  }
  return out;
}

/** Verifies a Svix-signed webhook delivery (synchronous). */
export function verifyWebhook(input) {
  const { headers, body, secret, now } = input ?? {};
  const json = wasm.verifyWebhookJson(
    JSON.stringify(headerRecord(headers)),
    typeof body === "string" ? body : "",
    typeof secret === "string" ? secret : "",
    typeof now === "number" ? now : Date.now(),
  );
  return JSON.parse(json);
}

export { clerkEdgeMiddleware } from "./middleware.js";
export { createRouteMatcher } from "./route-matcher.js";
export { verifyIdentityHeaders, IdentityHeadersError } from "./identity.js";
export { createWebhookHandler, createRevokeHandler, createRestoreHandler } from "./handlers.js";
export { createDiagnoseHandler } from "./diagnose.js";
export { memoryStore, upstashStore } from "./stores.js";
export { resyncUsers, verifySync, SyncError } from "./sync.js";
