// An in-memory stand-in for Workers KV, for bench/workerd.mjs: workerd's `kvNamespace`
// binding speaks HTTP to a service (GET/PUT/DELETE `/<url-encoded key>?urlencoded=true`, 404
// for a missing key), and this Worker is that service. The guard reads its deny-list through
// the binding (a short per-isolate cache in front), so the protected path needs one; the
// benchmark never writes to it, so every read is a miss, as for a user nobody revoked.
const store = new Map();

export default {
  async fetch(request) {
    const key = decodeURIComponent(new URL(request.url).pathname.slice(1));
    switch (request.method) {
      case "GET":
        return store.has(key) ? new Response(store.get(key)) : new Response(null, { status: 404 });
      case "PUT":
        store.set(key, await request.text());
        return new Response(null);
      case "DELETE":
        store.delete(key);
        return new Response(null);
      default:
        return new Response(null, { status: 405 });
    }
  },
};
