import { auth } from "clerk-edge-guard/server";

// The middleware already asked for org:admin; server code may ask again (defence in depth,
// and the page's own contract).
export default async function Admin() {
  const { userId, orgId, orgRole } = await auth.protect({ role: "org:admin" });
  return (
    <main>
      <h1>Admin</h1>
      <p id="user">{userId}</p>
      <p id="org">{orgId}</p>
      <p id="role">{orgRole}</p>
    </main>
  );
}
