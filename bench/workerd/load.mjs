// Bounded autocannon runs against one workerd process, with that process's CPU time: the
// load half of bench/workerd.mjs (the same runs and merging as bench/runtime.mjs, plus CPU).
import autocannon from "autocannon";

export const CONNECTIONS = 10;
const RUN_CAP_MS = 30_000;

/**
 * One run: `amount` requests, or `seconds` of them, each shaped by `setup(request)` (path,
 * headers), against `worker` ({ url, cpuSeconds }). CPU time is read just before and after.
 */
export async function run(worker, { setup, seconds, amount }) {
  const options = {
    url: `${worker.url}/`,
    connections: CONNECTIONS,
    requests: [{ method: "GET", setupRequest: setup }],
  };
  if (amount) options.amount = amount;
  else options.duration = seconds;
  const cpuBefore = worker.cpuSeconds();
  const started = performance.now();
  // autocannon notices the end of a run only at its next 1 s sample: the run's time is up to
  // its last response instead, or a 2 s run would count as 3.
  let lastResponse = started;
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(options, (error, r) => (error ? reject(error) : resolve(r)));
    instance.on("response", () => (lastResponse = performance.now()));
    const cap = setTimeout(() => instance.stop(), RUN_CAP_MS);
    instance.on("done", () => clearTimeout(cap));
  });
  const wallSeconds = (lastResponse - started) / 1000;
  const cpu = worker.cpuSeconds() - cpuBefore;
  const statuses = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = count;
  return {
    requests: result.requests.total,
    seconds: wallSeconds,
    cpu_seconds: cpu,
    rps: result.requests.total / wallSeconds,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    cpu_us_per_request: (cpu * 1e6) / result.requests.total,
    errors: result.errors + result.timeouts,
    statuses,
  };
}

/** The runs of one Worker and mix as one figure (latencies: mean of the runs' percentiles). */
export function merge(runs) {
  const sum = (key) => runs.reduce((n, r) => n + r[key], 0);
  const statuses = {};
  for (const r of runs) for (const [code, n] of Object.entries(r.statuses)) statuses[code] = (statuses[code] ?? 0) + n;
  return {
    requests: sum("requests"),
    rps: sum("requests") / sum("seconds"),
    p50_ms: sum("p50_ms") / runs.length,
    p99_ms: sum("p99_ms") / runs.length,
    cpu_us_per_request: (sum("cpu_seconds") * 1e6) / sum("requests"),
    errors: sum("errors"),
    statuses,
  };
}

/**
 * Runs `plan(round)` on both Workers `rounds` times, alternating which goes first, so load on
 * the machine hits both alike. Fails on any answer but `status` (a fast wrong answer is no
 * figure). Returns { ours, theirs } merged, and the ratios ours/theirs.
 */
export async function sideBySide(workers, { rounds, status, plan, label, log }) {
  const runs = { ours: [], theirs: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ["ours", "theirs"] : ["theirs", "ours"];
    for (const side of order) {
      const r = await run(workers[side], plan(round));
      const wrong = Object.keys(r.statuses).filter((code) => code !== String(status));
      if (wrong.length || r.errors) {
        throw new Error(`${label}, ${side}: answers ${JSON.stringify(r.statuses)}, ${r.errors} errors (want only ${status})`);
      }
      runs[side].push(r);
      log(`${label} ${side}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.cpu_us_per_request.toFixed(0)} µs CPU/request`);
    }
  }
  const ours = merge(runs.ours);
  const theirs = merge(runs.theirs);
  return {
    ours,
    theirs,
    rps_ratio: ours.rps / theirs.rps,
    cpu_ratio: ours.cpu_us_per_request / theirs.cpu_us_per_request,
  };
}
