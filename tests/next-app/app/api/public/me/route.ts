import { auth } from "clerk-edge-guard/server";

// A public route: signed-out visitors get here too; auth() says who, if anyone, is signed in.
export async function GET() {
  const { status, reason, userId } = await auth();
  return Response.json({ status, reason, userId }, { headers: { "cache-control": "no-store" } });
}
