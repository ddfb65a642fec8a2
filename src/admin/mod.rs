//! The operator's routes under `/__clerk/admin/`, as pure logic that both adapters drive.
//!
//! - [`access`]: who may call an admin route (token, method), checked first by every one.
//! - [`revocation`]: `revoke` / `restore`: shut a user or session out at the edge at once
//!   (deny-list), then ask Clerk to revoke and ban.
//! - [`sync`]: `resync`, `verify-sync` and `export`: recover the edge's copy of the users
//!   after a webhook outage, as background jobs that survive restarts.

pub mod access;
pub mod revocation;
pub mod sync;
