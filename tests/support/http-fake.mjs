// The HTTP plumbing the local fakes share (tests/support/fake-clerk.mjs,
// tests/support/fake-frontend-api.mjs, tests/js/support/handshake-payload-api.mjs): a JSON
// answer, and a server on 127.0.0.1 that drains each request's body before handing it on,
// answers 500 with a JSON body when the handler throws, and closes at once (keep-alive and
// hanging connections included), however often close() is called.
//
// Node >= 20, ESM, node: built-ins only.
//
//   const server = await serveLocal((req, res) => sendJson(res, 200, { ok: true }), {
//     errorBody: (error) => ({ error: String(error?.message) }),
//   });
//   ... server.url ...
//   await server.close();

import http from "node:http";

/**
 * Answers `status` with `body` as JSON (no body, and no content-type, when `body` is
 * undefined). `headers` come last, so they may override the defaults. A destroyed response
 * (a client that went away) is left alone.
 */
export function sendJson(res, status, body, headers = {}) {
  if (res.destroyed) return;
  const text = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { "content-type": "application/json" } : {}),
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Starts an HTTP server on 127.0.0.1 (ephemeral port unless `port`) that calls
 * `handle(req, res)` (sync or async) once the request's body is drained: none of the fakes
 * reads a body, but an unread one stalls keep-alive.
 *
 * options:
 * - port: the port to listen on (default 0, any free one);
 * - errorBody: (error) => the JSON body of the 500 answered when `handle` throws (default
 *   `{ error: message }`);
 * - onClose: called once when close() starts (e.g. to clear the fake's timers).
 *
 * Returns { server, url, port, close() }.
 */
export async function serveLocal(handle, { port = 0, errorBody = (error) => ({ error: String(error?.message) }), onClose } = {}) {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const failed = (error) => {
        if (!res.headersSent) sendJson(res, 500, errorBody(error));
      };
      try {
        Promise.resolve(handle(req, res)).catch(failed);
      } catch (error) {
        failed(error);
      }
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();

  let closing = null;
  const close = () =>
    (closing ??= new Promise((resolve) => {
      onClose?.();
      server.close(() => resolve());
      // Hanging and keep-alive connections would hold close() open forever.
      server.closeAllConnections();
    }));

  return { server, url: `http://127.0.0.1:${address.port}`, port: address.port, close };
}
