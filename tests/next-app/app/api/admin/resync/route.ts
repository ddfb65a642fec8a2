// POST {"reason", "cursor"?, "dry_run"?, "page_size"?} with Authorization: Bearer
// $CLERK_ADMIN_TOKEN: walks every Clerk user and applies each to the app's SQLite users table
// with the webhook rules (resyncUsers), until done or until the time budget
// (RESYNC_TIME_BUDGET_MS) is spent. Answers the run's status with its `cursor`: when `state`
// is `cancelled` (budget spent) or `failed`, POST again with {"reason", "cursor"} to continue.
import { resyncUsers } from "clerk-edge-guard";

import { adminJobRoute, json, timeBudgetMs } from "../../../../lib/admin-auth";
import { getTombstones, getUsers, upsertUser } from "../../../../lib/users-db";

// node:sqlite: the Node runtime, never the edge; never prerendered.
export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(req: Request): Promise<Response> {
  return adminJobRoute(req, async (body) => {
    const { reason, cursor, dry_run: dryRun, page_size: pageSize } = body;
    if (cursor !== undefined && typeof cursor !== "string") {
      return json(400, { error: "invalid-field", message: "cursor must be the string an earlier answer gave" });
    }
    if (dryRun !== undefined && typeof dryRun !== "boolean") {
      return json(400, { error: "invalid-field", message: "dry_run must be true or false" });
    }
    return resyncUsers({
      secretKey: process.env.CLERK_SECRET_KEY ?? "",
      apiUrl: process.env.CLERK_API_URL,
      reason: typeof reason === "string" ? reason : "",
      cursor,
      dryRun,
      // Checked by the core: a whole number from 1 to 500.
      pageSize: pageSize as number | undefined,
      getUsers,
      getTombstones,
      upsertUser,
      signal: AbortSignal.timeout(timeBudgetMs()),
    });
  });
}
