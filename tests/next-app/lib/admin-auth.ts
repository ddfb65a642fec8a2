// The bearer check of the app's own admin routes (resync, verify-sync), answered as the
// package's admin routes answer it: 404 while CLERK_ADMIN_TOKEN is unset (the routes do not
// exist), 401 with `WWW-Authenticate: Bearer` for a missing or wrong token. The comparison
// takes the same time whatever the token: both sides are hashed to a fixed length first.
import { createHash, timingSafeEqual } from "node:crypto";

import { SyncError } from "clerk-edge-guard";

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function refuse(status: number, error: string, message: string): Response {
  const headers: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
  if (status === 401) headers["www-authenticate"] = "Bearer";
  return new Response(JSON.stringify({ error, message }), { status, headers });
}

/** `null` when the request carries the admin token, else the answer to send. */
export function adminRefusal(req: Request): Response | null {
  const token = process.env.CLERK_ADMIN_TOKEN;
  if (!token) return refuse(404, "not-found", "not found");
  const header = req.headers.get("authorization") ?? "";
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) {
    return refuse(401, "admin-token-missing", "missing admin credentials: send Authorization: Bearer <CLERK_ADMIN_TOKEN>");
  }
  if (!timingSafeEqual(digest(match[1]), digest(token))) {
    return refuse(401, "admin-token-invalid", "the bearer token is not the admin token: use the current CLERK_ADMIN_TOKEN");
  }
  return null;
}

/** A JSON answer that is never cached. */
export function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
  });
}

/** How long one request may run a job before it stops (resumable): RESYNC_TIME_BUDGET_MS,
 * default 50 s, under the usual serverless limit of 60 s. */
export function timeBudgetMs(): number {
  const value = Number(process.env.RESYNC_TIME_BUDGET_MS);
  return Number.isFinite(value) && value > 0 ? value : 50_000;
}

/** The request's JSON object body, `{}` when empty, or `null` when it is not an object. */
export async function readJsonObject(req: Request): Promise<Record<string, unknown> | null> {
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * The frame of an admin job route: the bearer check, the JSON body, then `run(body)`, whose
 * result is answered 200; a refusal of the package's core (`SyncError`) is answered with its
 * status and code.
 */
export async function adminJobRoute(
  req: Request,
  run: (body: Record<string, unknown>) => Promise<Response | unknown>,
): Promise<Response> {
  const refused = adminRefusal(req);
  if (refused) return refused;
  const body = await readJsonObject(req);
  if (body === null) return json(400, { error: "invalid-json", message: "the body must be a JSON object" });
  try {
    const result = await run(body);
    return result instanceof Response ? result : json(200, result);
  } catch (error) {
    if (error instanceof SyncError) return json(error.status, { error: error.code, message: error.message });
    throw error;
  }
}
