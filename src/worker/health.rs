//! `GET /__clerk/health`: what an on-call engineer checks first. No secret, no reason text.

use ::worker::{Method, Request, Response, Result};
use serde_json::json;

use crate::health::health_report;

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
    let jwks_failing = state.jwks.borrow().last_failure().is_some();
    json_response(200, &health_report(&state.config, jwks_failing, now))
}
