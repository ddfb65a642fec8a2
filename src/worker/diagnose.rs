//! `GET /__clerk/admin/diagnose`: the I/O half of [`crate::diagnose::report`]. Checks the
//! request as the other admin routes do ([`super::admin::check_access`]), then runs every
//! probe at once, each one attempt with its own timeout (no retries: a diagnosis measures
//! what one request gets), hands what it saw to the core and answers its JSON, or text with
//! `?format=text`, with one `admin.diagnose` audit line (verdicts only).
//!
//! In Workers `Date.now()` advances only across I/O: exactly what timing a network or
//! storage probe needs.

use ::worker::{Env, Headers, Method, Request, RequestInit, Response, Result};
use futures_util::future::join5;

use crate::clerk_api::{ApiOutcome, ApiRequest, ATTEMPT_TIMEOUT_MS};
use crate::config::KeyConfig;
use crate::diagnose::report::{
    diagnose, wants_text, Facts, JwksFacts, Outcome, Probe, RateLimit, StatusFacts, ABSENT_KEY,
    STATUS_TIMEOUT_MS,
};

use super::backend::{fetch_once, send_attempt_with_headers, Answer};
use super::d1::D1_BINDING;
use super::denylist::KV_BINDING;
use super::isolate::{now_ms, IsolateState};
use super::{emit, json_response, RequestUrl};
use crate::audit::RequestContext;

/// Handles the route.
pub async fn handle(
    req: Request,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    let allowed = req.method() == Method::Get;
    if let Some(answer) = super::admin::check_access(&req, state, request, now, allowed, "GET")? {
        return Ok(answer);
    }
    let config = &state.config;
    let jwks = async {
        match config.keys {
            KeyConfig::Jwks => Some(jwks_probe(state).await),
            KeyConfig::Pem(_) | KeyConfig::None => None,
        }
    };
    let (jwks, backend, status_page, deny_list, d1) = join5(
        jwks,
        backend_probe(state),
        status_probe(state),
        kv_probe(env),
        d1_probe(env),
    )
    .await;
    let facts = Facts {
        jwks,
        backend,
        status_page,
        deny_list: (deny_list, "KV CLERK_EDGE"),
        d1: Some(d1),
        live: Some(state.live.borrow().summary()),
        jwks_refresh_failing: state.jwks.borrow().last_failure().is_some(),
        memory: Some(state.memory()),
    };
    let at = now_ms();
    let diagnosis = diagnose(config, &facts, at);
    emit(&diagnosis.audit_event(), Some(request), at);
    let url = RequestUrl::of(req.inner());
    let query = url.path_and_query().split_once('?').map_or("", |(_, q)| q);
    if wants_text(query) {
        let mut response = Response::ok(diagnosis.to_text())?;
        let headers = response.headers_mut();
        headers.set("content-type", "text/plain; charset=utf-8")?;
        headers.set("cache-control", "no-store")?;
        return Ok(response);
    }
    json_response(200, &diagnosis.to_json())
}

/// The probe of an answer: its status and how long it took since `started`.
fn timed(started: i64, outcome: &std::result::Result<Answer, ApiOutcome>) -> Probe {
    Probe::between(
        started,
        now_ms(),
        match outcome {
            Ok(answer) => Outcome::Http(answer.status),
            Err(failed) => Outcome::of_api(failed),
        },
    )
}

/// The 2xx body of an answer.
fn ok_body(outcome: &std::result::Result<Answer, ApiOutcome>) -> Option<&str> {
    outcome
        .as_ref()
        .ok()
        .filter(|answer| (200..300).contains(&answer.status))
        .map(|answer| answer.body.as_str())
}

/// `GET /v1/jwks` once; the isolate's JWKS cache is neither read for the answer nor updated.
async fn jwks_probe(state: &IsolateState) -> JwksFacts {
    let cached = state.jwks.borrow().has_keys();
    let started = now_ms();
    match send_attempt_with_headers(&state.config, &ApiRequest::jwks(), ATTEMPT_TIMEOUT_MS).await {
        None => JwksFacts::new(
            Probe::NotConfigured("CLERK_SECRET_KEY is not set"),
            None,
            cached,
        ),
        Some(outcome) => JwksFacts::new(timed(started, &outcome), ok_body(&outcome), cached),
    }
}

/// `GET /v1/users?limit=1` once, with its rate-limit headers.
async fn backend_probe(state: &IsolateState) -> (Probe, RateLimit) {
    let started = now_ms();
    let request = ApiRequest::probe_users();
    match send_attempt_with_headers(&state.config, &request, ATTEMPT_TIMEOUT_MS).await {
        None => (
            Probe::NotConfigured("CLERK_SECRET_KEY is not set"),
            RateLimit::default(),
        ),
        Some(outcome) => {
            let probe = timed(started, &outcome);
            let rate_limit = match &outcome {
                Ok(answer) => {
                    let values: Vec<(&str, Option<String>)> =
                        crate::diagnose::report::RATE_LIMIT_HEADERS
                            .iter()
                            .map(|name| (*name, answer.headers.get(name).ok().flatten()))
                            .collect();
                    RateLimit::from_headers(
                        |name| {
                            values
                                .iter()
                                .find(|(n, _)| *n == name)
                                .and_then(|(_, v)| v.as_deref())
                        },
                        Some(now_ms()),
                    )
                }
                Err(_) => RateLimit::default(),
            };
            (probe, rate_limit)
        }
    }
}

/// `GET CLERK_STATUS_URL` once, within [`STATUS_TIMEOUT_MS`].
async fn status_probe(state: &IsolateState) -> StatusFacts {
    let Some(url) = state.config.status_url.as_deref() else {
        return StatusFacts::new(Probe::NotConfigured("CLERK_STATUS_URL is invalid"), None);
    };
    let headers = Headers::new();
    let _ = headers.set("accept", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let started = now_ms();
    let outcome = fetch_once(url, "CLERK_STATUS_URL", &init, STATUS_TIMEOUT_MS).await;
    StatusFacts::new(timed(started, &outcome), ok_body(&outcome))
}

/// One KV read of a key that does not exist.
async fn kv_probe(env: &Env) -> Probe {
    let Ok(kv) = env.kv(KV_BINDING) else {
        return Probe::NotConfigured("the KV binding CLERK_EDGE is missing");
    };
    let started = now_ms();
    let read = kv.get(ABSENT_KEY).text().await;
    Probe::between(
        started,
        now_ms(),
        if read.is_ok() {
            Outcome::Done
        } else {
            Outcome::Failed("kv read failed")
        },
    )
}

/// `SELECT 1` on D1.
async fn d1_probe(env: &Env) -> Probe {
    let Ok(db) = env.d1(D1_BINDING) else {
        return Probe::NotConfigured("the D1 binding CLERK_DB is missing");
    };
    let started = now_ms();
    let query = match db.prepare("SELECT 1").raw_js_value().await {
        Ok(_) => Outcome::Done,
        Err(_) => Outcome::Failed("d1 query failed"),
    };
    Probe::between(started, now_ms(), query)
}
