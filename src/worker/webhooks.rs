//! `POST /__clerk/webhooks` (being written).

use ::worker::{Env, Request, Response, Result};
use serde_json::json;

use crate::audit::RequestContext;

use super::isolate::IsolateState;
use super::json_response;

/// Handles a webhook delivery.
pub async fn handle(
    _req: Request,
    _env: &Env,
    _state: &IsolateState,
    _request: &RequestContext,
    _now: i64,
) -> Result<Response> {
    json_response(501, &json!({"error": "not-implemented"}))
}
