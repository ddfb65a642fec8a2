//! Who the request is: the session token, where it is found and how it is verified the way
//! `@clerk/backend` verifies it, the keys that verify it, the per-isolate cache of checked
//! signatures, and Clerk's cookie path with its handshake (renewing an expired session
//! through the Frontend API).
//!
//! - [`token`]: find the session token in a request, verify it (`verifyToken`), normalise
//!   v1/v2 claims.
//! - [`organization`]: the active organization's id, role, slug and permissions, v1 and v2,
//!   read as Clerk reads them.
//! - [`keys`]: PEM / JWKS parsing and the JWKS cache policy.
//! - [`rsa`]: RSA public keys and PKCS#1 v1.5 signature checks (the adapters use WebCrypto).
//! - [`verified_cache`]: tokens whose signature was already checked in this isolate.
//! - [`handshake`]: `authenticateRequest`'s cookie path, the redirect to the Frontend API and
//!   the return leg's plan (nonce exchange, handshake token), sans-IO.

pub mod handshake;
pub mod keys;
pub mod organization;
/// RSA keys and PKCS#1 v1.5 checks: the `clerk-edge-guard-rsa` crate (crates/rsa), compiled
/// for speed.
pub use clerk_edge_guard_rsa as rsa;
pub mod token;
pub mod verified_cache;
