// POST {"reason"?, "page_size"?} with Authorization: Bearer $CLERK_ADMIN_TOKEN: the integrity
// check of the app's SQLite users table against Clerk (verifySync). Writes nothing; answers
// the report (`in_sync`, `differences`, `report` with counts and sample ids).
import { SyncError, verifySync } from "clerk-edge-guard";

import { adminRefusal, json, readJsonObject, timeBudgetMs } from "../../../../lib/admin-auth";
import { getTombstones, getUsers, listUsers } from "../../../../lib/users-db";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(req: Request): Promise<Response> {
  const refused = adminRefusal(req);
  if (refused) return refused;
  const body = await readJsonObject(req);
  if (body === null) return json(400, { error: "invalid-json", message: "the body must be a JSON object" });
  const { reason, page_size: pageSize } = body;
  try {
    const report = await verifySync({
      secretKey: process.env.CLERK_SECRET_KEY ?? "",
      apiUrl: process.env.CLERK_API_URL,
      reason: typeof reason === "string" ? reason : undefined,
      pageSize: pageSize as number | undefined,
      getUsers,
      getTombstones,
      listUsers,
      signal: AbortSignal.timeout(timeBudgetMs()),
    });
    return json(200, report);
  } catch (error) {
    if (error instanceof SyncError) return json(error.status, { error: error.code, message: error.message });
    throw error;
  }
}
