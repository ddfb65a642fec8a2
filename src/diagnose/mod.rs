//! Diagnosing slow or failing auth (runbook: "Diagnose slow or failing auth"): what the edge
//! measures about its own work and its dependencies, sans-IO.
//!
//! - [`live`]: the isolate-local record of recent protected-request decisions (count,
//!   latency percentiles, cache hit ratio, refusals by reason), and the `Server-Timing`
//!   header each protected answer carries.
//! - [`memory`]: the isolate's wasm memory and how full its caches are against their caps
//!   (the `state` check).
//! - [`report`]: `GET /__clerk/admin/diagnose`: the measured facts of each probe (taken by
//!   the adapters) -> verdicts with advice, the JSON and text answers and the audit line.

pub mod live;
pub mod memory;
pub mod report;
