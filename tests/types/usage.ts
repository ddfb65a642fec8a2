// Compile-time test of the package's public types (index.d.ts) as a user's TypeScript finds
// them, through package.json's `exports`: every line must type-check, and the line after each
// `@ts-expect-error` must be an error (tsc fails on a directive that finds none). Run by
// tests/types/types.test.mjs; never executed.
import {
  clerkEdgeMiddleware,
  createDiagnoseHandler,
  createRestoreHandler,
  createRevokeHandler,
  createRouteMatcher,
  createWebhookHandler,
  incidentReport,
  memoryStore,
  openIncidentReport,
  resyncUsers,
  SyncError,
  upstashStore,
  verifySessionToken,
  verifySync,
  verifyWebhook,
  version,
  type ClerkWebhookEvent,
  type DenyListStore,
  type HealthReport,
  type SyncUser,
} from "clerk-edge-guard";
// The server-code subpath (no wasm), with its own types.
import { auth, type AuthState } from "clerk-edge-guard/server";
// The resync with its own wasm (what edge code imports), with the main entry's types.
import * as edgeSync from "clerk-edge-guard/sync";
const sameResync: typeof resyncUsers = edgeSync.resyncUsers;
const sameCheck: typeof verifySync = edgeSync.verifySync;
const isSyncFailure = (error: unknown): error is SyncError => error instanceof edgeSync.SyncError;
const syncUser: edgeSync.SyncUser | undefined = undefined;
void [sameResync, sameCheck, isSyncFailure, syncUser];

// A deny-list store of the app's own.
const kv = new Map<string, string>();
const store: DenyListStore = {
  async get(key) {
    return kv.get(key) ?? null;
  },
  async put(key, value, options) {
    if (!options?.ttlSeconds) kv.set(key, value);
  },
  async delete(key) {
    kv.delete(key);
  },
};
// @ts-expect-error a store needs delete
export const incomplete: DenyListStore = { get: async () => null, put: async () => {} };

// The middleware: options in, a request handler out.
export default clerkEdgeMiddleware({ store, env: { CLERK_SECRET_KEY: "sk_test_types" }, denyListCacheMs: 1000 });
export const answer: Promise<Response> = clerkEdgeMiddleware()(new Request("https://app.test/"));
// @ts-expect-error the store is an object with get/put/delete, not a URL
clerkEdgeMiddleware({ store: "redis://localhost:6379" });
// @ts-expect-error configuration values are strings, as in process.env
clerkEdgeMiddleware({ env: { CLERK_CLOCK_SKEW_MS: 5000 } });

// The handler form, as Clerk's clerkMiddleware: the edge decides, the handler asks for more.
const isAdminRoute = createRouteMatcher(["/admin(.*)"]);
export const withHandler = clerkEdgeMiddleware(
  async (auth, req) => {
    if (isAdminRoute(req)) await auth.protect({ role: "org:admin" });
  },
  { store },
);
// @ts-expect-error a route matcher takes patterns, not a number
createRouteMatcher(404);

// Server code reads the identity the middleware signed.
export async function whoami(): Promise<string | null> {
  const state: AuthState = await auth();
  if (state.has({ role: "org:admin" })) return state.orgId;
  // @ts-expect-error the status is signed-in, signed-out or bypassed
  if (state.status === "handshake") return null;
  return (await auth.protect()).userId;
}

export const redis = upstashStore({ url: "https://eu1.upstash.test", token: "t", timeoutMs: 500 });
// @ts-expect-error upstashStore needs its token
upstashStore({ url: "https://eu1.upstash.test" });

// Route handlers.
export const POST = createWebhookHandler({
  store: memoryStore(),
  onEvent: async (event: ClerkWebhookEvent) => {
    const type: string = event.type;
    return type;
  },
});
// @ts-expect-error an event's type is a string
createWebhookHandler({ onEvent: (event) => event.type.toFixed(0) });
export const revoke: (req: Request) => Promise<Response> = createRevokeHandler({ store });
export const restore = createRestoreHandler();
export const diagnose = createDiagnoseHandler({ store, fetch });

// Verification: the outcome must be narrowed before its fields are read.
export async function check(token: string): Promise<string> {
  const result = await verifySessionToken(token, { jwtKey: "-----BEGIN PUBLIC KEY-----", clockSkewInMs: 5000 });
  if (result.status === "signed-in") return String(result.claims.sub);
  // @ts-expect-error a signed-out result has no claims
  void result.claims;
  // @ts-expect-error the token is a string
  await verifySessionToken(42, {});
  return result.reason;
}

const webhook = verifyWebhook({ headers: new Headers(), body: "{}", secret: "whsec_types" });
export const webhookReason: string = webhook.ok ? "ok" : webhook.reason;
// @ts-expect-error read `event` only once `ok` is known to be true
void webhook.event;

export const v: string = version();
// @ts-expect-error version() is text
export const n: number = version();

export const mode: HealthReport["bypass"]["mode"] = "grace";
// @ts-expect-error the bypass modes are off, open and grace
export const closed: HealthReport["bypass"]["mode"] = "closed";

// The resync and the integrity check, against the app's own table.
const rows = new Map<string, SyncUser>();
export async function resync(): Promise<string> {
  const result = await resyncUsers({
    secretKey: "sk_test_types",
    reason: "INC-1",
    getUsers: (ids) => ids.flatMap((id) => (rows.has(id) ? [rows.get(id)!] : [])),
    upsertUser: (user) => rows.set(user.id, user),
  });
  // @ts-expect-error a resync needs a reason (the audit lines' operator_reason)
  await resyncUsers({ secretKey: "sk_test_types", getUsers: () => [] });
  const check = await verifySync({ secretKey: "sk_test_types", getUsers: () => [], listUsers: () => [] });
  return `${result.cursor} ${check.state}`;
}

export function codeOf(error: unknown): string | null {
  return error instanceof SyncError ? `${error.code} ${error.status}` : null;
}

// The post-incident report (Node entry).
export async function report(): Promise<string> {
  const { markdown } = await incidentReport("{}\n", { from: "2026-11-25 16:00", to: new Date() });
  const stream = openIncidentReport();
  stream.push(new Uint8Array());
  // @ts-expect-error the window is a time, not a flag
  await incidentReport("", { from: true });
  return markdown + stream.finish().markdown;
}
