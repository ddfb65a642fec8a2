// POST {"user_id"} | {"session_id"} (+ "unban", "reason") with the admin token: lift the
// edge deny-list entry (and unban at Clerk).
import { createRestoreHandler } from "clerk-edge-guard";

import { denyListStore } from "../../../../lib/store";

export const POST = createRestoreHandler({ store: denyListStore() });
