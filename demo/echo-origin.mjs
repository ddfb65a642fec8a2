#!/usr/bin/env node
// Demo origin for `scripts/dev.sh`: answers every request with JSON naming the method, the
// path and the x-clerk-* request headers it received, so you can see what the Worker
// forwarded. Loopback only. Usage: node demo/echo-origin.mjs [port]  (default 8788)
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? process.env.ORIGIN_PORT ?? 8788);

const server = createServer((req, res) => {
  const clerkHeaders = Object.fromEntries(
    Object.entries(req.headers).filter(([name]) => name.startsWith("x-clerk-")),
  );
  const body = JSON.stringify({ method: req.method, path: req.url, headers: clerkHeaders });
  res.writeHead(200, { "content-type": "application/json" });
  res.end(body + "\n");
});

server.listen(port, "127.0.0.1", () => {
  console.log(`echo origin listening on http://127.0.0.1:${port}`);
});

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => server.close(() => process.exit(0)));
