//! Who gets in: the protected-request decision (request facts, configuration, verification
//! or Clerk's cookie-path state, deny-list and clock in; forward, redirect or refuse out), the
//! emergency bypass policy, and the path patterns both are scoped by.
//!
//! - [`decision`]: every rule of who gets in, in one place; the answers' headers and bodies.
//! - [`deny_cache`]: the per-isolate cache of deny-list reads and writes.
//! - [`bypass`]: the emergency bypass (mode, expiry, path scope, never-bypass).
//! - [`paths`]: `CLERK_PUBLIC_PATHS` and friends, matched after percent-decoding.
//! - [`signature`]: the signature of the identity headers the edge forwards.

pub mod bypass;
pub mod decision;
pub mod deny_cache;
pub mod paths;
pub mod signature;
