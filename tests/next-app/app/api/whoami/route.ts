// Answers every x-clerk-* request header it received, as JSON: what the middleware set
// (and proof that a client's own x-clerk-* headers never get this far).
export function GET(request: Request) {
  const clerk: Record<string, string> = {};
  request.headers.forEach((value, name) => {
    if (name.startsWith("x-clerk-")) clerk[name] = value;
  });
  return Response.json(clerk, { headers: { "cache-control": "no-store" } });
}
