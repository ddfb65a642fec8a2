//! Diagnosing slow or failing auth (runbook: "Performance degradation"): what the edge
//! measures about its own work and its dependencies, sans-IO.
//!
//! - [`live`]: the isolate-local record of recent protected-request decisions (count,
//!   latency percentiles, cache hit ratio, refusals by reason), and the `Server-Timing`
//!   header each protected answer carries.

pub mod live;
