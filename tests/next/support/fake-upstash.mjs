// A local stand-in for Upstash Redis's REST API, for tests of pkg-js's upstashStore and of
// the Next.js example app: `POST /` with the command as a JSON array (`["GET", key]`,
// `["SET", key, value, "EX", seconds]`, `["DEL", key]`), `Authorization: Bearer <token>`,
// answers `{"result": …}` or `{"error": "…"}` with 400/401 as Upstash documents.
//
//   const redis = await startFakeUpstash({ token: "t" });
//   redis.url, redis.data (Map key -> {value, expiresAt}), redis.commands (log), redis.fail(n)
//   await redis.close();
import http from "node:http";

export async function startFakeUpstash({ token = "fake-upstash-token", now = () => Date.now() } = {}) {
  const data = new Map();
  const commands = [];
  let failures = 0;
  const live = (key) => {
    const entry = data.get(key);
    if (entry && entry.expiresAt !== undefined && now() >= entry.expiresAt) {
      data.delete(key);
      return undefined;
    }
    return entry;
  };
  const run = (args) => {
    const [name, ...rest] = args;
    switch (String(name).toUpperCase()) {
      case "GET":
        if (rest.length !== 1) return [400, { error: "ERR wrong number of arguments for 'get' command" }];
        return [200, { result: live(rest[0])?.value ?? null }];
      case "SET": {
        if (rest.length !== 2 && rest.length !== 4) {
          return [400, { error: "ERR syntax error" }];
        }
        let expiresAt;
        if (rest.length === 4) {
          const seconds = Number(rest[3]);
          if (String(rest[2]).toUpperCase() !== "EX" || !Number.isInteger(seconds) || seconds <= 0) {
            return [400, { error: "ERR invalid expire time in 'set' command" }];
          }
          expiresAt = now() + seconds * 1000;
        }
        data.set(rest[0], { value: String(rest[1]), expiresAt });
        return [200, { result: "OK" }];
      }
      case "DEL": {
        let removed = 0;
        for (const key of rest) if (live(key) && data.delete(key)) removed += 1;
        return [200, { result: removed }];
      }
      default:
        return [400, { error: `ERR unknown command '${name}'` }];
    }
  };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const send = (status, payload) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(payload));
      };
      if (req.headers.authorization !== `Bearer ${token}`) {
        return send(401, { error: "Unauthorized" });
      }
      if (req.method !== "POST" || req.url !== "/") {
        return send(405, { error: "only POST / is served by this stand-in" });
      }
      let args;
      try {
        args = JSON.parse(body);
      } catch {
        return send(400, { error: "ERR failed to parse command" });
      }
      if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === "string" || typeof a === "number")) {
        return send(400, { error: "ERR command must be a non-empty JSON array" });
      }
      commands.push(args.map(String));
      if (failures > 0) {
        failures -= 1;
        return send(500, { error: "injected failure" });
      }
      const [status, payload] = run(args.map(String));
      send(status, payload);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    token,
    data,
    commands,
    /** The next `n` commands answer 500. */
    fail(n = 1) {
      failures = n;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
