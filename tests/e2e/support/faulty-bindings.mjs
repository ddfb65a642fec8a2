// The built Worker behind fault-injecting KV and D1 bindings, for the failing-dependency
// tests (tests/e2e/dependency-failures.test.mjs). Test-only by construction: the wrapper is
// a JS Worker this file writes into a temp dir at test time; it imports the unchanged
// build/index.js and hands it an `env` whose CLERK_EDGE and CLERK_DB wrap the real local
// bindings. Nothing in src/ or build/ knows about it (the test file checks that the
// production build carries no trace of FAULT_ROUTE).
//
// workers-rs accepts the wrappers as it accepts the real bindings: a KV namespace is any
// object with get/getWithMetadata/put/list/delete, a D1 database an object whose
// constructor is named `D1Database` (worker's EnvBinding check).
//
//   const worker = await startFaultyWorker({ vars });
//   await worker.setFaults({ "kv.read": { kind: "error" } });
//   await worker.setFaults({ "d1.write": { kind: "timeout", ms: 1500, times: 1 } });
//   await worker.setFaults({}); // all clear
//
// Operations: kv.read (get, getWithMetadata, list), kv.write (put, delete), d1.read (a
// statement or batch of SELECTs only), d1.write (anything else). Fault kinds: error (the
// promise rejects at once), timeout (rejects after `ms`, as a real binding gives up), slow
// (answers after `ms`), hang (answers after `ms`, default 10 min: outlives any request).
// `times` (default: until cleared) counts the operations the fault hits.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { repoRoot, startWorker } from "./worker.mjs";

/** The wrapper's own route (never the product's): GET the counts, POST the faults. */
export const FAULT_ROUTE = "/__test-only-fault-switch";

const wrapperSource = (builtWorker) => `// Test-only wrapper written by tests/e2e/support/faulty-bindings.mjs.
import Product, { SyncRunner } from ${JSON.stringify(builtWorker)};
export { SyncRunner };

const FAULT_ROUTE = ${JSON.stringify(FAULT_ROUTE)};
let faults = {};
const counts = {};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function inject(op) {
  counts[op] = (counts[op] ?? 0) + 1;
  const fault = faults[op];
  if (!fault) return;
  if (fault.times !== undefined && --fault.times <= 0) delete faults[op];
  switch (fault.kind) {
    case "slow":
      await sleep(fault.ms);
      return;
    case "hang":
      await sleep(fault.ms ?? 600000);
      return;
    case "timeout":
      await sleep(fault.ms);
      throw new Error(op + ": timed out (injected fault)");
    default:
      throw new Error(op + ": failed (injected fault)");
  }
}

class KvNamespace {
  #real;
  constructor(real) { this.#real = real; }
  async get(key, options) { await inject("kv.read"); return this.#real.get(key, options); }
  async getWithMetadata(key, options) { await inject("kv.read"); return this.#real.getWithMetadata(key, options); }
  async list(options) { await inject("kv.read"); return this.#real.list(options); }
  async put(key, value, options) { await inject("kv.write"); return this.#real.put(key, value, options); }
  async delete(key) { await inject("kv.write"); return this.#real.delete(key); }
}

const operation = (sql) => (/^\\s*select\\b/i.test(sql) ? "d1.read" : "d1.write");

class D1PreparedStatement {
  constructor(real, sql) { this.real = real; this.sql = sql; }
  bind(...values) { return new D1PreparedStatement(this.real.bind(...values), this.sql); }
  async first(column) { await inject(operation(this.sql)); return this.real.first(column); }
  async all() { await inject(operation(this.sql)); return this.real.all(); }
  async raw(options) { await inject(operation(this.sql)); return this.real.raw(options); }
  async run() { await inject(operation(this.sql)); return this.real.run(); }
}

class D1Database {
  #real;
  constructor(real) { this.#real = real; }
  prepare(sql) { return new D1PreparedStatement(this.#real.prepare(sql), sql); }
  async batch(statements) {
    await inject(statements.every((s) => operation(s.sql) === "d1.read") ? "d1.read" : "d1.write");
    return this.#real.batch(statements.map((s) => s.real));
  }
  async exec(sql) { await inject(operation(sql)); return this.#real.exec(sql); }
  async dump() { return this.#real.dump(); }
}

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === FAULT_ROUTE) {
      if (request.method === "POST") faults = await request.json();
      return Response.json({ faults, counts });
    }
    const faulty = { ...env, CLERK_EDGE: new KvNamespace(env.CLERK_EDGE), CLERK_DB: new D1Database(env.CLERK_DB) };
    // The product's entry point is a WorkerEntrypoint class: its fetch reads this.env.
    return Product.prototype.fetch.call({ env: faulty, ctx }, request);
  },
};
`;

/**
 * Starts the wrapper under `wrangler dev` (the same config, bindings and migrated D1 as
 * startWorker; only `main` differs). Returns startWorker's handle plus
 * `setFaults(faults)` and `counts()` (operations seen per kind).
 */
export async function startFaultyWorker(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), "ceg-e2e-faulty-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const main = join(dir, "faulty-worker.mjs");
  writeFileSync(main, wrapperSource(join(repoRoot, "build", "index.js")));
  const worker = await startWorker({ ...options, main });
  const call = async (init) => {
    const res = await worker.fetch(FAULT_ROUTE, init);
    if (!res.ok) throw new Error(`fault switch answered ${res.status}: ${await res.text()}`);
    return res.json();
  };
  return {
    ...worker,
    setFaults: (faults) =>
      call({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(faults) }),
    counts: async () => (await call()).counts,
  };
}
