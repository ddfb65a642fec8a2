// Clerk webhooks (Svix): verified in wasm; ended sessions and deleted users are deny-listed
// by the handler itself; onEvent is where an application keeps its own copy of users. It
// must be idempotent: Svix redelivers anything not answered 2xx.
import { createWebhookHandler, type ClerkWebhookEvent } from "clerk-edge-guard";

import { denyListStore } from "../../../lib/store";

async function onEvent(event: ClerkWebhookEvent) {
  if (event.data?.id === "user_fail_on_event") throw new Error("simulated database outage");
  console.log(JSON.stringify({ app: "webhook-received", type: event.type, id: event.data?.id ?? null }));
}

export const POST = createWebhookHandler({ onEvent, store: denyListStore() });
