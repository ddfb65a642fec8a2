//! The body of `GET /__clerk/health`, the same for the Worker and the JS middleware: what an
//! on-call engineer checks first. No secret and no problem text (those are in the
//! `config.invalid` lines), only names.

use serde_json::{json, Value};

use crate::config::{Config, Impact, KeyConfig};
use crate::rfc3339::format_millis;

/// The health report: `ok`, `degraded` (a bypass variable is invalid, a webhook or admin
/// variable is, or the last JWKS refresh failed) or `misconfigured` (protected requests fail
/// closed), with the key source, the bypass in force and the webhook pause.
pub fn health_report(config: &Config, jwks_refresh_failing: bool, now_ms: i64) -> Value {
    let status = if config.has_problems(Impact::Auth) {
        "misconfigured"
    } else if !config.problems.is_empty() || jwks_refresh_failing {
        "degraded"
    } else {
        "ok"
    };
    let key_source = match config.keys {
        KeyConfig::Pem(_) => Value::from("pem"),
        KeyConfig::Jwks => Value::from("jwks"),
        KeyConfig::None => Value::Null,
    };
    let bypass = &config.bypass;
    // An expired bypass is reported off: that is what requests get.
    let mode = if bypass.is_live(now_ms) {
        bypass.mode.name()
    } else {
        "off"
    };
    // The handshake needs the Frontend API the publishable key names; a live bypass
    // suspends it on the bypass's paths (the Frontend API may be what is down).
    let handshake = match &config.publishable_key {
        None => json!({
            "status": "off",
            "why": "no CLERK_PUBLISHABLE_KEY: expired session cookies are refused, not renewed",
        }),
        Some(pk) => json!({
            "status": if mode == "off" { "on" } else { "suspended-by-bypass" },
            "instance": if pk.production { "production" } else { "development" },
            "frontend_api": config.proxy_url.as_deref().unwrap_or(&pk.frontend_api),
        }),
    };
    json!({
        "status": status,
        "key_source": key_source,
        "bypass": { "mode": mode, "until": bypass.until_ms.map(format_millis) },
        "handshake": handshake,
        "webhooks": { "paused": config.webhooks_paused },
        "version": env!("CARGO_PKG_VERSION"),
        "invalid_variables": config.problems.iter().map(|p| p.variable).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_no_secret() {
        let ok = Config::from_pairs(&[("CLERK_SECRET_KEY", "sk_test_verysecretvalue")]);
        let report = health_report(&ok, false, 0);
        assert_eq!(report["status"], "ok");
        assert_eq!(report["key_source"], "jwks");
        assert!(!report.to_string().contains("verysecretvalue"));
        assert_eq!(health_report(&ok, true, 0)["status"], "degraded");

        let bad_bypass = Config::from_pairs(&[
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_EMERGENCY_BYPASS", "yes"),
        ]);
        let report = health_report(&bad_bypass, false, 0);
        assert_eq!(report["status"], "degraded");
        assert_eq!(
            report["invalid_variables"],
            json!(["CLERK_EMERGENCY_BYPASS"])
        );
        assert_eq!(
            health_report(&Config::from_pairs(&[]), false, 0)["status"],
            "misconfigured"
        );
    }

    #[test]
    fn the_handshake_is_reported_on_off_or_suspended() {
        let off = Config::from_pairs(&[("CLERK_SECRET_KEY", "sk_test_x")]);
        assert_eq!(health_report(&off, false, 0)["handshake"]["status"], "off");
        // pk_live_ + base64("clerk.example.com$")
        let pk = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k";
        let on = Config::from_pairs(&[
            ("CLERK_SECRET_KEY", "sk_live_x"),
            ("CLERK_PUBLISHABLE_KEY", pk),
        ]);
        let report = health_report(&on, false, 0);
        assert_eq!(report["handshake"]["status"], "on");
        assert_eq!(report["handshake"]["instance"], "production");
        assert_eq!(report["handshake"]["frontend_api"], "clerk.example.com");
        let bypassed = Config::from_pairs(&[
            ("CLERK_SECRET_KEY", "sk_live_x"),
            ("CLERK_PUBLISHABLE_KEY", pk),
            ("CLERK_EMERGENCY_BYPASS", "grace"),
            ("CLERK_EMERGENCY_BYPASS_REASON", "INC-1"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "2030-01-01T00:00:00Z"),
        ]);
        let report = health_report(&bypassed, false, 0);
        assert_eq!(report["handshake"]["status"], "suspended-by-bypass");
    }

    #[test]
    fn an_expired_bypass_reads_off() {
        let c = Config::from_pairs(&[
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_EMERGENCY_BYPASS", "grace"),
            ("CLERK_EMERGENCY_BYPASS_REASON", "INC-7 secret-ish text"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "2030-01-01T00:00:00Z"),
        ]);
        let before = health_report(&c, false, 0);
        assert_eq!(before["bypass"]["mode"], "grace");
        assert_eq!(before["bypass"]["until"], "2030-01-01T00:00:00.000Z");
        assert!(!before.to_string().contains("INC-7"), "no reason text");
        let after = health_report(&c, false, 1_893_456_000_000);
        assert_eq!(after["bypass"]["mode"], "off");
    }
}
