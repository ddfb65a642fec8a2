//! STAND-IN for main's `src/diagnose/live.rs` (replaced at merge): the interface only.

use serde_json::{json, Value};

/// An isolate-local record of recent protected-request decisions.
#[derive(Debug, Default)]
pub struct LiveStats {
    decisions: u64,
}

/// One protected request's auth work.
#[derive(Debug, Clone, Copy)]
pub struct AuthSample<'a> {
    /// Microseconds of auth work.
    pub micros: u64,
    /// Whether the verified-token cache answered.
    pub cache_hit: Option<bool>,
    /// The refusal reason, if refused.
    pub refusal: Option<&'a str>,
}

/// What [`LiveStats`] holds.
#[derive(Debug, Clone, Default)]
pub struct LiveSummary {
    /// Decisions recorded.
    pub decisions: u64,
    /// First recorded.
    pub since_ms: Option<i64>,
    /// Samples kept.
    pub window: usize,
    /// p50.
    pub p50_us: Option<u64>,
    /// p95.
    pub p95_us: Option<u64>,
    /// max.
    pub max_us: Option<u64>,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache look-ups.
    pub cache_lookups: u64,
    /// Refusals by reason.
    pub refusals: Vec<(String, u64)>,
}

impl LiveStats {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one decision.
    pub fn record(&mut self, _sample: AuthSample<'_>, _now_ms: i64) {
        self.decisions += 1;
    }

    /// The summary.
    pub fn summary(&self) -> LiveSummary {
        LiveSummary {
            decisions: self.decisions,
            ..LiveSummary::default()
        }
    }
}

impl LiveSummary {
    /// Hits over look-ups.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        (self.cache_lookups > 0).then(|| self.cache_hits as f64 / self.cache_lookups as f64)
    }

    /// JSON.
    pub fn to_json(&self) -> Value {
        json!({ "decisions": self.decisions })
    }
}
