import { headers } from "next/headers";

// The identity the middleware established, read from the request headers it set.
export default async function Home() {
  const h = await headers();
  const identity = {
    status: h.get("x-clerk-auth-status"),
    userId: h.get("x-clerk-user-id"),
    sessionId: h.get("x-clerk-session-id"),
    orgId: h.get("x-clerk-org-id"),
    orgRole: h.get("x-clerk-org-role"),
  };
  return (
    <main>
      <h1>Signed in</h1>
      <p id="status">{identity.status}</p>
      <p id="user">{identity.userId}</p>
      <pre id="identity">{JSON.stringify(identity)}</pre>
    </main>
  );
}
