import { auth, IdentityHeadersError } from "clerk-edge-guard/server";

// Left out of the middleware's matcher on purpose: any x-clerk-* header here was written by
// the client, and auth() refuses it (no signature from the middleware).
export async function GET() {
  try {
    const { userId } = await auth();
    return Response.json({ trusted: true, userId });
  } catch (error) {
    if (!(error instanceof IdentityHeadersError)) throw error;
    return Response.json({ trusted: false, problem: error.problem, message: error.message }, { status: 401 });
  }
}
