#!/usr/bin/env node
// The package's command line (README, runbook section 6):
//
//   npx clerk-edge-guard report [files...] [--from T] [--to T] [--json] [--out F]
//
// Reads audit lines from the files (`.gz` decompressed; `-` or none: stdin) as a stream and
// writes the post-incident report: Markdown, or the facts as JSON with --json. The analysis is
// the package's `incidentReport` (the Rust core through the wasm).
//
// Exit codes: 0 a report was written (also when no audit line was found: the report says
// so, and a note goes to stderr); 2 a usage problem (unknown option, bad time, missing file),
// with a one-line message saying what is wrong and what to do; 1 anything else (a read error).
import { createReadStream, statSync, writeFileSync } from "node:fs";
import { createGunzip } from "node:zlib";

import { openIncidentReport, version } from "../index.js";

const USAGE = `Usage: clerk-edge-guard report [files...] [--from T] [--to T] [--json] [--out F]

Writes the post-incident report of clerk-edge-guard audit lines (README, runbook section 6).

  files        audit logs: bare lines, wrangler tail --format json, Logpush NDJSON,
               Vercel log drains (NDJSON or JSON arrays), docker/kubectl-prefixed lines;
               .gz files are decompressed; none or "-" reads stdin
  --from T     only lines at or after T (RFC 3339, or "YYYY-MM-DD HH:MM" in UTC)
  --to T       only lines before T (same forms)
  --json       the facts as JSON instead of Markdown
  --out F      write the report to F instead of stdout
  -h, --help   this help
  --version    the package version`;

class UsageError extends Error {}

/** The command line as `{ files, from, to, json, out }`, or a help/version request. */
function parseArgs(argv) {
  const args = [...argv];
  if (args.length === 0) throw new UsageError("no command; run: clerk-edge-guard report <file> (or --help)");
  const first = args.shift();
  if (first === "-h" || first === "--help") return { help: true };
  if (first === "--version") return { version: true };
  if (first !== "report") throw new UsageError(`unknown command '${first}'; the command is: clerk-edge-guard report <file> (see --help)`);
  const options = { files: [], json: false };
  const valueOf = (name, inline) => {
    if (inline !== undefined) return inline;
    const value = args.shift();
    if (value === undefined || (value.startsWith("--") && value.length > 2)) {
      const example = name === "--out" ? "a file name" : `e.g. ${name} "2026-11-25 16:00"`;
      throw new UsageError(`${name} needs a value (${example})`);
    }
    return value;
  };
  while (args.length > 0) {
    const arg = args.shift();
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    switch (name) {
      case "-h":
      case "--help":
        return { help: true };
      case "--json":
        options.json = true;
        break;
      case "--from":
      case "--to":
      case "--out":
        options[name.slice(2)] = valueOf(name, inline);
        break;
      default:
        if (name.startsWith("-") && name !== "-") {
          throw new UsageError(`unknown option '${name.slice(0, 40)}'; the options are --from, --to, --json, --out (see --help)`);
        }
        options.files.push(arg);
    }
  }
  return options;
}

/** The text stream of one input (stdin for "-"), decompressed when it ends in .gz. */
function open(file) {
  const raw = file === "-" ? process.stdin : createReadStream(file);
  return file.endsWith(".gz") ? raw.pipe(createGunzip()) : raw;
}

async function main(argv) {
  const options = parseArgs(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (options.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const files = options.files.length > 0 ? options.files : ["-"];
  for (const file of files) {
    if (file === "-") continue;
    let stat;
    try {
      stat = statSync(file);
    } catch {
      throw new UsageError(`cannot read '${file}': no such file; check the path (or pass - to read stdin)`);
    }
    if (!stat.isFile()) throw new UsageError(`'${file}' is not a file; pass a log file (or - to read stdin)`);
  }
  let report;
  try {
    report = openIncidentReport({ from: options.from, to: options.to });
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  for (const file of files) {
    let last = "\n";
    try {
      for await (const chunk of open(file)) {
        report.push(chunk);
        if (chunk.length > 0) last = chunk[chunk.length - 1];
      }
    } catch (error) {
      const what = file === "-" ? "stdin" : `'${file}'`;
      throw new Error(`cannot read ${what}: ${error?.code === "Z_DATA_ERROR" ? "not a gzip file" : (error?.code ?? error?.message)}`);
    }
    // A file without a final newline must not join its last line to the next file's first.
    if (last !== "\n" && last !== 10) report.push("\n");
  }
  const { json, markdown } = report.finish();
  const text = options.json ? `${JSON.stringify(json, null, 2)}\n` : markdown;
  if (options.out) {
    try {
      writeFileSync(options.out, text);
    } catch (error) {
      throw new UsageError(`cannot write '${options.out}' (${error?.code ?? "error"}); pass a writable file path to --out`);
    }
  }
  else process.stdout.write(text);
  if (json.input.audit_lines === 0) {
    process.stderr.write(
      `clerk-edge-guard: no audit line found in ${json.input.lines} lines (${json.input.malformed} malformed); is this the Worker's or the middleware's log?\n`,
    );
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    if (error instanceof UsageError) {
      process.stderr.write(`clerk-edge-guard: ${error.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`clerk-edge-guard: ${error?.message ?? error}\n`);
      process.exitCode = 1;
    }
  },
);
