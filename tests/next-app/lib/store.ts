// The deny-list shared by the middleware and the route handlers. With
// UPSTASH_REDIS_REST_URL / UPSTASH_REDIS_REST_TOKEN set it is Upstash Redis (one list for
// every instance); without, each runtime keeps its own in memory (development only: the
// middleware and the route handlers then do not even share it).
import { upstashStore, type DenyListStore } from "clerk-edge-guard";

export function denyListStore(): DenyListStore | undefined {
  const url = process.env.UPSTASH_REDIS_REST_URL;
  const token = process.env.UPSTASH_REDIS_REST_TOKEN;
  return url && token ? upstashStore({ url, token }) : undefined;
}
