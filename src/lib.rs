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
//! - [`auth`]: who the request is: [`auth::token`] (find and verify the session token as
//!   `@clerk/backend` does), [`auth::keys`] (PEM, JWKS and its cache policy),
//!   [`auth::verified_cache`], and [`auth::handshake`] (Clerk's cookie path and handshake,
//!   sans-IO).
//! - [`policy`]: who gets in: [`policy::decision`] (request facts + config + verification ->
//!   [`policy::decision::Decision`]), [`policy::bypass`] (the emergency bypass) and
//!   [`policy::paths`] (the path patterns).
//! - [`health`]: the body of `GET /__clerk/health`.
//! - [`diagnose`]: diagnosing slow or failing auth: [`diagnose::live`] (the isolate's record
//!   of recent decisions and the `Server-Timing` header) and [`diagnose::report`]
//!   (`GET /__clerk/admin/diagnose`: the measured probes -> verdicts and advice).
//! - [`audit`]: the audit event and its one-line JSON form, with redaction.
//! - [`webhook`]: Svix signature verification and Clerk webhook events.
//! - [`admin`]: the operator's routes: [`admin::revocation`] (revoke/restore requests,
//!   deny-list entries and the revoke plan) and [`admin::sync`] (the resumable user resync
//!   and integrity-check jobs, sans-IO).
//! - [`clerk_api`]: Backend API requests and responses as plain data.
//! - [`rfc3339`]: the timestamps of audit lines and `CLERK_EMERGENCY_BYPASS_UNTIL`.
//! - [`http_date`]: HTTP dates, for a `Retry-After` given as a date.
//! - [`report`]: the post-incident report: audit lines in any of the forms people have them
//!   -> the facts of an incident as JSON and as the runbook's Markdown template.
//!
//! The adapters, compiled only with their feature: `worker/` (Cloudflare Worker, feature
//! `worker`), `js.rs` + `js_fast.rs` + `js_sync.rs` (the npm package's wasm-bindgen exports,
//! feature `js`) and `js_report.rs` (the report command's own wasm, feature `report-cli`).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod clerk_api;
pub mod config;
pub mod diagnose;
pub mod health;
pub mod http_date;
pub mod policy;
pub mod report;
pub mod rfc3339;
pub mod webhook;

#[cfg(feature = "worker")]
mod worker;

#[cfg(feature = "js")]
mod js;
#[cfg(feature = "js")]
mod js_fast;
#[cfg(all(
    any(feature = "js", feature = "report-cli", feature = "js-sync"),
    not(feature = "worker")
))]
mod js_panic;
#[cfg(feature = "report-cli")]
mod js_report;
#[cfg(feature = "js-sync")]
mod js_sync;
