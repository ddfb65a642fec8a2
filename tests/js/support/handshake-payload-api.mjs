// A local fake of the one Backend API route the handshake return leg calls:
// `GET /v1/clients/handshake_payload?nonce=<n>` with `Authorization: Bearer <secret key>`,
// answering `{"directives": ["<Set-Cookie>", ...]}` for a nonce of its table, 404 (Clerk's
// error shape) for an unknown one, 401 for a wrong secret key.
//
// Nonces are NOT single-use here: a differential test redeems each one twice (once by
// @clerk/backend, once by clerk-edge-guard) and both must see the same payload.
//
//   const api = await startHandshakePayloadApi({ secretKeys: [skLive, skTest] });
//   api.setNonce("n_1", ["__session=...; Path=/", ...]);
//   ... point apiUrl / CLERK_API_URL at api.url ...
//   api.calls  // [{ nonce, status, authorized, apiVersion }]
//   await api.close();
//
// Node >= 20, ESM, node: built-ins and the fakes' shared HTTP plumbing.
import { sendJson, serveLocal } from "../../support/http-fake.mjs";

const clerkError = (code, message) => ({
  errors: [{ code, message, long_message: message, meta: {} }],
  clerk_trace_id: "trace_fake",
});

/**
 * @param {{ secretKeys: string[] }} options  every secret key the fake accepts as a Bearer
 * @returns {Promise<{ url: string, setNonce(n: string, directives: string[]): void,
 *   calls: object[], resetCalls(): void, close(): Promise<void> }>}
 */
export async function startHandshakePayloadApi({ secretKeys }) {
  const accepted = new Set(secretKeys.map((k) => `Bearer ${k}`));
  const table = new Map();
  const calls = [];
  const { server, url: baseUrl, close } = await serveLocal((req, res) => {
    const url = new URL(req.url, "http://fake.invalid");
    const authorized = accepted.has(req.headers.authorization ?? "");
    const record = (status, nonce = null) =>
      calls.push({ method: req.method, path: url.pathname, nonce, status, authorized, apiVersion: req.headers["clerk-api-version"] ?? null });
    if (req.method !== "GET" || url.pathname !== "/v1/clients/handshake_payload") {
      record(404);
      return sendJson(res, 404, clerkError("resource_not_found", "not found"));
    }
    if (!authorized) {
      record(401);
      return sendJson(res, 401, clerkError("authentication_invalid", "invalid secret key"));
    }
    const nonce = url.searchParams.get("nonce");
    if (nonce === null || nonce === "") {
      record(422, nonce);
      return sendJson(res, 422, clerkError("form_param_missing", "nonce is required"));
    }
    const directives = table.get(nonce);
    if (directives === undefined) {
      record(404, nonce);
      return sendJson(res, 404, clerkError("resource_not_found", "handshake payload not found"));
    }
    record(200, nonce);
    return sendJson(res, 200, { directives });
  });
  server.keepAliveTimeout = 1000;
  return {
    url: baseUrl,
    setNonce(nonce, directives) {
      table.set(nonce, [...directives]);
    },
    calls,
    resetCalls() {
      calls.length = 0;
    },
    close,
  };
}
