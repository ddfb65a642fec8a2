// The identity headers an origin received from the edge, as the tests compare them: every
// `x-clerk-*` header but the signature, whose value changes with the clock (it is checked on
// its own: tests/e2e/protected.test.mjs, tests/js/identity-signature.test.mjs).
export function clerkHeaders(record) {
  return Object.fromEntries(
    Object.entries(record.headers).filter(([name]) => name.startsWith("x-clerk-") && name !== "x-clerk-edge-signature"),
  );
}
