import { auth } from "clerk-edge-guard/server";

// Open to everyone (the middleware's handler does not protect it); who is signed in comes
// from auth(), as with @clerk/nextjs.
export default async function Pricing() {
  const { status, userId } = await auth();
  return (
    <main>
      <h1>Pricing</h1>
      <p id="status">{status}</p>
      <p id="user">{userId ?? "anonymous"}</p>
    </main>
  );
}
