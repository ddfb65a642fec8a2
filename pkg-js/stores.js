// Deny-list stores: where revoked sessions and users (and seen webhook ids) are kept between
// requests. A store is any object with
//   get(key): Promise<string | null>
//   put(key, value, { ttlSeconds? }): Promise<void>
//   delete(key): Promise<void>
// so a KV, Redis or database client fits behind a few lines. Keys are the Worker's:
// `deny:user:<user_id>`, `deny:session:<session_id>`, `webhook:seen:<svix_id>`.

/**
 * A store in this runtime's memory. Per instance only: every serverless instance, edge
 * isolate and `next start` sandbox has its own, so a revoke or webhook seen by one instance
 * is not seen by the others, and everything is lost on restart. Right for tests and
 * single-process development; in production use a shared store such as {@link upstashStore}.
 */
export function memoryStore() {
  const entries = new Map(); // key -> { value, expiresAt? }
  let putsSinceSweep = 0;
  const live = (key, now) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt !== undefined && now >= entry.expiresAt) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    kind: "memory",
    async get(key) {
      return live(String(key), Date.now())?.value ?? null;
    },
    async put(key, value, options = {}) {
      const ttl = Number(options?.ttlSeconds);
      const now = Date.now();
      entries.set(String(key), {
        value: String(value),
        expiresAt: Number.isFinite(ttl) && ttl > 0 ? now + ttl * 1000 : undefined,
      });
      // Expired entries go on read; sweep now and then so unread ones do not pile up.
      if (++putsSinceSweep >= 1000) {
        putsSinceSweep = 0;
        for (const k of [...entries.keys()]) live(k, now);
      }
    },
    async delete(key) {
      entries.delete(String(key));
    },
  };
}

let sharedMemory;
/** The memory store used when no `store` option is given: one per module instance. */
export function defaultStore() {
  sharedMemory ??= memoryStore();
  return sharedMemory;
}

/**
 * A store over Upstash Redis's REST API with plain `fetch` (works in edge runtimes, no
 * client library): each operation is one `POST {url}` with the command as a JSON array and
 * `Authorization: Bearer {token}`. Any failure (network, non-2xx, `{"error": …}`) rejects,
 * so the middleware fails closed and the webhook handler answers 500 (Svix retries).
 *
 * @param {{ url: string, token: string, fetch?: typeof fetch, timeoutMs?: number }} options
 *   `url`: the database's REST URL (UPSTASH_REDIS_REST_URL); `token`: its REST token.
 */
export function upstashStore(options = {}) {
  const { url, token } = options;
  if (typeof url !== "string" || !/^https?:\/\//.test(url)) {
    throw new TypeError("upstashStore: `url` must be the database's REST URL (https://…)");
  }
  if (typeof token !== "string" || token.length === 0) {
    throw new TypeError("upstashStore: `token` must be the database's REST token");
  }
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 2000;
  const endpoint = url.replace(/\/+$/, "");

  async function command(args) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let response;
    try {
      response = await fetchImpl(endpoint, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(args),
        signal: controller.signal,
      });
    } catch {
      // The error's text could quote the URL; say only what kind of failure it was.
      throw new Error(
        controller.signal.aborted
          ? `Upstash ${args[0]}: no answer within ${timeoutMs} ms`
          : `Upstash ${args[0]}: connection failed`,
      );
    } finally {
      clearTimeout(timer);
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok || payload === null || typeof payload !== "object" || "error" in payload) {
      const detail = typeof payload?.error === "string" ? `: ${payload.error.slice(0, 200)}` : "";
      throw new Error(`Upstash ${args[0]} failed (HTTP ${response.status})${detail}`);
    }
    return payload.result;
  }

  return {
    kind: "upstash",
    async get(key) {
      const result = await command(["GET", String(key)]);
      return result === null || result === undefined ? null : String(result);
    },
    async put(key, value, putOptions = {}) {
      const ttl = Math.ceil(Number(putOptions?.ttlSeconds));
      const args = ["SET", String(key), String(value)];
      if (Number.isFinite(ttl) && ttl > 0) args.push("EX", String(ttl));
      await command(args);
    },
    async delete(key) {
      await command(["DEL", String(key)]);
    },
  };
}
