// An echo origin for end-to-end tests: records every request it receives and answers JSON
// with the method, URL and headers (like demo/echo-origin.mjs), unless a handler is given.
import { createServer } from "node:http";

/**
 * @param {object} [options]
 * @param {(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse, body: string) => void} [options.handler]
 * @returns {Promise<{ url: string, port: number,
 *   requests: { method: string, url: string, headers: Record<string, string | string[]>, body: string }[],
 *   clear(): void, close(): Promise<void> }>}
 */
export async function startOrigin({ handler } = {}) {
  const requests = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const record = { method: req.method, url: req.url, headers: { ...req.headers }, body };
      requests.push(record);
      if (handler) return handler(req, res, body);
      res.writeHead(200, { "content-type": "application/json", "x-echo-origin": "1" });
      res.end(JSON.stringify(record));
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  let closing;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    clear: () => requests.splice(0),
    close: () =>
      (closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
