//! The edge's own auth work on live traffic, as an isolate-local record, and the
//! `Server-Timing` header of each protected answer.
//!
//! An adapter times each protected request from its arrival to the decision (token lookup,
//! verification, JWKS, deny-list) and records one [`AuthSample`]. The record keeps the last
//! [`WINDOW`] durations for percentiles and running totals for the rest, in fixed memory:
//! an isolate serves millions of requests.

use serde_json::{json, Value};

/// How many recent decisions the percentiles are taken over.
pub const WINDOW: usize = 1024;
/// Most distinct refusal reasons counted; later ones are counted as `other`. Reasons are the
/// product's own codes, so this is never reached in practice; it bounds memory regardless.
pub const MAX_REASONS: usize = 64;

/// One protected-request decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSample<'a> {
    /// Time from the request's arrival to the decision, in microseconds.
    pub micros: u64,
    /// Whether the verified-token cache answered (`None`: no token was looked up).
    pub cache_hit: Option<bool>,
    /// The refusal's reason code, `None` when the request was forwarded.
    pub refusal: Option<&'a str>,
}

/// The isolate-local record of recent decisions.
#[derive(Debug, Clone)]
pub struct LiveStats {
    /// Ring buffer of the last [`WINDOW`] durations (µs, saturated at `u32::MAX`).
    recent: Vec<u32>,
    /// Where the next duration goes once the buffer is full.
    next: usize,
    decisions: u64,
    since_ms: Option<i64>,
    cache_hits: u64,
    cache_lookups: u64,
    refusals: Vec<(String, u64)>,
}

impl Default for LiveStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveStats {
    /// An empty record.
    pub fn new() -> Self {
        Self {
            recent: Vec::new(),
            next: 0,
            decisions: 0,
            since_ms: None,
            cache_hits: 0,
            cache_lookups: 0,
            refusals: Vec::new(),
        }
    }

    /// Decisions held in the window (at most [`WINDOW`]) and refusal reasons counted (at most
    /// [`MAX_REASONS`]), for the diagnosis's memory facts.
    pub fn held(&self) -> (usize, usize) {
        (self.recent.len(), self.refusals.len())
    }

    /// Records one decision made at `now_ms`.
    pub fn record(&mut self, sample: AuthSample<'_>, now_ms: i64) {
        let micros = u32::try_from(sample.micros).unwrap_or(u32::MAX);
        if self.recent.len() < WINDOW {
            self.recent.push(micros);
        } else if let Some(slot) = self.recent.get_mut(self.next) {
            *slot = micros;
        }
        self.next = (self.next + 1) % WINDOW;
        self.decisions = self.decisions.saturating_add(1);
        self.since_ms.get_or_insert(now_ms);
        if let Some(hit) = sample.cache_hit {
            self.cache_lookups = self.cache_lookups.saturating_add(1);
            self.cache_hits = self.cache_hits.saturating_add(u64::from(hit));
        }
        if let Some(reason) = sample.refusal {
            self.count_refusal(reason);
        }
    }

    fn count_refusal(&mut self, reason: &str) {
        let known = self.refusals.iter().position(|(r, _)| r == reason);
        let index = match known {
            Some(i) => i,
            None if self.refusals.len() < MAX_REASONS => {
                self.refusals
                    .push((crate::audit::clean_text(reason, 64), 0));
                self.refusals.len() - 1
            }
            None => match self.refusals.iter().position(|(r, _)| r == "other") {
                Some(i) => i,
                None => {
                    // Full: the last slot becomes `other` (its count kept there).
                    let last = self.refusals.len() - 1;
                    if let Some(slot) = self.refusals.get_mut(last) {
                        slot.0 = "other".to_owned();
                    }
                    last
                }
            },
        };
        if let Some((_, count)) = self.refusals.get_mut(index) {
            *count = count.saturating_add(1);
        }
    }

    /// The figures of the record.
    pub fn summary(&self) -> LiveSummary {
        // A binary insertion per value (at most WINDOW of them, only when diagnosed): a
        // general sort would cost the Worker kilobytes of wasm.
        let mut sorted: Vec<u32> = Vec::with_capacity(self.recent.len());
        for value in &self.recent {
            let at = sorted.partition_point(|v| v <= value);
            sorted.insert(at, *value);
        }
        let at = |q: usize| -> Option<u64> {
            // Nearest rank: the smallest value with at least q% of the window at or below it.
            let rank = (q * sorted.len()).div_ceil(100).max(1);
            sorted.get(rank - 1).map(|v| u64::from(*v))
        };
        // Most frequent first, ties by name: an insertion into place (at most MAX_REASONS
        // entries), as a general sort would cost the Worker kilobytes of wasm.
        let mut refusals: Vec<(String, u64)> = Vec::with_capacity(self.refusals.len());
        for entry in &self.refusals {
            let at = refusals
                .iter()
                .position(|other| (entry.1, &other.0) > (other.1, &entry.0))
                .unwrap_or(refusals.len());
            refusals.insert(at, entry.clone());
        }
        LiveSummary {
            decisions: self.decisions,
            since_ms: self.since_ms,
            window: sorted.len(),
            p50_us: at(50),
            p95_us: at(95),
            max_us: sorted.last().map(|v| u64::from(*v)),
            cache_hits: self.cache_hits,
            cache_lookups: self.cache_lookups,
            refusals,
        }
    }
}

/// What [`LiveStats::summary`] reports.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveSummary {
    /// Decisions recorded since the isolate started.
    pub decisions: u64,
    /// When the first was recorded (Unix ms).
    pub since_ms: Option<i64>,
    /// How many recent decisions the percentiles cover (at most [`WINDOW`]).
    pub window: usize,
    /// Median decision time over the window, µs.
    pub p50_us: Option<u64>,
    /// 95th percentile over the window, µs.
    pub p95_us: Option<u64>,
    /// Slowest decision in the window, µs.
    pub max_us: Option<u64>,
    /// Token look-ups the verified-token cache answered.
    pub cache_hits: u64,
    /// Token look-ups in all.
    pub cache_lookups: u64,
    /// Refusals by reason code, most frequent first.
    pub refusals: Vec<(String, u64)>,
}

impl LiveSummary {
    /// Hits over look-ups, `None` before the first look-up.
    pub fn cache_hit_ratio(&self) -> Option<f64> {
        // Counts far below 2^53: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let ratio = |hits: u64, all: u64| hits as f64 / all as f64;
        (self.cache_lookups > 0).then(|| ratio(self.cache_hits, self.cache_lookups))
    }

    /// The JSON form of diagnose's `live` section.
    pub fn to_json(&self) -> Value {
        // Inserted one by one: collecting into a map would pull a sort into the Worker's wasm.
        let mut refusals = serde_json::Map::new();
        for (reason, count) in &self.refusals {
            refusals.insert(reason.clone(), Value::from(*count));
        }
        json!({
            "decisions": self.decisions,
            "since": self.since_ms.map(crate::rfc3339::format_millis),
            "window": self.window,
            "p50_us": self.p50_us,
            "p95_us": self.p95_us,
            "max_us": self.max_us,
            "cache_hits": self.cache_hits,
            "cache_lookups": self.cache_lookups,
            "cache_hit_ratio": self.cache_hit_ratio().map(|r| (r * 1000.0).round() / 1000.0),
            "refusals": refusals,
        })
    }
}

/// What the edge did for one protected request, as the adapter timed it: the parts of the
/// `Server-Timing` header and of the [`AuthSample`] it records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthWork {
    /// A session token was found (cookie, handshake or `Authorization`).
    pub token: bool,
    /// Time spent fetching the JWKS, when it was fetched (µs).
    pub jwks_us: Option<u64>,
    /// Time spent checking signatures, when one was checked (µs).
    pub webcrypto_us: Option<u64>,
    /// Time spent reading the deny-list, when it was read (µs).
    pub denylist_us: Option<u64>,
    /// Time spent on the handshake's nonce exchange with the Backend API (µs).
    pub handshake_us: Option<u64>,
}

impl AuthWork {
    /// Adds `micros` to a step's time (a request may check two tokens, or retry).
    pub fn add(slot: &mut Option<u64>, micros: u64) {
        *slot = Some(slot.unwrap_or(0).saturating_add(micros));
    }

    /// Whether the token's answer came without a signature check (the verified-token cache,
    /// or a token refused before its signature mattered); `None` without a token.
    pub fn cache_hit(&self) -> Option<bool> {
        self.token.then_some(self.webcrypto_us.is_none())
    }

    /// What was done, `+`-joined in order: `cache`, `jwks`, `webcrypto`, `handshake`,
    /// `denylist`; `none` when the request had no token and nothing was read.
    pub fn steps(&self) -> String {
        let steps = [
            ("cache", self.cache_hit() == Some(true)),
            ("jwks", self.jwks_us.is_some()),
            ("webcrypto", self.webcrypto_us.is_some()),
            ("handshake", self.handshake_us.is_some()),
            ("denylist", self.denylist_us.is_some()),
        ];
        let done: Vec<&str> = steps.iter().filter(|s| s.1).map(|s| s.0).collect();
        if done.is_empty() {
            "none".to_owned()
        } else {
            done.join("+")
        }
    }

    /// The `Server-Timing` value: `clerk-auth` (the whole decision, with what was done in
    /// `desc`), then one metric per step that was timed, durations in milliseconds.
    /// Example: `clerk-auth;dur=12.345;desc="jwks+webcrypto+denylist", clerk-jwks;dur=10.1`.
    pub fn server_timing(&self, total_us: u64) -> String {
        let mut value = format!(
            "clerk-auth;dur={};desc=\"{}\"",
            millis(total_us),
            self.steps()
        );
        for (name, step) in [
            ("clerk-jwks", self.jwks_us),
            ("clerk-webcrypto", self.webcrypto_us),
            ("clerk-handshake", self.handshake_us),
            ("clerk-denylist", self.denylist_us),
        ] {
            if let Some(us) = step {
                value.push_str(&format!(", {name};dur={}", millis(us)));
            }
        }
        value
    }

    /// The sample [`LiveStats::record`] takes for this request.
    pub fn sample<'a>(&self, total_us: u64, refusal: Option<&'a str>) -> AuthSample<'a> {
        AuthSample {
            micros: total_us,
            cache_hit: self.cache_hit(),
            refusal,
        }
    }
}

/// Microseconds as milliseconds with three decimals, trailing zeros dropped (`1.5`, `0.012`).
fn millis(us: u64) -> String {
    let whole = us / 1000;
    let frac = us % 1000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Microseconds between two millisecond clock readings (fractional, as `performance.now()`
/// gives them); 0 if the clock went back.
pub fn elapsed_us(start_ms: f64, end_ms: f64) -> u64 {
    let us = (end_ms - start_ms) * 1000.0;
    if us.is_finite() && us > 0.0 {
        // Saturating float-to-int conversion; sub-microsecond rounding is noise.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let us = us.round() as u64;
        us
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(micros: u64) -> AuthSample<'static> {
        AuthSample {
            micros,
            cache_hit: None,
            refusal: None,
        }
    }

    #[test]
    fn an_empty_record_has_no_figures() {
        let s = LiveStats::new().summary();
        assert_eq!(s.decisions, 0);
        assert_eq!((s.p50_us, s.p95_us, s.max_us), (None, None, None));
        assert_eq!(s.cache_hit_ratio(), None);
        assert_eq!(s.to_json()["since"], Value::Null);
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_window() {
        let mut live = LiveStats::new();
        for micros in (1..=100).rev() {
            live.record(sample(micros), 5);
        }
        let s = live.summary();
        assert_eq!(
            (s.p50_us, s.p95_us, s.max_us, s.window),
            (Some(50), Some(95), Some(100), 100)
        );
        assert_eq!(s.since_ms, Some(5));
        live.record(sample(1), 9);
        assert_eq!(
            live.summary().since_ms,
            Some(5),
            "the first decision's time"
        );
    }

    #[test]
    fn the_window_forgets_old_decisions_but_the_count_does_not() {
        let mut live = LiveStats::new();
        live.record(sample(1_000_000), 0);
        for _ in 0..WINDOW {
            live.record(sample(10), 0);
        }
        let s = live.summary();
        assert_eq!(s.decisions, WINDOW as u64 + 1);
        assert_eq!(s.window, WINDOW);
        assert_eq!(s.max_us, Some(10), "the slow one left the window");
        live.record(sample(u64::MAX), 0);
        assert_eq!(live.summary().max_us, Some(u64::from(u32::MAX)));
    }

    #[test]
    fn cache_ratio_and_refusals_by_reason() {
        let mut live = LiveStats::new();
        let with = |hit, refusal| AuthSample {
            micros: 1,
            cache_hit: hit,
            refusal,
        };
        live.record(with(Some(true), None), 0);
        live.record(with(Some(true), None), 0);
        live.record(with(Some(false), Some("token-expired")), 0);
        live.record(with(None, Some("session-token-and-uat-missing")), 0);
        live.record(with(None, Some("token-expired")), 0);
        let s = live.summary();
        assert_eq!((s.cache_hits, s.cache_lookups), (2, 3));
        let json = s.to_json();
        assert_eq!(json["cache_hit_ratio"], 0.667);
        assert_eq!(
            s.refusals,
            vec![
                ("token-expired".to_owned(), 2),
                ("session-token-and-uat-missing".to_owned(), 1)
            ]
        );
        assert_eq!(json["refusals"]["token-expired"], 2);
    }

    #[test]
    fn distinct_reasons_are_bounded() {
        let mut live = LiveStats::new();
        for i in 0..(MAX_REASONS + 10) {
            let reason = format!("reason-{i}");
            live.record(
                AuthSample {
                    micros: 1,
                    cache_hit: None,
                    refusal: Some(&reason),
                },
                0,
            );
        }
        let s = live.summary();
        assert_eq!(s.refusals.len(), MAX_REASONS);
        let total: u64 = s.refusals.iter().map(|(_, c)| c).sum();
        assert_eq!(total, (MAX_REASONS + 10) as u64, "nothing lost");
        assert!(s.refusals.iter().any(|(r, c)| r == "other" && *c == 11));
    }
    #[test]
    fn server_timing_names_what_was_done() {
        let cached = AuthWork {
            token: true,
            denylist_us: Some(50),
            ..AuthWork::default()
        };
        assert_eq!(
            cached.server_timing(412),
            "clerk-auth;dur=0.412;desc=\"cache+denylist\", clerk-denylist;dur=0.05"
        );
        let cold = AuthWork {
            token: true,
            jwks_us: Some(10_100),
            webcrypto_us: Some(1_900),
            denylist_us: Some(300),
            handshake_us: None,
        };
        assert_eq!(
            cold.server_timing(12_345),
            "clerk-auth;dur=12.345;desc=\"jwks+webcrypto+denylist\", clerk-jwks;dur=10.1, \
             clerk-webcrypto;dur=1.9, clerk-denylist;dur=0.3"
        );
        assert_eq!(cold.cache_hit(), Some(false));
        let anonymous = AuthWork::default();
        assert_eq!(
            anonymous.server_timing(2_000),
            "clerk-auth;dur=2;desc=\"none\""
        );
        assert_eq!(anonymous.sample(7, Some("x")).cache_hit, None);
    }

    #[test]
    fn elapsed_time_never_goes_negative() {
        assert_eq!(elapsed_us(10.0, 10.0015), 2);
        assert_eq!(elapsed_us(10.0, 9.0), 0);
        assert_eq!(elapsed_us(0.0, f64::NAN), 0);
        let mut slot = None;
        AuthWork::add(&mut slot, 5);
        AuthWork::add(&mut slot, 7);
        assert_eq!(slot, Some(12));
    }
}
