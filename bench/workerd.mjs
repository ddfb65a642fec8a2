#!/usr/bin/env node
// workerd without the dev proxy: clerk-edge-guard's built Worker (build/) and a JS Worker
// using @clerk/backend (bench/clerk-backend-worker/), each in its own `workerd serve` process
// with a generated config (bench/workerd/serve.mjs): no wrangler, whose `wrangler dev` proxy
// bench/runtime.mjs measures along with the Worker. Same echo origin, same autocannon load,
// side by side: requests/s, p50/p99 latency and the workerd process's CPU time per request
// (user + system, from /proc: the runtime's HTTP work included, the same for both sides).
//
// Mixes (bearer tokens, as bench/runtime.mjs): one token repeated, distinct fresh tokens,
// junk tokens. Then Clerk's handshake (a development instance, both Workers networkless with
// the PEM key): the redirect decision (an expired `__session` on a document GET → 307 to the
// Frontend API) and the return leg (`?__clerk_handshake=<jwt>` → 307 with the cookies set),
// every request with fresh tokens. Answers are checked before anything is timed; runs
// alternate which side goes first; every run is bounded; every process started here is in
// its own process group and is killed on exit. Loopback only, no network.
//
//   node bench/workerd.mjs [--smoke] [--out FILE]
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const rows = [
  ["mixes", "repeated", "one token repeated"],
  ["mixes", "fresh", "distinct fresh tokens"],
  ["mixes", "junk", "junk tokens"],
  ["handshake", "redirect", "handshake: redirect decision (307 to the Frontend API)"],
  ["handshake", "return_leg", "handshake: return leg (`__clerk_handshake`, 307 with cookies)"],
];

/** The README's table of a result of this part, as lines. */
export function markdownTable(result) {
  const lat = (w) => `${w.p50_ms.toFixed(1)} / ${w.p99_ms.toFixed(1)}`;
  const lines = [
    `**workerd serve, no dev proxy** (workerd ${result.workerd_version}, loopback, autocannon ${result.connections} connections, one workerd process per Worker; the Worker vs a JS Worker with \`@clerk/backend\` ${result.clerk_backend}, same origin; CPU: the workerd process's user + system time per request)`,
    "",
    "| requests | ours req/s | ours p50 / p99 ms | ours CPU µs/req | @clerk/backend req/s | @clerk/backend p50 / p99 ms | @clerk/backend CPU µs/req | req/s ours/theirs | CPU ours/theirs |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const [group, key, name] of rows) {
    const m = result[group][key];
    lines.push(
      `| ${name} | ${m.ours.rps.toFixed(0)} | ${lat(m.ours)} | ${m.ours.cpu_us_per_request.toFixed(0)} | ${m.theirs.rps.toFixed(0)} | ${lat(m.theirs)} | ${m.theirs.cpu_us_per_request.toFixed(0)} | ${m.rps_ratio.toFixed(2)} | ${m.cpu_ratio.toFixed(2)} |`,
    );
  }
  return lines;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: args } = parseArgs({
    options: { smoke: { type: "boolean", default: false }, out: { type: "string" } },
  });
  // Loaded here only: bench/report.mjs imports markdownTable without the benchmark's machinery.
  const { runBenchmark } = await import("./workerd/run.mjs");
  const report = await runBenchmark({ smoke: args.smoke, log: (line) => console.error(`[workerd] ${line}`) });
  if (args.out) writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(markdownTable(report).join("\n"));
  console.log(JSON.stringify(report));
}
