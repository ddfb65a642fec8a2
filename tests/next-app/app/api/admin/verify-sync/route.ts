// POST {"reason"?, "page_size"?} with Authorization: Bearer $CLERK_ADMIN_TOKEN: the integrity
// check of the app's SQLite users table against Clerk (verifySync). Writes nothing; answers
// the report (`in_sync`, `differences`, `report` with counts and sample ids).
import { verifySync } from "clerk-edge-guard";

import { adminJobRoute, timeBudgetMs } from "../../../../lib/admin-auth";
import { getTombstones, getUsers, listUsers } from "../../../../lib/users-db";

export const runtime = "nodejs";
export const dynamic = "force-dynamic";

export async function POST(req: Request): Promise<Response> {
  return adminJobRoute(req, async ({ reason, page_size: pageSize }) =>
    verifySync({
      secretKey: process.env.CLERK_SECRET_KEY ?? "",
      apiUrl: process.env.CLERK_API_URL,
      reason: typeof reason === "string" ? reason : undefined,
      pageSize: pageSize as number | undefined,
      getUsers,
      getTombstones,
      listUsers,
      signal: AbortSignal.timeout(timeBudgetMs()),
    }),
  );
}
