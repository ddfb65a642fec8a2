// pkg-js's deny-list stores: memoryStore, and upstashStore against a local stand-in of
// Upstash's REST API (the request shape Upstash documents: POST of a JSON array command).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { memoryStore, upstashStore } from "../../pkg-js/index.js";
import { startFakeUpstash } from "../next/support/fake-upstash.mjs";

test("memoryStore: get/put/delete, null for absent keys, values as strings", async () => {
  const store = memoryStore();
  assert.equal(await store.get("deny:user:user_1"), null);
  await store.put("deny:user:user_1", '{"source":"admin"}');
  assert.equal(await store.get("deny:user:user_1"), '{"source":"admin"}');
  await store.delete("deny:user:user_1");
  assert.equal(await store.get("deny:user:user_1"), null);
  await store.delete("never-there");
});

test("memoryStore: ttlSeconds expires an entry", async (t) => {
  const store = memoryStore();
  let now = 1_000_000;
  t.mock.method(Date, "now", () => now);
  await store.put("deny:session:sess_1", "x", { ttlSeconds: 60 });
  now += 59_999;
  assert.equal(await store.get("deny:session:sess_1"), "x");
  now += 1;
  assert.equal(await store.get("deny:session:sess_1"), null);
});

test("memoryStore: two stores do not share entries", async () => {
  const a = memoryStore();
  const b = memoryStore();
  await a.put("k", "v");
  assert.equal(await b.get("k"), null);
});

let redis;
before(async () => {
  redis = await startFakeUpstash({ token: "upstash-test-token" });
});
after(async () => {
  await redis?.close();
});

test("upstashStore: sends Upstash's JSON-array commands with the bearer token", async () => {
  const store = upstashStore({ url: redis.url, token: redis.token });
  redis.commands.length = 0;
  assert.equal(await store.get("deny:user:user_2"), null);
  await store.put("deny:user:user_2", '{"source":"webhook"}');
  assert.equal(await store.get("deny:user:user_2"), '{"source":"webhook"}');
  await store.put("deny:session:sess_2", "v", { ttlSeconds: 120 });
  await store.delete("deny:user:user_2");
  assert.equal(await store.get("deny:user:user_2"), null);
  assert.deepEqual(redis.commands, [
    ["GET", "deny:user:user_2"],
    ["SET", "deny:user:user_2", '{"source":"webhook"}'],
    ["GET", "deny:user:user_2"],
    ["SET", "deny:session:sess_2", "v", "EX", "120"],
    ["DEL", "deny:user:user_2"],
    ["GET", "deny:user:user_2"],
  ]);
  const ttl = redis.data.get("deny:session:sess_2").expiresAt - Date.now();
  assert.ok(ttl > 100_000 && ttl <= 120_000, `ttl ${ttl}`);
});

test("upstashStore: a trailing slash on the URL is fine; fractional TTLs round up", async () => {
  const store = upstashStore({ url: `${redis.url}/`, token: redis.token });
  redis.commands.length = 0;
  await store.put("k", "v", { ttlSeconds: 0.2 });
  assert.deepEqual(redis.commands, [["SET", "k", "v", "EX", "1"]]);
});

test("upstashStore: every failure rejects (so the middleware fails closed), without the token", async () => {
  const wrongToken = upstashStore({ url: redis.url, token: "wrong" });
  await assert.rejects(wrongToken.get("k"), (e) => /HTTP 401/.test(e.message) && !e.message.includes("wrong"));

  const store = upstashStore({ url: redis.url, token: redis.token });
  redis.fail(1);
  await assert.rejects(store.put("k", "v"), /HTTP 500/);

  const unreachable = upstashStore({ url: "http://127.0.0.1:9", token: "t" });
  await assert.rejects(unreachable.get("k"), /connection failed/);

  const hanging = upstashStore({
    url: redis.url,
    token: redis.token,
    timeoutMs: 50,
    fetch: (_url, init) =>
      new Promise((_resolve, reject) => init.signal.addEventListener("abort", () => reject(new Error("aborted")))),
  });
  await assert.rejects(hanging.get("k"), /no answer within 50 ms/);

  const errorBody = upstashStore({
    url: redis.url,
    token: redis.token,
    fetch: async () => Response.json({ error: "ERR wrong type" }, { status: 400 }),
  });
  await assert.rejects(errorBody.get("k"), /HTTP 400\): ERR wrong type/);
});

test("upstashStore: refuses a missing URL or token at once", () => {
  assert.throws(() => upstashStore({ token: "t" }), /url/);
  assert.throws(() => upstashStore({ url: "https://x.upstash.io" }), /token/);
});
