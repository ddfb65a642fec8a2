// The package's public API: the one place that wraps the wasm-bindgen exports of src/js.rs
// (dist/clerk_edge_guard.js). Both entries (index.js for Node, edge.js for edge runtimes)
// initialise the wasm first and then re-export this module, so a new export is added here
// only. Nothing in this module may call into wasm at import time.
import * as wasm from "./dist/clerk_edge_guard.js";

/** @returns {string} the crate version */
export function version() {
  return wasm.version();
}

function notYetImplemented(name) {
  return new Error(`clerk-edge-guard: ${name} is not implemented in this build yet`);
}

/**
 * Verifies a Clerk session token as `@clerk/backend`'s `verifyToken` does, with the same
 * reason codes. Async like Clerk's, so that the WebCrypto path can be used.
 */
export async function verifySessionToken(token, options = {}) {
  const now = typeof options.now === "number" ? options.now : Date.now();
  const { jwtKey, jwks, authorizedParties, clockSkewInMs } = options;
  const json = wasm.verifySessionTokenJson(
    typeof token === "string" ? token : String(token ?? ""),
    JSON.stringify({ jwtKey, jwks, authorizedParties, clockSkewInMs }),
    now,
  );
  return JSON.parse(json);
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

export function clerkEdgeMiddleware(_options) {
  throw notYetImplemented("clerkEdgeMiddleware");
}
