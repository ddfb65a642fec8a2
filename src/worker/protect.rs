//! Protected and public requests: find and verify the token, consult the deny-list, decide,
//! then forward with identity headers or answer the refusal.

use std::cell::Cell;
use std::time::Duration;

use ::worker::worker_sys::web_sys;
use ::worker::{Delay, Env, Method, Result};
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::audit::{AuditEvent, Level, RequestContext};
use crate::auth::handshake::return_leg::{begin_handshake_token, handshake_payload_request};
use crate::auth::handshake::{
    authenticate, Authenticated, HandshakeContext, LegDirectives, RequestParts, ReturnLegSource,
    NONCE_WITHOUT_SECRET,
};
use crate::auth::keys::FetchDecision;
use crate::auth::token::{
    begin_cached, cached_outcome, complete_cached, decode, decode_jwt, find_session_token,
    token_from_authorization, ClaimRules, KeySource, Step, TokenError, Verification,
};
use crate::clerk_api::{ApiCall, ApiOutcome, CallProgress, ATTEMPT_TIMEOUT_MS};
use crate::config::{Config, KeyConfig};
use crate::diagnose::live::{elapsed_us, AuthWork};
use crate::policy::bypass::BypassMode;
use crate::policy::decision::{
    decide_with, handshake_applies, is_identity_header, needs_verification,
    signed_out_forward_headers, Decision, RequestFacts, REASON_PUBLIC_PATH,
};

use super::isolate::{self, IsolateState};
use super::{backend, denylist, emit, json_response, webcrypto, RequestUrl};

/// A protected request.
#[allow(clippy::too_many_arguments)] // the request's facts, each read once by the caller
pub async fn handle(
    req: web_sys::Request,
    url: &RequestUrl,
    method: Method,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
    path: &str,
    now: i64,
) -> Result<web_sys::Response> {
    let work = Work::start();
    let config = &state.config;
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let (authorization, cookie) = (header("authorization"), header("cookie"));
    let (sec_fetch_dest, accept) = (header("sec-fetch-dest"), header("accept"));
    let has_bearer = authorization
        .as_deref()
        .and_then(token_from_authorization)
        .is_some();
    // Clerk's cookie path reads the request once; its session token is the one verified.
    let ctx = if handshake_applies(config, path, has_bearer, now) {
        let (host, forwarded_host, forwarded_proto, referer) = (
            header("host"),
            header("x-forwarded-host"),
            header("x-forwarded-proto"),
            header("referer"),
        );
        let parts = RequestParts {
            method: method.as_ref(),
            url: url.as_str(),
            host: host.as_deref(),
            forwarded_host: forwarded_host.as_deref(),
            forwarded_proto: forwarded_proto.as_deref(),
            cookie: cookie.as_deref(),
            sec_fetch_dest: sec_fetch_dest.as_deref(),
            accept: accept.as_deref(),
            referer: referer.as_deref(),
        };
        HandshakeContext::read(config, &parts, now)
    } else {
        None
    };
    let token = match &ctx {
        Some(ctx) => ctx.session_token.clone(),
        None if needs_verification(config, path, now) => {
            let cookies = config.cookie_context(now);
            find_session_token(authorization.as_deref(), cookie.as_deref(), &cookies)
                .map(|(token, _)| token.into_owned())
        }
        None => None,
    };
    let verification = match &token {
        Some(token) => verify_token(token, state, request, now, &work).await,
        None => Verification::NoToken,
    };
    let clerk = match &ctx {
        Some(ctx) => Some(cookie_path(ctx, &verification, state, request, now, &work).await),
        None => None,
    };
    for event in clerk.iter().flat_map(|auth| &auth.events) {
        emit(event, Some(request), now);
    }
    let identity = match &clerk {
        Some(auth) => auth.state.identity(),
        None => verification.identity(),
    };
    let deny_hit = match identity {
        Some(identity) => {
            let from = isolate::clock_ms();
            let hit = denylist::check(env, state, identity, now).await;
            work.add(|w| &mut w.denylist_us, from);
            match hit {
                Ok(hit) => hit,
                Err(failure) => {
                    return deny_list_unreadable(&failure, request, now).map(Into::into)
                }
            }
        }
        None => None,
    };
    let facts = RequestFacts {
        method: method.as_ref(),
        path,
        url: url.as_str(),
        sec_fetch_dest: sec_fetch_dest.as_deref(),
        accept: accept.as_deref(),
    };
    let outcome = decide_with(
        config,
        &facts,
        &verification,
        clerk.as_ref().map(|auth| &auth.state),
        deny_hit,
        now,
    );
    if let Some(event) = &outcome.audit {
        emit(event, Some(request), now);
    }
    let mut response_headers = outcome.response_headers;
    if let Some(timing) = work.finish(state, outcome.decision.refusal_reason(), now) {
        response_headers.push(("server-timing", timing));
    }
    match outcome.decision.refusal() {
        Some(refusal) => {
            let mut response = json_response(refusal.status, &refusal.body)?;
            for (name, value) in refusal.headers.iter().chain(&response_headers) {
                // Appended: a handshake answer carries several `set-cookie` headers.
                response.headers_mut().append(name, value)?;
            }
            Ok(response.into())
        }
        None => {
            forward(
                &req,
                url,
                &method,
                config,
                &outcome.decision.forward_headers(config, now),
                &response_headers,
            )
            .await
        }
    }
}

/// The deny-list could not be read: the request fails closed (500, nothing forwarded), as
/// every unexpected failure does, and its `worker.error` line names the deny-list (detail
/// `deny-list`, as pkg-js's `middleware.error`) and whether KV failed or timed out.
fn deny_list_unreadable(
    failure: &denylist::ReadFailure,
    request: &RequestContext,
    now: i64,
) -> Result<::worker::Response> {
    super::fail_closed(
        request,
        now,
        "deny-list",
        Some(&failure.problem()),
        "the deny-list could not be read, so the request was refused (fail closed) and not \
         forwarded; retry shortly. Operators: see the worker.error line with this request_id \
         and GET /__clerk/admin/diagnose.",
    )
}

/// What one protected request did and how long each part took, for its `Server-Timing`
/// header and the isolate's record of recent decisions (`GET /__clerk/admin/diagnose`).
/// Workers' clock advances only across I/O, so the times are those of the network waits
/// (JWKS, deny-list, nonce exchange, WebCrypto's promise); pure computation reads 0.
struct Work {
    started_ms: f64,
    done: Cell<AuthWork>,
}

impl Work {
    fn start() -> Self {
        Self {
            started_ms: isolate::clock_ms(),
            done: Cell::new(AuthWork::default()),
        }
    }

    /// Adds the time since `from_ms` to one step.
    fn add(&self, step: fn(&mut AuthWork) -> &mut Option<u64>, from_ms: f64) {
        let mut work = self.done.get();
        AuthWork::add(step(&mut work), elapsed_us(from_ms, isolate::clock_ms()));
        self.done.set(work);
    }

    /// Notes that a session token was found.
    fn found_token(&self) {
        let mut work = self.done.get();
        work.token = true;
        self.done.set(work);
    }

    /// Records the decision in the isolate's record; the `Server-Timing` value unless
    /// `CLERK_SERVER_TIMING=false`.
    fn finish(&self, state: &IsolateState, refusal: Option<&str>, now: i64) -> Option<String> {
        let total_us = elapsed_us(self.started_ms, isolate::clock_ms());
        let work = self.done.get();
        state
            .live
            .borrow_mut()
            .record(work.sample(total_us, refusal), now);
        state
            .config
            .server_timing
            .then(|| work.server_timing(total_us))
    }
}

/// Clerk's cookie path: the return leg's I/O when the request carries one (the nonce
/// exchange through the Backend API, or the handshake token's key), the verification of the
/// session it sets, then the core's decision.
async fn cookie_path(
    ctx: &HandshakeContext,
    verification: &Verification,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
    work: &Work,
) -> Authenticated {
    let leg = match ctx.return_leg() {
        None => None,
        Some(ReturnLegSource::Nonce(nonce)) => {
            let from = isolate::clock_ms();
            let directives = exchange_nonce(&state.config, nonce).await;
            work.add(|w| &mut w.handshake_us, from);
            Some(directives)
        }
        Some(ReturnLegSource::Token(token)) => {
            Some(check_handshake_token(state, token, request, now, work).await)
        }
    };
    let leg = match leg {
        None => None,
        Some(directives) => {
            let session = match directives.session_to_verify() {
                Some(token) => {
                    let verified = verify_token(&token, state, request, now, work).await;
                    Some((token, verified))
                }
                None => None,
            };
            Some(directives.into_return_leg(session))
        }
    };
    let rules = ClaimRules {
        authorized_parties: &state.config.authorized_parties,
        clock_skew_ms: state.config.clock_skew_ms,
        now_ms: now,
    };
    authenticate(ctx, verification, leg.as_ref(), &rules)
}

/// `GET /v1/clients/handshake_payload?nonce=…`, with the retries of every Backend API call.
async fn exchange_nonce(config: &Config, nonce: &str) -> LegDirectives {
    if config.secret_key.is_none() {
        return LegDirectives::NonceFailed(NONCE_WITHOUT_SECRET.to_owned());
    }
    let mut call = ApiCall::new(handshake_payload_request(nonce));
    loop {
        let outcome = backend::send_attempt(config, call.request(), ATTEMPT_TIMEOUT_MS)
            .await
            .unwrap_or_else(ApiOutcome::secret_key_missing);
        match call.on_outcome(outcome) {
            CallProgress::RetryAfter(delay_ms) => {
                Delay::from(Duration::from_millis(delay_ms)).await;
            }
            CallProgress::Finished(result) => {
                return LegDirectives::from_payload_call(result, nonce)
            }
        }
    }
}

/// Checks a handshake token with the instance's key (the JWKS refreshed for its `kid` when
/// needed), its signature on WebCrypto as a session token's: in the pure-Rust RSA it was
/// the largest part of a return leg's CPU (tens of µs natively against hundreds in wasm).
async fn check_handshake_token(
    state: &IsolateState,
    token: &str,
    request: &RequestContext,
    now: i64,
    work: &Work,
) -> LegDirectives {
    let jwks_key;
    let keys = match &state.config.keys {
        KeyConfig::Pem(key) => KeySource::Pem(key),
        KeyConfig::Jwks => {
            let kid = decode_jwt(token)
                .ok()
                .and_then(|d| d.kid().map(str::to_owned));
            if let Err(error) = refresh_jwks(state, kid.as_deref(), request, now, work).await {
                return LegDirectives::TokenRefused(error);
            }
            // A copy: the JWKS cache is never borrowed across the WebCrypto await.
            jwks_key = state.jwks.borrow().find(kid.as_deref()).cloned();
            KeySource::Jwks(jwks_key.as_ref())
        }
        KeyConfig::None => return LegDirectives::TokenRefused(TokenError::JwkFailedToResolve),
    };
    let pending = match begin_handshake_token(token, keys) {
        Ok(pending) => pending,
        Err(error) => return LegDirectives::from_token_check(Err(error)),
    };
    // Not added to `work`: its WebCrypto step is the session token's (a cache hit stays
    // one), as when this check ran in Rust.
    let signature = match webcrypto::verify_signature(
        pending.alg(),
        pending.key(),
        pending.signature(),
        pending.signing_input(),
    )
    .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err(TokenError::InvalidSignature),
        // No WebCrypto, or it refused the key: the pure-Rust RSA gives the same answer.
        Err(_) => pending.check_in_rust(),
    };
    LegDirectives::from_token_check(pending.finish(signature))
}

/// A `CLERK_PUBLIC_PATHS` request: forwarded without a check, but still stripped of
/// client-supplied `x-clerk-*` headers.
pub async fn forward_public(
    req: web_sys::Request,
    url: &RequestUrl,
    method: &Method,
    state: &IsolateState,
) -> Result<web_sys::Response> {
    let config = &state.config;
    let headers = signed_out_forward_headers(config, REASON_PUBLIC_PATH, isolate::now_ms());
    forward(&req, url, method, config, &headers, &[]).await
}

/// Verifies one session token (the request's, or the one a handshake sets).
async fn verify_token(
    token: &str,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
    work: &Work,
) -> Verification {
    work.found_token();
    let config = &state.config;
    let rules = ClaimRules {
        authorized_parties: &config.authorized_parties,
        clock_skew_ms: config.clock_skew_ms,
        now_ms: now,
    };
    // A valid token stays useful past `exp` by the clock skew, and by the grace window
    // when a grace bypass is configured.
    let grace_ms = if config.bypass.mode == BypassMode::Grace {
        i64::try_from(config.bypass.grace_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    } else {
        0
    };
    let keep_after_exp = config.clock_skew_ms.saturating_add(grace_ms);
    match &config.keys {
        KeyConfig::Pem(key) => {
            let step = begin(state, PEM_SETTINGS, token, KeySource::Pem(key), &rules);
            finish(state, step, &rules, keep_after_exp, work).await
        }
        KeyConfig::Jwks => {
            // A hit needs no key: skip the JWKS refresh check too.
            if let Some(hit) = cached(state, JWKS_SETTINGS, token, &rules) {
                return hit;
            }
            let kid = match decode(token) {
                Ok(decoded) => decoded.kid().map(str::to_owned),
                Err(error) => {
                    return Verification::Rejected {
                        error,
                        signed: None,
                    }
                }
            };
            if let Err(error) = refresh_jwks(state, kid.as_deref(), request, now, work).await {
                return Verification::Rejected {
                    error,
                    signed: None,
                };
            }
            let step = {
                let jwks = state.jwks.borrow();
                let key = KeySource::Jwks(jwks.find(kid.as_deref()));
                begin(state, JWKS_SETTINGS, token, key, &rules)
            };
            finish(state, step, &rules, keep_after_exp, work).await
        }
        KeyConfig::None => Verification::Rejected {
            error: TokenError::JwkFailedToResolve,
            signed: None,
        },
    }
}

/// The verified-token cache settings of the two key configurations (one per isolate).
const PEM_SETTINGS: &str = "pem";
const JWKS_SETTINGS: &str = "jwks";

/// The answer for a token already in the verified-token cache.
fn cached(
    state: &IsolateState,
    settings: &str,
    token: &str,
    rules: &ClaimRules<'_>,
) -> Option<Verification> {
    let mut cache = state.tokens.borrow_mut();
    let settings = cache.settings_id(settings);
    let hit = cache.get(token, settings, rules.now_ms)?;
    Some(cached_outcome(hit, rules).0)
}

/// Everything but the RSA operation: a cache hit, a refusal, or the check to make.
fn begin(
    state: &IsolateState,
    settings: &str,
    token: &str,
    keys: KeySource<'_>,
    rules: &ClaimRules<'_>,
) -> Step {
    let mut cache = state.tokens.borrow_mut();
    let settings = cache.settings_id(settings);
    begin_cached(&mut cache, settings, token, keys, rules)
}

/// The RSA operation on WebCrypto, then the claims. The cache is borrowed only before and
/// after the await, never across it: other requests of the isolate run meanwhile.
async fn finish(
    state: &IsolateState,
    step: Step,
    rules: &ClaimRules<'_>,
    keep_after_exp_ms: i64,
    work: &Work,
) -> Verification {
    let pending = match step {
        Step::Done(verification) => return verification,
        Step::NeedSignature(pending) => pending,
    };
    let from = isolate::clock_ms();
    let valid = match webcrypto::verify(&pending).await {
        Ok(valid) => valid,
        // No WebCrypto, or it refused the key: the pure-Rust RSA gives the same answer.
        Err(_) => pending.verify_in_rust(),
    };
    work.add(|w| &mut w.webcrypto_us, from);
    let mut cache = state.tokens.borrow_mut();
    complete_cached(&mut cache, pending, valid, rules, keep_after_exp_ms)
}

/// How often a request waiting for another's JWKS fetch looks again.
const JWKS_WAIT_POLL_MS: u64 = 20;
/// How much longer than one fetch attempt a request waits for it.
const JWKS_WAIT_SLACK_MS: i64 = 300;

/// Fetches the JWKS when the cache policy says so. Fails only when no keys at all are
/// available; a failed refresh with keys cached keeps them (and health says `degraded`).
async fn refresh_jwks(
    state: &IsolateState,
    kid: Option<&str>,
    request: &RequestContext,
    now: i64,
    work: &Work,
) -> std::result::Result<(), TokenError> {
    // Another request of this isolate is fetching: wait for its keys (bounded by one fetch
    // attempt) instead of refusing valid tokens for want of them.
    let wait_for_ms = i64::try_from(ATTEMPT_TIMEOUT_MS).unwrap_or(0) + JWKS_WAIT_SLACK_MS;
    let mut now = now;
    let from = isolate::clock_ms();
    let mut waited = false;
    while state.jwks.borrow().fetch_in_flight(now, wait_for_ms)
        && state.jwks.borrow().find(kid).is_none()
    {
        Delay::from(Duration::from_millis(JWKS_WAIT_POLL_MS)).await;
        now = isolate::now_ms();
        waited = true;
    }
    let due = state.jwks.borrow().needs_fetch(kid, now) == FetchDecision::Fetch;
    let mut failure = None;
    if due {
        state.jwks.borrow_mut().record_attempt(now);
        match backend::fetch_jwks(&state.config).await {
            Ok(keys) => {
                state.jwks.borrow_mut().record_success(keys, now);
                // Cache hits skip key resolution: they must not outlive the key set.
                state.tokens.borrow_mut().clear();
            }
            Err(problem) => {
                emit(
                    &AuditEvent::new(Level::Error, "keys.refresh_failed")
                        .text("reason", problem.code())
                        .text("problem", &problem.to_string()),
                    Some(request),
                    now,
                );
                state
                    .jwks
                    .borrow_mut()
                    .record_failure(problem.to_string(), now);
                failure = Some(problem.code_error());
            }
        }
    }
    if due || waited {
        // Fetched, or waited for another request's fetch.
        work.add(|w| &mut w.jwks_us, from);
    }
    if state.jwks.borrow().has_keys() {
        Ok(())
    } else {
        Err(failure.unwrap_or(TokenError::JwkRemoteFailedToLoad))
    }
}

/// Sends the request on to the origin: `ORIGIN_URL` + path + query, or the request's own
/// URL. Incoming `x-clerk-*` headers are always removed first, then ours are set.
///
/// On the runtime's own objects, each built once: through workers-rs this was the costliest
/// part of a signed-in request (a header-by-header copy, the upstream `Request` built and
/// then cloned again by its `fetch`, the response rebuilt on the way out).
async fn forward(
    req: &web_sys::Request,
    url: &RequestUrl,
    method: &Method,
    config: &Config,
    set: &[(&'static str, String)],
    response_headers: &[(&'static str, String)],
) -> Result<web_sys::Response> {
    if config.origin_rejected() {
        let refusal = Decision::Misconfigured {
            variables: vec!["ORIGIN_URL"],
        }
        .refusal();
        if let Some(refusal) = refusal {
            return json_response(refusal.status, &refusal.body).map(Into::into);
        }
    }
    let target = match &config.origin_url {
        Some(origin) => format!("{origin}{}", url.path_and_query()),
        None => url.as_str().to_owned(),
    };
    let headers = web_sys::Headers::new_with_headers(&req.headers())?;
    for name in identity_headers(&headers)? {
        headers.delete(&name)?;
    }
    for (name, value) in set {
        headers.set(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    // workers-rs' `Method` names it: an unknown method goes on as it always has (GET).
    init.set_method(method.as_ref());
    init.set_headers(&headers);
    // Redirects from the origin go back to the client untouched.
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        if let Some(body) = req.body() {
            init.set_body(&body);
        }
    }
    // Built before the fetch, so a URL the runtime refuses is this Worker's error (500, fail
    // closed), not an unreachable origin.
    let upstream = web_sys::Request::new_with_str_and_init(&target, &init)?;
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let fetched = JsFuture::from(global.fetch_with_request(&upstream))
        .await
        .and_then(JsCast::dyn_into::<web_sys::Response>);
    match fetched {
        Ok(response) => rebuilt(&response, response_headers),
        Err(_) => json_response(
            502,
            &serde_json::json!({
                "error": "origin-unreachable",
                "message": "the request was authorised but the origin did not answer; check ORIGIN_URL",
            }),
        )
        .map(Into::into),
    }
}

/// The names of the request's identity headers (`x-clerk-*`, see [`is_identity_header`]),
/// usually none. Header names are tokens, never holding a comma, so the runtime joins them
/// all in one call instead of one call per header and entry.
fn identity_headers(headers: &web_sys::Headers) -> Result<Vec<String>> {
    let names = js_sys::Array::from(&headers.keys())
        .join(",")
        .as_string()
        .unwrap_or_default();
    Ok(names
        .split(',')
        .filter(|name| is_identity_header(name))
        .map(str::to_owned)
        .collect())
}

/// The origin's `response` as this Worker answers it, with `extra` headers appended: the
/// same status, headers, body, WebSocket and `cf`, in a new `Response` without status text,
/// as workers-rs rebuilt every answer (so the client gets the runtime's standard reason
/// phrase, never the origin's own).
fn rebuilt(
    response: &web_sys::Response,
    extra: &[(&'static str, String)],
) -> Result<web_sys::Response> {
    let headers = if extra.is_empty() {
        // The constructor copies them.
        response.headers()
    } else {
        // A fetched response's headers are immutable: copy them, then add ours.
        let headers = web_sys::Headers::new_with_headers(&response.headers())?;
        for (name, value) in extra {
            headers.append(name, value)?;
        }
        headers
    };
    let init = web_sys::ResponseInit::new();
    init.set_status(response.status());
    init.set_headers(&headers);
    for field in ["webSocket", "cf"] {
        let value = Reflect::get(response, &JsValue::from_str(field))?;
        if !value.is_undefined() && !value.is_null() {
            Reflect::set(&init, &JsValue::from_str(field), &value)?;
        }
    }
    Ok(web_sys::Response::new_with_opt_readable_stream_and_init(
        response.body().as_ref(),
        &init,
    )?)
}
