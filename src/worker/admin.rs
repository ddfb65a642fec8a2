//! `POST /__clerk/admin/revoke` and `POST /__clerk/admin/restore`: the I/O half of
//! [`crate::admin::revocation`], which owns the checks, the body rules, the plans and the reports.
//!
//! Order of a call: the route exists only with `CLERK_ADMIN_TOKEN` set (else 404, as if
//! absent), an invalid admin token disables the routes (500 `misconfigured`), then the
//! request head is checked (method, bearer token in constant time, content type, declared
//! size) before a single body byte is read; the body is read with a hard size limit even
//! when no `Content-Length` was sent; then the plan runs step by step: KV writes and deletes
//! through [`super::denylist`] (which updates this isolate's deny cache, so the next request
//! here is refused at once), Backend API attempts through [`super::backend::send_attempt`]
//! after the wait the plan asks for.
//!
//! Every call that reaches the checks leaves exactly one audit line: `admin.denied` when it
//! is refused before authentication succeeded, `admin.revoke` / `admin.restore` otherwise.
//! No line and no answer carries the admin token, the secret key or an `Authorization`
//! value.

use std::time::Duration;

use ::worker::{Delay, Env, Method, Request, Response, Result};
use serde_json::{json, Value};

use crate::admin::access;
use crate::admin::revocation::{
    admin_plan, check_admin_head, AdminError, AdminPlan, AdminRequestHead, AdminRoute, AdminStep,
    PlanContext, StepOutcome, MAX_BODY_BYTES,
};
use crate::audit::{AuditEvent, Level, RequestContext};
use crate::clerk_api::ApiOutcome;

use super::isolate::{self, IsolateState};
use super::{backend, body, denylist, emit};

/// Most plan steps one call may take. The plans bound themselves (pages, attempts, the
/// per-call time budget); this only guarantees the loop ends even if a plan misbehaves.
const MAX_STEPS: usize = 10_000;

/// Longest storage error text kept in a report.
const MAX_STORAGE_ERROR_CHARS: usize = 200;

/// Handles `POST /__clerk/admin/revoke` and `POST /__clerk/admin/restore`.
pub async fn handle(
    route: AdminRoute,
    req: Request,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    let body = match admit(route, &req, state, request, now).await? {
        Admission::Body(body) => body,
        Admission::Answer(response) => return Ok(response),
    };
    match admin_plan(route, &body, PlanContext::new(now)) {
        Ok(mut plan) => run(plan.as_mut(), env, state, request).await,
        Err(error) => invalid_request(route, &error, request, now),
    }
}

/// Runs a parsed plan to its end and answers with its report and one audit line.
async fn run(
    plan: &mut dyn AdminPlan,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
) -> Result<Response> {
    let finished = drive(plan, env, state).await;
    let status = if finished {
        plan.response_status()
    } else {
        500
    };
    emit(&plan.audit_event(status), Some(request), isolate::now_ms());
    plan_response(finished, status, plan.response_body())
}

/// What the checks before parsing decided.
enum Admission {
    /// The request passed: its body, within [`MAX_BODY_BYTES`].
    Body(Vec<u8>),
    /// The request was answered already (and its audit line written).
    Answer(Response),
}

/// Route existence, configuration, request head, then the body with its size limit.
async fn admit(
    route: AdminRoute,
    req: &Request,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Admission> {
    let method = req.method();
    let allowed = method == Method::Post;
    if let Some(answer) = check_access(req, state, request, now, allowed, "POST")? {
        return Ok(Admission::Answer(answer));
    }
    let admin_token = state.config.admin_token.as_ref().map(|t| t.expose());
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    // Access is granted: what is left are the body's own checks. The Authorization value
    // lives only inside this block: it is compared, never kept.
    let checked = {
        let authorization = header("authorization");
        let content_type = header("content-type");
        let content_length = header("content-length");
        check_admin_head(
            admin_token,
            &AdminRequestHead {
                method: method.as_ref(),
                authorization: authorization.as_deref(),
                content_type: content_type.as_deref(),
                content_length: content_length.as_deref(),
            },
        )
    };
    if let Err(error) = checked {
        return invalid_request(route, &error, request, now).map(Admission::Answer);
    }

    match body::read_limited(req, MAX_BODY_BYTES)
        .await
        .map(|b| match b {
            body::Body::Complete(bytes) => Some(bytes),
            body::Body::TooLarge(_) => None,
        }) {
        Ok(Some(body)) => Ok(Admission::Body(body)),
        Ok(None) => {
            invalid_request(route, &AdminError::BodyTooLarge, request, now).map(Admission::Answer)
        }
        Err(_) => {
            invalid_request(route, &AdminError::BodyUnreadable, request, now).map(Admission::Answer)
        }
    }
}

/// The checks every admin route makes before its body ([`crate::admin::access`]): `None` to
/// go on, else the refusal, with its `admin.denied` line (none for the 404).
pub(super) fn check_access(
    req: &Request,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
    allowed: bool,
    allow: &'static str,
) -> Result<Option<Response>> {
    // The Authorization value lives only inside this call: it is compared, never kept.
    let authorization = req.headers().get("authorization").ok().flatten();
    let Err(refusal) =
        access::check_access(&state.config, allowed, allow, authorization.as_deref())
    else {
        return Ok(None);
    };
    if let Some(event) = refusal.audit_event() {
        emit(&event, Some(request), now);
    }
    json_text_response(
        refusal.status(),
        refusal.body().to_string(),
        &refusal.headers(),
    )
    .map(Some)
}

/// Answers an authenticated request whose body (or head) is not acceptable, with its line.
fn invalid_request(
    route: AdminRoute,
    error: &AdminError,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    refuse_invalid(route.audit_event(), error, request, now)
}

/// The answer and the `event` line (e.g. `admin.revoke`, `admin.resync`) of an admin request
/// refused after authentication.
pub(super) fn refuse_invalid(
    event: &'static str,
    error: &AdminError,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    emit(
        &AuditEvent::new(Level::Warn, event)
            .text("reason", error.code())
            .value("status", json!(error.status()))
            .value("ok", json!(false)),
        Some(request),
        now,
    );
    error_answer(error)
}

/// Runs a plan to its end: performs each step and feeds back what happened. `false` when
/// the plan did not finish within [`MAX_STEPS`] (a bug in the plan, answered 500).
async fn drive<P: AdminPlan + ?Sized>(plan: &mut P, env: &Env, state: &IsolateState) -> bool {
    let mut step = plan.start();
    for _ in 0..MAX_STEPS {
        if step == AdminStep::Done {
            return true;
        }
        let outcome = perform(step, env, state).await;
        step = plan.feed(outcome);
    }
    step == AdminStep::Done
}

/// Performs one step. Never fails: every failure becomes the outcome the plan reports.
async fn perform(step: AdminStep, env: &Env, state: &IsolateState) -> StepOutcome {
    match step {
        AdminStep::WriteDenyEntry {
            key,
            value,
            expiration_ttl_seconds,
        } => StepOutcome::Storage(
            denylist::put(
                env,
                state,
                key,
                &value,
                expiration_ttl_seconds,
                isolate::now_ms(),
            )
            .await
            .map_err(|error| storage_error("KV put", &error)),
        ),
        AdminStep::DeleteDenyEntry { key } => StepOutcome::Storage(
            denylist::delete(env, state, key, isolate::now_ms())
                .await
                .map_err(|error| storage_error("KV delete", &error)),
        ),
        AdminStep::CallApi {
            request,
            delay_ms,
            timeout_ms,
        } => {
            let config = &state.config;
            if config.secret_key.is_none() {
                // Nothing to wait for: no call can be made without the key.
                return StepOutcome::Api(ApiOutcome::NetworkError(
                    "not sent: CLERK_SECRET_KEY is not set on the Worker".to_owned(),
                ));
            }
            if delay_ms > 0 {
                Delay::from(Duration::from_millis(delay_ms)).await;
            }
            let outcome = backend::send_attempt(config, &request, timeout_ms)
                .await
                .unwrap_or_else(ApiOutcome::secret_key_missing);
            StepOutcome::Api(outcome)
        }
        // `drive` never performs `Done`; feeding this back makes a confused plan finish.
        AdminStep::Done => StepOutcome::Storage(Err("internal: nothing to perform".to_owned())),
    }
}

/// A storage error for the report: what failed and workers-rs's text (KV errors name the
/// operation and the key, never a secret), cut to a bounded length.
fn storage_error(operation: &str, error: &::worker::Error) -> String {
    format!("{operation} failed: {error}")
        .chars()
        .take(MAX_STORAGE_ERROR_CHARS)
        .collect()
}

/// The answer of a finished (or runaway) plan.
fn plan_response(finished: bool, status: u16, body: String) -> Result<Response> {
    if finished {
        return json_text_response(status, body, &[]);
    }
    json_text_response(
        500,
        json!({
            "error": "internal-error",
            "message": "the admin operation did not finish; see the audit line and repeat \
                        the call (it is safe to repeat)",
            "report": serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
        })
        .to_string(),
        &[],
    )
}

/// The answer of a refused request: its status, JSON body and required headers.
pub(super) fn error_answer(error: &AdminError) -> Result<Response> {
    json_text_response(
        error.status(),
        error.to_json_body(),
        error.response_headers(),
    )
}

/// A JSON answer that no cache keeps.
fn json_text_response(
    status: u16,
    body: String,
    extra_headers: &[(&str, &str)],
) -> Result<Response> {
    let mut response = Response::ok(body)?.with_status(status);
    let headers = response.headers_mut();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    for (name, value) in extra_headers {
        headers.set(name, value)?;
    }
    Ok(response)
}
