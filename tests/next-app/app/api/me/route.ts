import { auth } from "clerk-edge-guard/server";

// GET: the auth state server code reads, as JSON.
export async function GET() {
  const state = await auth();
  return Response.json(
    {
      status: state.status,
      userId: state.userId,
      sessionId: state.sessionId,
      orgId: state.orgId,
      orgRole: state.orgRole,
      orgSlug: state.orgSlug,
      orgPermissions: state.orgPermissions,
      canWritePosts: state.has({ permission: "org:posts:write" }),
    },
    { headers: { "cache-control": "no-store" } },
  );
}

// POST: only for users whose organization grants org:posts:write (404 otherwise, as Clerk).
export async function POST() {
  const { userId } = await auth.protect({ permission: "org:posts:write" });
  return Response.json({ written: true, by: userId });
}
