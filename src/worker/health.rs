//! `GET /__clerk/health`: what an on-call engineer checks first. No secret, no reason text.

use ::worker::{Method, Request, Response, Result};
use serde_json::{json, Value};

use crate::config::{Impact, KeyConfig};
use crate::rfc3339::format_millis;

use super::isolate::IsolateState;
use super::json_response;

/// Answers the health route.
pub fn handle(req: &Request, state: &IsolateState, now: i64) -> Result<Response> {
    if req.method() != Method::Get {
        let mut response = json_response(
            405,
            &json!({"error": "method-not-allowed", "message": "use GET /__clerk/health"}),
        )?;
        response.headers_mut().set("allow", "GET")?;
        return Ok(response);
    }
    let config = &state.config;
    let jwks_failing = state.jwks.borrow().last_failure().is_some();
    let status = if config.has_problems(Impact::Auth) {
        "misconfigured"
    } else if !config.problems.is_empty() || jwks_failing {
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
    let mode = if bypass.is_live(now) {
        bypass.mode.name()
    } else {
        "off"
    };
    json_response(
        200,
        &json!({
            "status": status,
            "key_source": key_source,
            "bypass": {
                "mode": mode,
                "until": bypass.until_ms.map(format_millis),
            },
            "webhooks": { "paused": config.webhooks_paused },
            "version": env!("CARGO_PKG_VERSION"),
            // Names only: the values and the problem texts are in the config.invalid lines.
            "invalid_variables": config.problems.iter().map(|p| p.variable).collect::<Vec<_>>(),
        }),
    )
}
