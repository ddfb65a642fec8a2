// Clerk-shaped RS256 session tokens for the benchmarks: one key pair per process, each
// bench chooses the claims (its clock, how distinct the tokens are).
import { createSign, generateKeyPairSync } from "node:crypto";

/** `{"…"}` as base64url JSON, as a JWT part. */
export const b64json = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * A minting function over a fresh RSA-2048 key pair.
 * @param {(serial: number) => object} claims the payload of the n-th token (from 1)
 * @returns {{ jwtKey: string, mint: () => string }} the SPKI PEM to verify with, and `mint`
 */
export function tokenMinter(claims) {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const header = b64json({ alg: "RS256", kid: "ins_bench", typ: "JWT" });
  let serial = 0;
  const mint = () => {
    serial += 1;
    const input = `${header}.${b64json(claims(serial))}`;
    return `${input}.${createSign("RSA-SHA256").update(input).sign(privateKey).toString("base64url")}`;
  };
  return { jwtKey: publicKey.export({ type: "spki", format: "pem" }), mint };
}
