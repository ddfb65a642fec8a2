//! # clerk-edge-guard
//!
//! Clerk session verification, emergency bypass, webhook receipt and session revocation,
//! running at the edge: as a Cloudflare Worker (feature `worker`) and as wasm inside Next.js
//! edge middleware through the npm package in `pkg-js/` (feature `js`).
//!
//! ## Design
//! One pure core and thin runtime adapters. The core modules never read a clock, never do
//! I/O and never touch a JavaScript value: time, randomness, HTTP and storage come in as
//! arguments, so the whole decision logic is tested natively with `cargo test`. The adapters
//! (`worker`, `js`) only translate requests in and responses out.
//!
//! Data flows one way: request -> facts -> decision -> response and audit lines.
//!
//! ## Module map
//! - [`config`]: environment map -> validated [`config::Config`] (every variable, one place).
//! - [`token`]: find the session token in a request, verify it the way `@clerk/backend` does,
//!   normalise v1/v2 claims.
//! - [`keys`]: PEM / JWKS parsing and the JWKS cache policy.
//! - [`bypass`]: the emergency bypass policy (mode, expiry, path scope, never-bypass).
//! - [`decision`]: request facts + config + verification outcome -> [`decision::Decision`].
//! - [`handshake`]: Clerk's cookie path and handshake (`authenticateRequest`): the request's
//!   context, the redirect to the Frontend API, and the return leg's plan (nonce exchange,
//!   handshake token), sans-IO.
//! - [`health`]: the body of `GET /__clerk/health`.
//! - [`audit`]: the audit event and its one-line JSON form, with redaction.
//! - [`webhook`]: Svix signature verification and Clerk webhook events.
//! - [`revocation`]: admin revoke/restore requests, deny-list entries and the revoke plan.
//! - [`clerk_api`]: Backend API requests and responses as plain data.
//! - [`paths`]: the path patterns of `CLERK_PUBLIC_PATHS` and friends.
//! - [`verified_cache`]: the per-isolate cache of tokens whose signature was checked.
//! - [`rfc3339`]: the timestamps of audit lines and `CLERK_EMERGENCY_BYPASS_UNTIL`.

pub mod audit;
pub mod bypass;
pub mod clerk_api;
pub mod config;
pub mod decision;
pub mod handshake;
pub mod health;
pub mod keys;
pub mod paths;
pub mod revocation;
pub mod rfc3339;
pub mod token;
pub mod verified_cache;
pub mod webhook;

#[cfg(feature = "worker")]
mod worker;

#[cfg(feature = "js")]
mod js;
#[cfg(feature = "js")]
mod js_fast;
