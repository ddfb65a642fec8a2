// Route handlers for the Next.js App Router (`export const POST = createWebhookHandler(…)`):
// the Worker's `/__clerk/webhooks`, `/__clerk/admin/revoke` and `/__clerk/admin/restore`,
// with the checks, plans and answers in wasm and the I/O (body, store, fetch) here.
import {
  guardState,
  readLimited,
  rememberDenyEntry,
  requestFacts,
  sendPlanned,
  storeOf,
  toResponse,
} from "./guard.js";

/** The request headers the Svix verifier may look at: nothing else of the request is read. */
const WEBHOOK_HEADERS = [
  "svix-id",
  "svix-timestamp",
  "svix-signature",
  "webhook-id",
  "webhook-timestamp",
  "webhook-signature",
];

/**
 * How long a delivered `svix-id` is remembered: Svix retries a failed delivery for about a
 * day and a half, and a redelivery of an accepted one must be recognised within that time.
 */
export const WEBHOOK_SEEN_TTL_SECONDS = 3 * 24 * 3600;

/**
 * `POST` handler for Clerk webhooks delivered by Svix.
 *
 * Answers 2xx only once the event is applied, so Svix retries everything else:
 * - 503 with `Retry-After` while `CLERK_WEBHOOKS_PAUSED=true` (nothing read or applied);
 * - 400 `{"error": "invalid-webhook", "reason"}` for a bad signature, timestamp or payload;
 * - deny-lists `session.revoked` / `session.removed` / `session.ended` (the session) and
 *   `user.deleted` (the user) in the store itself, then `await onEvent(event)`;
 * - 200 after `onEvent` resolved; 500 if it threw or the store failed (Svix redelivers).
 * Redeliveries of an accepted `svix-id` are answered 200 `{"duplicate": true}` without calling
 * `onEvent` again; but a delivery whose `onEvent` failed, or two concurrent deliveries, reach
 * `onEvent` again: it must be idempotent (upsert by id, compare `updated_at`).
 *
 * @param {{ onEvent?: (event: object) => unknown, env?: object, store?: object }} [options]
 */
export function createWebhookHandler(options = {}) {
  const { onEvent } = options;
  if (onEvent !== undefined && typeof onEvent !== "function") {
    throw new TypeError("createWebhookHandler: onEvent must be a function");
  }
  const store = storeOf(options.store);
  return async function clerkWebhook(req) {
    const now = Date.now();
    const facts = requestFacts(req);
    const { guard } = guardState(options.env, facts);
    const start = JSON.parse(
      guard.webhookStart(facts, req.headers.get("content-length") ?? "", now),
    );
    if (start.respond) return toResponse(start.respond);
    const finish = (delivery, outcome, failedStore = "") =>
      toResponse(
        JSON.parse(
          guard.webhookFinish(facts, JSON.stringify(delivery), outcome, failedStore, Date.now()),
        ),
      );

    let body;
    try {
      body = await readLimited(req, start.read_limit);
    } catch {
      return finish(null, "failed", "request-body");
    }
    const headers = {};
    for (const name of WEBHOOK_HEADERS) {
      const value = req.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const checked = JSON.parse(
      guard.webhookVerify(facts, JSON.stringify(headers), body.bytes, body.tooLarge, now),
    );
    if (checked.respond) return toResponse(checked.respond);
    const { svix_id: svixId, type, event, writes, delivery } = checked.verified;

    const seenKey = `webhook:seen:${svixId}`;
    try {
      if ((await store.get(seenKey)) !== null) return finish(delivery, "duplicate");
    } catch {
      return finish(delivery, "failed", "dedupe");
    }
    try {
      // The edge entries first: a deleted user or ended session is shut out even if the
      // application's handler then fails.
      for (const write of writes) {
        const ttl = write.ttl_seconds;
        await store.put(write.key, write.value, ttl ? { ttlSeconds: ttl } : {});
        rememberDenyEntry(store, write.key, true);
      }
    } catch {
      return finish(delivery, "failed", "deny-list");
    }
    if (onEvent) {
      try {
        await onEvent(event);
      } catch {
        // The error is the application's: its text could quote the event, which never
        // reaches a log line here. Log inside onEvent what you need.
        return finish(delivery, "failed", "handler");
      }
    }
    try {
      // Recorded only after the effects: a failure in between means a redelivery applies
      // the event again, never that it is lost.
      await store.put(seenKey, JSON.stringify({ type, received_at: now }), {
        ttlSeconds: WEBHOOK_SEEN_TTL_SECONDS,
      });
    } catch {
      return finish(delivery, "failed", "dedupe");
    }
    return finish(delivery, "accepted");
  };
}

/**
 * `POST` handler of the admin revoke route (CONTRACT.md section 2): body
 * `{"user_id"}` or `{"session_id"}`, optional `ban`, `reason`, `dry_run`; needs
 * `Authorization: Bearer <CLERK_ADMIN_TOKEN>` (unset: 404). Writes the deny-list entry first,
 * then revokes the sessions at Clerk through the Backend API (and bans the user if asked).
 *
 * @param {{ env?: object, store?: object, fetch?: typeof fetch }} [options]
 */
export function createRevokeHandler(options = {}) {
  return adminHandler("revoke", options);
}

/**
 * `POST` handler of the admin restore route: removes the deny-list entry (and unbans the user
 * at Clerk with `"unban": true`).
 *
 * @param {{ env?: object, store?: object, fetch?: typeof fetch }} [options]
 */
export function createRestoreHandler(options = {}) {
  return adminHandler("restore", options);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function storageError(error) {
  const text = typeof error?.message === "string" ? error.message : "the store failed";
  return text.slice(0, 300);
}

function adminHandler(route, options) {
  const store = storeOf(options.store);
  return async function clerkAdmin(req) {
    const now = Date.now();
    const facts = requestFacts(req);
    const { guard } = guardState(options.env, facts);
    const fetchImpl = options.fetch ?? globalThis.fetch;
    const head = JSON.parse(
      guard.adminHead(
        route,
        facts,
        req.headers.get("content-type") ?? "",
        req.headers.get("content-length") ?? "",
        now,
      ),
    );
    if (head.respond) return toResponse(head.respond);
    let body;
    try {
      const read = await readLimited(req, head.read_limit);
      body = { bytes: read.bytes, state: read.tooLarge ? "too-large" : "complete" };
    } catch {
      // The client went away mid-body: still one answer and one audit line.
      body = { bytes: new Uint8Array(0), state: "unreadable" };
    }
    const run = guard.adminRun(route, body.bytes, body.state, now);
    try {
      let step = JSON.parse(run.start());
      while (step.kind !== "done") {
        let outcome;
        if (step.kind === "write") {
          try {
            const ttl = step.ttl_seconds;
            await store.put(step.key, step.value, ttl ? { ttlSeconds: ttl } : {});
            rememberDenyEntry(store, step.key, true);
            outcome = { storage: null };
          } catch (error) {
            outcome = { storage: storageError(error) };
          }
        } else if (step.kind === "delete") {
          try {
            await store.delete(step.key);
            rememberDenyEntry(store, step.key, false);
            outcome = { storage: null };
          } catch (error) {
            outcome = { storage: storageError(error) };
          }
        } else {
          if (step.delay_ms > 0) await sleep(step.delay_ms);
          outcome = { api: await sendPlanned(fetchImpl, step) };
        }
        step = JSON.parse(run.feed(JSON.stringify(outcome)));
      }
      return toResponse(JSON.parse(run.finish(facts, Date.now())).respond);
    } finally {
      run.free();
    }
  };
}
