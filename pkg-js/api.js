// The package's public API: the one place that wraps the wasm-bindgen exports of src/js.rs
// (dist/clerk_edge_guard.js). Both entries (index.js for Node, edge.js for edge runtimes)
// initialise the wasm first and then re-export this module, so a new export is added here
// only. Nothing in this module may call into wasm at import time.
import * as wasm from "./dist/clerk_edge_guard.js";
import { subtleCrypto, verifyRsaCheck } from "./webcrypto.js";

/** @returns {string} the crate version */
export function version() {
  return wasm.version();
}

/**
 * Verifies a Clerk session token as `@clerk/backend`'s `verifyToken` does, with the same
 * reason codes. Async like Clerk's, so that the WebCrypto path can be used: the wasm
 * (src/js_fast.rs) does everything but the RSA operation, which runs on the runtime's
 * native `crypto.subtle` (webcrypto.js).
 */
export async function verifySessionToken(token, options = {}) {
  const now = typeof options.now === "number" ? options.now : Date.now();
  const { jwtKey, jwks, authorizedParties, clockSkewInMs } = options;
  const text = typeof token === "string" ? token : String(token ?? "");
  const optionsJson = JSON.stringify({ jwtKey, jwks, authorizedParties, clockSkewInMs });
  const subtle = subtleCrypto();
  if (subtle == null) {
    // No WebCrypto: the pure-Rust RSA decides (same answers, slower on a cache miss).
    return JSON.parse(wasm.verifySessionTokenJson(text, optionsJson, now));
  }
  const begun = JSON.parse(wasm.verifyBeginJson(text, optionsJson, now));
  if (begun.done !== undefined) return begun.done;
  // `undefined` when WebCrypto failed (import or verify): the pure-Rust RSA decides.
  const valid = await verifyRsaCheck(begun, subtle);
  const result = JSON.parse(wasm.verifyCompleteJson(begun.pending, valid, now));
  // The check was dropped from a full in-flight table: verify again on the slow path.
  return result.retry === true ? JSON.parse(wasm.verifySessionTokenJson(text, optionsJson, now)) : result;
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
