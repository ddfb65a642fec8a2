// POST {"user_id"} | {"session_id"} (+ "ban", "reason", "dry_run") with
// Authorization: Bearer $CLERK_ADMIN_TOKEN: deny-list at the edge, then revoke at Clerk.
import { createRevokeHandler } from "clerk-edge-guard";

import { denyListStore } from "../../../../lib/store";

export const POST = createRevokeHandler({ store: denyListStore() });
