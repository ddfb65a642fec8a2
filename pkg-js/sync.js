// Recovering the application's copy of the users after a webhook outage, in Node or an edge
// runtime: `resyncUsers` (walk every Clerk user and apply each with the webhook rules) and
// `verifySync` (the integrity check). The job itself (pages, cursor, retries, the webhook
// rules, the report) is the Worker's, in wasm (src/admin/sync/, exported by src/js_sync.rs);
// this module only moves data: fetch for the Backend API, the application's callbacks for
// its table, and a timer for the waits the job asks for.
//
// The job has a wasm of its own (dist/clerk_edge_guard_sync_bg.wasm, feature `js-sync`),
// compiled at the first call, so the middleware's wasm does not carry it. The entries of
// `clerk-edge-guard/sync` say how to get its module (useSyncWasm): sync-node.js (also loaded
// by index.js) reads the file, sync-edge.js hands over the bundler's. edge.js registers none.
import {
  initSync,
  syncJobApplyPage,
  syncJobApplySweep,
  syncJobAudit,
  syncJobCancel,
  syncJobCleared,
  syncJobCommitted,
  syncJobContinue,
  syncJobFeed,
  syncJobNext,
  syncJobStart,
  syncJobStatus,
  syncJobStorageFailed,
} from "./dist/clerk_edge_guard_sync.js";

let loadModule = null;
let compiled = false;

/** Sets how the job's wasm module is obtained: `load()` answers (or resolves to) its bytes or its Module. */
export function useSyncWasm(load) {
  loadModule = load;
}

/** Compiles the job's wasm at the first call. */
async function ready(caller) {
  if (compiled) return;
  try {
    if (loadModule === null) {
      throw new Error(
        "in an edge runtime, import resyncUsers and verifySync from the package's sync entry, clerk-edge-guard/sync (the main entry leaves the resync out of the middleware's bundle)",
      );
    }
    initSync({ module: await loadModule() });
  } catch (error) {
    throw new Error(
      `${caller}: the resync's wasm (dist/clerk_edge_guard_sync_bg.wasm) could not be loaded: ${error?.message ?? error}; reinstall clerk-edge-guard`,
    );
  }
  compiled = true;
}

/** A refusal of the core (bad options, a cursor that cannot be resumed): `code`, `status`. */
export class SyncError extends Error {
  constructor(code, message, status = 400) {
    super(message);
    this.name = "SyncError";
    this.code = code;
    this.status = status;
  }
}

const CORE_STATUS = { "job-running": 409, "nothing-to-resume": 409, "nothing-to-cancel": 409 };

/** Parses a wasm answer; a refusal becomes a SyncError. */
function core(text) {
  const answer = JSON.parse(text);
  if (typeof answer.error === "string") {
    throw new SyncError(answer.error, answer.message ?? answer.error, CORE_STATUS[answer.error] ?? 400);
  }
  return answer;
}

function defaultSleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Replaces every occurrence of `secret` (the secret key) in `text`. */
function redact(text, secret) {
  let out = typeof text === "string" ? text : String(text ?? "");
  if (typeof secret === "string" && secret.length > 0) out = out.split(secret).join("[redacted]");
  return out;
}

function errorText(error, secret) {
  const text = typeof error?.message === "string" ? error.message : String(error ?? "");
  return redact(text, secret).slice(0, 300);
}

/** A stored row as plain JSON: Date and bigint `updated_at`, 0/1 or bigint `banned`. */
function plainRow(row) {
  if (row == null || typeof row !== "object") return row;
  const out = {
    id: row.id,
    primary_email: row.primary_email ?? null,
    first_name: row.first_name ?? null,
    last_name: row.last_name ?? null,
    banned: typeof row.banned === "bigint" ? Number(row.banned) : (row.banned ?? false),
    updated_at: row.updated_at,
  };
  if (out.updated_at instanceof Date) out.updated_at = out.updated_at.getTime();
  else if (typeof out.updated_at === "bigint") out.updated_at = Number(out.updated_at);
  return out;
}

function idList(values, what) {
  if (values == null) return [];
  if (!Array.isArray(values)) throw new TypeError(`${what} must return an array`);
  return values.map((value) => (typeof value === "string" ? value : String(value?.id ?? value)));
}

/**
 * One attempt of a `call` action, with the action's timeout: the core's outcome shapes. The
 * error of a failed fetch is never looked at (its text can quote the URL). `undefined` when
 * `signal` aborted the attempt: nothing is fed, the job is cancelled as it was before it.
 */
async function attempt(fetchImpl, action, signal) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), action.timeout_ms);
  const stop = () => controller.abort();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    const response = await fetchImpl(action.url, {
      method: action.method,
      headers: action.headers,
      signal: controller.signal,
    });
    const body = await response.text();
    return {
      status: response.status,
      body,
      retry_after: response.headers.get("retry-after"),
      // For a Retry-After given as an HTTP date (the core turns it into seconds).
      date: response.headers.get("date"),
      received_at: Date.now(),
    };
  } catch {
    if (signal?.aborted) return undefined;
    return controller.signal.aborted ? { timeout: true } : { network_error: "connection failed" };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", stop);
  }
}

/** The options both jobs share, checked. */
function common(options, name) {
  if (options == null || typeof options !== "object") throw new TypeError(`${name} needs an options object`);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? defaultSleep;
  const log = options.log === undefined ? (line) => console.log(line) : options.log;
  for (const [field, value] of [["fetch", fetchImpl], ["now", now], ["sleep", sleep]]) {
    if (typeof value !== "function") throw new TypeError(`${name}: ${field} must be a function`);
  }
  for (const field of ["getUsers", "onProgress", "getTombstones"]) {
    if (options[field] != null && typeof options[field] !== "function") {
      throw new TypeError(`${name}: ${field} must be a function`);
    }
  }
  if (log !== null && typeof log !== "function") throw new TypeError(`${name}: log must be a function or null`);
  if (typeof options.getUsers !== "function") throw new TypeError(`${name}: getUsers(ids) is required`);
  const secretKey = typeof options.secretKey === "string" ? options.secretKey : "";
  const apiUrl = typeof options.apiUrl === "string" ? options.apiUrl : "";
  if (options.signal != null && typeof options.signal.aborted !== "boolean") {
    throw new TypeError(`${name}: signal must be an AbortSignal`);
  }
  return { fetchImpl, now, sleep, log, secretKey, apiUrl, signal: options.signal ?? null };
}

/** The core's status fields (snake_case) plus `lastError`. */
function report(job, now, secret) {
  const status = core(syncJobStatus(job, now)).job;
  if (typeof status.last_error === "string") status.last_error = redact(status.last_error, secret);
  return { ...status, lastError: status.last_error ?? null };
}

/**
 * Drives `job` (its stored form) until it stops, the signal aborts it (cancelled after the
 * current step), or a callback fails (failed, with the step not applied). `table` is the
 * application's side, each step answering the job after it: page(users, job),
 * sweep(job, after, limit), clear(job, limit).
 */
async function drive(job, table, io) {
  const { fetchImpl, now, sleep, secretKey, apiUrl, signal } = io;
  for (;;) {
    if (signal?.aborted) {
      const answer = JSON.parse(syncJobCancel(job, "aborted by the caller's signal", now()));
      return answer.job ?? job;
    }
    const action = core(syncJobNext(job, apiUrl, secretKey, now()));
    switch (action.action) {
      case "stop":
        return job;
      case "wait":
        await sleep(Math.max(0, action.until - now()), signal ?? undefined);
        break;
      case "call": {
        const outcome = secretKey ? await attempt(fetchImpl, action, signal) : { secret_key_missing: true };
        if (outcome === undefined) break;
        const fed = core(syncJobFeed(job, JSON.stringify(outcome), now()));
        if (fed.result !== "page") {
          job = fed.job;
          break;
        }
        job = await table.page(fed.users, fed.job);
        break;
      }
      case "sweep":
        job = await table.sweep(job, action.after, action.limit);
        break;
      case "clear":
        job = await table.clear(job, action.limit);
        break;
      default:
        throw new Error(`unknown job action ${action.action}`);
    }
  }
}

/** A callback failed: the job (before the step) ends failed, resumable. */
function storageFailed(job, step, error, io) {
  return core(syncJobStorageFailed(job, step, errorText(error, io.secretKey), io.now())).job;
}

function audit(io, job, action, reason) {
  if (!io.log) return;
  const answer = JSON.parse(syncJobAudit(job, action, reason, io.now()));
  if (typeof answer.line === "string") io.log(redact(answer.line, io.secretKey));
}

function endAction(state) {
  return { done: "done", failed: "failed", cancelled: "cancel" }[state] ?? null;
}

/**
 * Calls `onProgress` after a page was applied; answers the job, which ends `failed` (after
 * that page: a resume continues with the next one) when `onProgress` threw.
 */
async function progress(io, onProgress, job, withCursor) {
  if (!onProgress) return job;
  const status = report(job, io.now(), io.secretKey);
  try {
    await (withCursor ? onProgress(status, job) : onProgress(status));
    return job;
  } catch (error) {
    return status.state === "running" ? storageFailed(job, "onProgress", error, io) : job;
  }
}

/**
 * Reads the stored rows and tombstones of a page's users and applies the page in the core:
 * `{ applied }`, or `{ failed: job }` when a callback threw or answered rows the core cannot
 * read (the page is then not applied; a resume takes it again).
 */
async function readPage(users, fed, getUsers, getTombstones, io) {
  const ids = users.map((user) => user.id);
  let step = "getUsers";
  let rows;
  let tombstones;
  try {
    rows = (await getUsers(ids)) ?? [];
    if (!Array.isArray(rows)) throw new TypeError("getUsers must return an array of rows");
    rows = rows.map(plainRow);
    step = "getTombstones";
    tombstones = getTombstones ? idList(await getTombstones(ids), "getTombstones") : [];
  } catch (error) {
    return { failed: storageFailed(fed, step, error, io) };
  }
  const answer = JSON.parse(
    syncJobApplyPage(fed, JSON.stringify(users), JSON.stringify(rows), JSON.stringify(tombstones), io.now()),
  );
  if (typeof answer.error === "string") return { failed: storageFailed(fed, "getUsers", answer, io) };
  return { applied: answer };
}

/**
 * Walks every Clerk user (`GET /v1/users`, oldest first, cursor pages) and applies each to
 * the application's table with the webhook rules: `upsertUser(user)` is called only for users
 * with no row, or whose row is older or different; a newer row is kept, a tombstoned id never
 * brought back. Resumable: the result's `cursor`, passed back as `cursor`, continues a failed
 * or cancelled run from its last applied page.
 */
export async function resyncUsers(options = {}) {
  await ready("resyncUsers");
  const io = common(options, "resyncUsers");
  const { getUsers, upsertUser, getTombstones, onProgress } = options;
  const dryRun = options.dryRun === true;
  if (upsertUser != null && typeof upsertUser !== "function") {
    throw new TypeError("resyncUsers: upsertUser must be a function");
  }
  const reason = typeof options.reason === "string" ? options.reason : "";
  const resuming = options.cursor != null && options.cursor !== "";
  let job;
  if (resuming) {
    if (typeof options.cursor !== "string") throw new TypeError("resyncUsers: cursor must be a string");
    // The run keeps the settings of the run it continues (dryRun and pageSize are its own).
    ({ job } = core(syncJobContinue("resync", options.cursor, reason, io.now())));
  } else {
    const body = { reason };
    if (dryRun) body.dry_run = true;
    if (options.pageSize !== undefined) body.page_size = options.pageSize;
    ({ job } = core(syncJobStart("resync", JSON.stringify(body), "", io.now())));
  }
  const settings = report(job, io.now(), io.secretKey);
  if (resuming) {
    // A resumed run keeps its settings, as the core's resume does: refuse other ones rather
    // than, say, write for real where a dry run was asked for.
    for (const [option, field, wanted] of [
      ["dryRun", "dry_run", options.dryRun === undefined ? undefined : dryRun],
      ["pageSize", "page_size", options.pageSize],
    ]) {
      if (wanted !== undefined && settings[field] !== wanted) {
        throw new SyncError(
          "invalid-field",
          `${option} cannot be changed on resume: the cursor's run has ${field} ${settings[field]} (start a new run, without cursor, to change it)`,
        );
      }
    }
  }
  if (!settings.dry_run && typeof upsertUser !== "function") {
    throw new TypeError("resyncUsers: upsertUser(user) is required (unless dryRun)");
  }
  audit(io, job, resuming ? "resume" : "start", reason);

  const table = {
    async page(users, fed) {
      const read = await readPage(users, fed, getUsers, getTombstones, io);
      if (read.failed) return read.failed;
      const applied = read.applied;
      let written = 0;
      for (const user of applied.upserts) {
        try {
          // `false`: the guarded write changed nothing (a webhook got there first).
          if ((await upsertUser(user)) !== false) written += 1;
        } catch (error) {
          return storageFailed(fed, "upsertUser", error, io);
        }
      }
      const job = core(syncJobCommitted(applied.job, applied.upserts.length, written)).job;
      return progress(io, onProgress, job, true);
    },
    async sweep(job) {
      // A resync started here never sweeps (no remove_deleted); an empty chunk ends it.
      return core(syncJobApplySweep(job, "[]", io.now())).job;
    },
    async clear(job) {
      return core(syncJobCleared(job, 0, io.now())).job;
    },
  };
  job = await drive(job, table, io);
  const result = report(job, io.now(), io.secretKey);
  const end = endAction(result.state);
  if (end) audit(io, job, end, end === "cancel" ? "aborted by the caller's signal" : reason);
  return { ...result, cursor: job };
}

/**
 * The integrity check: walks every Clerk user and compares it with its row (`getUsers`), then
 * sweeps the table in id order (`listUsers(afterId, limit)`) for rows whose user is gone from
 * Clerk. Writes nothing. The ids seen in Clerk are kept in memory for the sweep.
 */
export async function verifySync(options = {}) {
  await ready("verifySync");
  const io = common(options, "verifySync");
  const { getUsers, listUsers, getTombstones, onProgress } = options;
  if (typeof listUsers !== "function") throw new TypeError("verifySync: listUsers(afterId, limit) is required");
  const reason = typeof options.reason === "string" && options.reason !== "" ? options.reason : "verify-sync";
  const body = { reason };
  if (options.pageSize !== undefined) body.page_size = options.pageSize;
  let { job } = core(syncJobStart("verify", JSON.stringify(body), "", io.now()));
  audit(io, job, "start", reason);
  const seen = new Set();

  const table = {
    async page(users, fed) {
      const read = await readPage(users, fed, getUsers, getTombstones, io);
      if (read.failed) return read.failed;
      const applied = read.applied;
      for (const id of applied.seen) seen.add(id);
      return progress(io, onProgress, applied.job, false);
    },
    async sweep(job, after, limit) {
      let rows;
      try {
        rows = (await listUsers(after ?? null, limit)) ?? [];
        if (!Array.isArray(rows)) throw new TypeError("listUsers must return an array of rows");
      } catch (error) {
        return storageFailed(job, "listUsers", error, io);
      }
      const chunk = rows.map((row) => {
        const { id, updated_at: updatedAt } = plainRow(row);
        return { id, updated_at: updatedAt, seen: seen.has(id) };
      });
      return core(syncJobApplySweep(job, JSON.stringify(chunk), io.now())).job;
    },
    async clear(job, limit) {
      let deleted = 0;
      for (const id of seen) {
        if (deleted >= limit) break;
        seen.delete(id);
        deleted += 1;
      }
      return core(syncJobCleared(job, deleted, io.now())).job;
    },
  };
  job = await drive(job, table, io);
  const result = report(job, io.now(), io.secretKey);
  const end = endAction(result.state);
  if (end) audit(io, job, end, end === "cancel" ? "aborted by the caller's signal" : reason);
  return result;
}
