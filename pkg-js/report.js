// The post-incident report (README, runbook section 6): audit lines in, the incident's facts
// out as JSON and as the runbook's Markdown template. The analysis is the Rust core's
// (src/report/, through the wasm class IncidentReport of src/js_report.rs); this module only
// feeds it text, in chunks, so a log of any size streams through.
//
// The report has a wasm of its own (dist/clerk_edge_guard_report_bg.wasm, feature
// `report-cli`), compiled at the first report: the middleware's wasm does not carry it, and
// importing the package costs nothing more. Node only (the Node entry and the CLI).
import { readFileSync } from "node:fs";
import * as wasm from "./dist/clerk_edge_guard_report.js";

let compiled = false;
function ready() {
  if (!compiled) {
    wasm.initSync({ module: readFileSync(new URL("./dist/clerk_edge_guard_report_bg.wasm", import.meta.url)) });
    compiled = true;
  }
}

/**
 * A streaming report: `push(chunk)` text or bytes, then `finish()` once.
 * Throws a `RangeError` naming the option and the accepted forms for a bad `from`/`to`.
 */
export function openIncidentReport(options = {}) {
  const { from, to } = options ?? {};
  ready();
  let report;
  try {
    report = new wasm.IncidentReport(timeOption(from), timeOption(to));
  } catch (error) {
    throw new RangeError(typeof error === "string" ? error : String(error?.message ?? error));
  }
  const decoder = new TextDecoder("utf-8");
  let done;
  return {
    /** Reads a chunk of text (a string, or UTF-8 bytes; a chunk may end mid-line or mid-character). */
    push(chunk) {
      if (done) throw new Error("incidentReport: push after finish");
      report.push(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    },
    /** Ends the input: `{ json, markdown }` of the same report. */
    finish() {
      if (!done) {
        try {
          report.push(decoder.decode());
          done = { json: ordered(JSON.parse(report.finish())), markdown: report.markdown() };
        } finally {
          report.free();
        }
      }
      return done;
    },
  };
}

/** The report's top-level keys in reading order (the wasm's JSON has them sorted). */
const KEY_ORDER = [
  "report", "version", "anomaly", "impact", "refusal_spikes", "episodes", "admin_actions",
  "timeline", "events", "webhooks_rejected", "period", "filter", "input",
];

function ordered(json) {
  const out = {};
  for (const key of KEY_ORDER) if (key in json) out[key] = json[key];
  for (const key of Object.keys(json)) if (!(key in out)) out[key] = json[key];
  return out;
}

/** `from`/`to` as the wasm takes them: text, a Date, or Unix ms; "" for no bound. */
function timeOption(value) {
  if (value === undefined || value === null) return "";
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "number") return new Date(value).toISOString();
  return String(value);
}

/**
 * The post-incident report of `input`: a string, bytes, or an (async) iterable of those,
 * such as a file stream. Resolves `{ json, markdown }`.
 */
export async function incidentReport(input, options = {}) {
  const report = openIncidentReport(options);
  if (typeof input === "string" || input instanceof Uint8Array) {
    report.push(input);
  } else if (input != null && (typeof input[Symbol.asyncIterator] === "function" || typeof input[Symbol.iterator] === "function")) {
    for await (const chunk of input) report.push(chunk);
  } else {
    throw new TypeError("incidentReport: input must be text, bytes, or an (async) iterable of them");
  }
  return report.finish();
}
