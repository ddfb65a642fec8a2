//! The emergency bypass: the runbook's "let users in while Clerk is down" switch, made
//! scoped, time-boxed and audited.
//!
//! - `open` (`CLERK_EMERGENCY_BYPASS=true`): every protected request in scope passes;
//! - `grace`: a token with a valid signature, header, key and `azp` passes although it expired,
//!   up to `CLERK_EMERGENCY_GRACE_SECONDS` after its `exp`;
//! - never in scope: `/__clerk/*`, `CLERK_NEVER_BYPASS_PATHS`, paths outside
//!   `CLERK_EMERGENCY_BYPASS_PATHS` (when set), and any time after `CLERK_EMERGENCY_BYPASS_UNTIL`.
//!
//! Deny-listed sessions and users are refused in every mode (see [`crate::policy::decision`]).

use crate::policy::paths::{has_dot_segments, PathPatterns};

/// Default of `CLERK_EMERGENCY_GRACE_SECONDS`.
pub const DEFAULT_GRACE_SECONDS: u64 = 3600;

/// The bypass mode as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BypassMode {
    /// No bypass (the default, and the fallback for an invalid value).
    #[default]
    Off,
    /// Every protected request in scope passes.
    Open,
    /// Expired but validly signed tokens pass, up to the grace window.
    Grace,
}

impl BypassMode {
    /// Parses `CLERK_EMERGENCY_BYPASS`: `false`, `true` or `grace`, trimmed, any case.
    /// Anything else (`yes`, `1`, empty) is refused: a typo must not open the gates.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "false" => Some(Self::Off),
            "true" => Some(Self::Open),
            "grace" => Some(Self::Grace),
            _ => None,
        }
    }

    /// The name used in health output and audit lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Open => "open",
            Self::Grace => "grace",
        }
    }
}

/// The bypass configuration, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BypassPolicy {
    /// The configured mode.
    pub mode: BypassMode,
    /// `CLERK_EMERGENCY_BYPASS_REASON`: the incident reference logged with each bypass.
    pub reason: Option<String>,
    /// `CLERK_EMERGENCY_BYPASS_UNTIL` in Unix ms: after it, the bypass is off.
    pub until_ms: Option<i64>,
    /// `CLERK_EMERGENCY_BYPASS_PATHS`; empty: every protected path.
    pub paths: PathPatterns,
    /// `CLERK_NEVER_BYPASS_PATHS`.
    pub never: PathPatterns,
    /// `CLERK_EMERGENCY_GRACE_SECONDS`.
    pub grace_seconds: u64,
}

impl BypassPolicy {
    /// The mode in force for `path` (percent-decoded) at `now_ms`: [`BypassMode::Off`] when
    /// the bypass expired or the path is out of scope.
    pub fn mode_for(&self, path: &str, now_ms: i64) -> BypassMode {
        if self.mode == BypassMode::Off || !self.is_live(now_ms) {
            return BypassMode::Off;
        }
        // A dot segment left after decoding (`/app/..%2Fadmin`) may name another path at
        // the origin than the one matched here: no bypass for it.
        if PathPatterns::clerk_routes().matches_any_spelling(path)
            || self.never.matches_any_spelling(path)
            || has_dot_segments(path)
        {
            return BypassMode::Off;
        }
        if !self.paths.is_empty() && !self.paths.matches(path) {
            return BypassMode::Off;
        }
        self.mode
    }

    /// Whether the bypass is configured and not yet expired (for health output).
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.mode != BypassMode::Off && self.until_ms.is_none_or(|until| now_ms < until)
    }

    /// Whether a token that expired at `exp_seconds` is still inside the grace window.
    pub fn within_grace(&self, exp_seconds: i64, now_ms: i64) -> bool {
        let grace_ms = i64::try_from(self.grace_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
        now_ms <= exp_seconds.saturating_mul(1000).saturating_add(grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mode_values() {
        for (value, expected) in [
            ("true", Some(BypassMode::Open)),
            ("TRUE ", Some(BypassMode::Open)),
            (" grace", Some(BypassMode::Grace)),
            ("Grace", Some(BypassMode::Grace)),
            ("false", Some(BypassMode::Off)),
            (" FALSE\t", Some(BypassMode::Off)),
            ("yes", None),
            ("1", None),
            ("0", None),
            ("", None),
            ("on", None),
            ("open", None),
        ] {
            assert_eq!(BypassMode::parse(value), expected, "{value:?}");
        }
    }

    fn policy(mode: BypassMode) -> BypassPolicy {
        BypassPolicy {
            mode,
            grace_seconds: DEFAULT_GRACE_SECONDS,
            ..BypassPolicy::default()
        }
    }

    /// mode x scope x expiry x never-bypass: the mode in force for each combination.
    #[test]
    fn policy_table() {
        let scoped = PathPatterns::parse("/app/*").unwrap();
        let never = PathPatterns::parse("/admin/*").unwrap();
        let now = 1_000_000;
        for mode in [BypassMode::Off, BypassMode::Open, BypassMode::Grace] {
            for scope in [None, Some(&scoped)] {
                for until in [None, Some(now + 1), Some(now), Some(now - 1)] {
                    for path in [
                        "/app/x",
                        "/other",
                        "/admin/users",
                        "/__clerk/health",
                        "/%61dmin/x",
                    ] {
                        let p = BypassPolicy {
                            paths: scope.cloned().unwrap_or_default(),
                            never: never.clone(),
                            until_ms: until,
                            ..policy(mode)
                        };
                        let decoded = crate::policy::paths::decode_path(path);
                        let expired = until.is_some_and(|u| now >= u);
                        let never_hit =
                            decoded.starts_with("/admin") || decoded.starts_with("/__clerk");
                        let out_of_scope = scope.is_some() && !decoded.starts_with("/app/");
                        let expected =
                            if mode == BypassMode::Off || expired || never_hit || out_of_scope {
                                BypassMode::Off
                            } else {
                                mode
                            };
                        assert_eq!(
                            p.mode_for(&decoded, now),
                            expected,
                            "mode={mode:?} scope={scope:?} until={until:?} path={path}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn paths_climbing_out_with_encoded_slashes_are_never_bypassed() {
        let p = BypassPolicy {
            paths: PathPatterns::parse("/app/*").unwrap(),
            never: PathPatterns::parse("/admin/*").unwrap(),
            ..policy(BypassMode::Open)
        };
        assert_eq!(p.mode_for("/app/x", 0), BypassMode::Open);
        for raw in [
            "/app/..%2Fadmin/x",
            "/app/..%2Fother",
            "/app/x%2F..%2F..%2Fadmin",
            "/app/..%5Cadmin",
        ] {
            let path = crate::policy::paths::decode_path(raw);
            assert_eq!(p.mode_for(&path, 0), BypassMode::Off, "{raw}");
        }
    }

    #[test]
    fn grace_window_is_inclusive_and_saturating() {
        let p = BypassPolicy {
            grace_seconds: 60,
            ..policy(BypassMode::Grace)
        };
        assert!(p.within_grace(1000, 1_060_000));
        assert!(!p.within_grace(1000, 1_060_001));
        let huge = BypassPolicy {
            grace_seconds: u64::MAX,
            ..policy(BypassMode::Grace)
        };
        assert!(huge.within_grace(i64::MAX, i64::MAX));
    }
}
