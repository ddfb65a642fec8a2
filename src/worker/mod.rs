//! Cloudflare Worker adapter (feature `worker`): routes, KV, D1, fetch and logging.
//!
//! Everything here translates between workers-rs and the pure core: it gathers request
//! facts, performs the I/O the core asks for (JWKS, deny-list, Backend API, D1) and turns
//! decisions into responses and audit lines. No auth rule lives in this module tree.
//!
//! A panic aborts the isolate, so every handler returns `Result` and [`fetch`] turns an
//! unexpected error into a JSON 500 that fails closed. Should one happen anyway, workers-rs
//! 0.8's own panic hook (installed at instantiation) logs `Rust panic: panicked at
//! <file>:<line>:<col>: <message>` through `console.error` and has the next request
//! re-instantiate the module; a second hook (such as `console_error_panic_hook`) would only
//! print it twice, so this adapter adds none (tests/e2e/panic.test.mjs).

mod admin;
mod backend;
mod body;
mod d1;
mod denylist;
mod diagnose;
mod health;
mod isolate;
mod protect;
mod sync;
mod webcrypto;
mod webhooks;

use ::worker::worker_sys::web_sys;
use ::worker::{event, Context, Env, Method, Request, Response, Result};
use serde_json::{json, Value};

use crate::admin::revocation::AdminRoute;
use crate::audit::{AuditEvent, Level, RequestContext};
use crate::policy::decision::{route, Route};
use crate::policy::paths::decode_path;

/// The Worker entry point.
///
/// It takes and answers the runtime's own `Request` and `Response`: workers-rs' wrappers
/// read `request.cf`, parse the URL and, on the way out, rebuild every response (a new
/// `Response` around the body, its headers copied), which on the protected path cost more
/// CPU than the auth itself (profile in `protect.rs`, [`protect::forward`]). The routes
/// that run rarely (webhooks, admin) still get workers-rs' `Request`.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let now = isolate::now_ms();
    let url = RequestUrl::of(&req);
    let method = Method::from(req.method());
    let request = request_context(&req, &url, &method);
    let state = isolate::state(&env, &request, now);
    let path = decode_path(url.path());
    #[cfg(feature = "panic-probe")]
    if path == "/__clerk/test/panic" {
        panic!("panic probe: a deliberate panic of the test-only build");
    }
    let outcome = match route(&state.config, &path) {
        Route::Protected => {
            protect::handle(req, &url, method, &env, &state, &request, &path, now).await
        }
        Route::Public => protect::forward_public(req, &url, &method, &state).await,
        Route::Health => health::handle(&Request::from(req), &state, now).map(raw),
        Route::Webhooks => webhooks::handle(Request::from(req), &env, &state, &request, now)
            .await
            .map(raw),
        Route::AdminRevoke => {
            let req = Request::from(req);
            admin::handle(AdminRoute::Revoke, req, &env, &state, &request, now)
                .await
                .map(raw)
        }
        Route::AdminRestore => {
            let req = Request::from(req);
            admin::handle(AdminRoute::Restore, req, &env, &state, &request, now)
                .await
                .map(raw)
        }
        Route::AdminDiagnose => diagnose::handle(Request::from(req), &env, &state, &request, now)
            .await
            .map(raw),
        Route::AdminSync(sync_route) => {
            let req = Request::from(req);
            sync::handle(sync_route, req, &env, &state, &request, now)
                .await
                .map(raw)
        }
        Route::ClerkNotFound => json_response(
            404,
            &json!({"error": "not-found", "message": "no such /__clerk route"}),
        )
        .map(raw),
    };
    // Only the error's kind reaches the log: its text could quote a header.
    outcome.or_else(|e| {
        fail_closed(
            &request,
            now,
            error_kind(&e),
            None,
            "the edge auth layer failed; the request was not forwarded. See the worker.error \
             audit line with this request_id.",
        )
        .map(raw)
    })
}

/// The runtime's `Response` of a workers-rs one (what the `#[event(fetch)]` glue did for
/// every response before [`fetch`] answered with the runtime's own).
fn raw(response: Response) -> web_sys::Response {
    web_sys::Response::from(response)
}

/// The 500 of a request the edge could not check (fail closed: nothing is forwarded) and
/// its `worker.error` line: `detail` is the kind of failure, `problem` what failed (never an
/// error's own text, which could quote a header or a key), `message` what to do.
pub(crate) fn fail_closed(
    request: &RequestContext,
    now: i64,
    detail: &str,
    problem: Option<&str>,
    message: &str,
) -> Result<Response> {
    let mut line = AuditEvent::new(Level::Error, "worker.error")
        .text("reason", "internal-error")
        .text("detail", detail);
    if let Some(problem) = problem {
        line = line.text("problem", problem);
    }
    emit(&line.value("status", json!(500)), Some(request), now);
    json_response(
        500,
        &json!({
            "error": "internal-error",
            "message": message,
            "request_id": request.request_id,
        }),
    )
}

/// The request facts every audit line carries.
fn request_context(req: &web_sys::Request, url: &RequestUrl, method: &Method) -> RequestContext {
    let headers = req.headers();
    let header = |name: &str| headers.get(name).ok().flatten();
    let request_id = header("cf-ray").unwrap_or_else(isolate::new_request_id);
    let ip = header("cf-connecting-ip")
        .or_else(|| {
            header("x-forwarded-for").and_then(|v| v.split(',').next().map(|s| s.trim().to_owned()))
        })
        .unwrap_or_default();
    RequestContext::new(
        &request_id,
        method.as_ref(),
        url.path(),
        &ip,
        &header("user-agent").unwrap_or_default(),
    )
}

/// The request URL as the runtime normalised it, split by hand: workers-rs' `Request::url`
/// parses it again with the `url` crate, whose IDNA tables cost ~50 KB of wasm for what is
/// here a split at two characters.
pub(crate) struct RequestUrl {
    full: String,
    /// Where the path starts (after `scheme://authority`).
    path_start: usize,
    /// Where the path ends (`?`, `#` or the end).
    path_end: usize,
}

impl RequestUrl {
    /// The URL of `req`.
    pub(crate) fn of(req: &web_sys::Request) -> Self {
        let full = req.url();
        let after_scheme = full.find("://").map_or(0, |i| i + 3);
        let path_start = full
            .get(after_scheme..)
            .and_then(|rest| rest.find('/'))
            .map_or(full.len(), |i| after_scheme + i);
        let path_end = full
            .get(path_start..)
            .and_then(|rest| rest.find(['?', '#']))
            .map_or(full.len(), |i| path_start + i);
        Self {
            full,
            path_start,
            path_end,
        }
    }

    /// The whole URL.
    pub(crate) fn as_str(&self) -> &str {
        &self.full
    }

    /// The path, `/` when empty.
    pub(crate) fn path(&self) -> &str {
        match self.full.get(self.path_start..self.path_end) {
            Some(p) if !p.is_empty() => p,
            _ => "/",
        }
    }

    /// The path and the query string (`/a?b=1`), without a fragment.
    pub(crate) fn path_and_query(&self) -> &str {
        let rest = self.full.get(self.path_start..).unwrap_or("");
        let rest = rest.split('#').next().unwrap_or("");
        if rest.is_empty() {
            "/"
        } else {
            rest
        }
    }
}

/// Writes one audit line to the Worker log (Workers Logs, Logpush and `wrangler tail`).
fn emit(event: &AuditEvent, request: Option<&RequestContext>, now_ms: i64) {
    let line = match request {
        Some(r) => event.clone().with_request(r).to_line(now_ms),
        None => event.to_line(now_ms),
    };
    ::worker::console_log!("{}", line);
}

/// A JSON response with `cache-control: no-store` (auth answers must never be cached).
fn json_response(status: u16, body: &Value) -> Result<Response> {
    let mut response = Response::from_json(body)?.with_status(status);
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

/// A coarse, log-safe description of a workers-rs error.
pub(crate) fn error_kind(e: &::worker::Error) -> &'static str {
    match e {
        ::worker::Error::Json(_) | ::worker::Error::SerdeJsonError(_) => "json",
        ::worker::Error::KvError(_) => "kv",
        ::worker::Error::RustError(_) => "rust",
        _ => "runtime",
    }
}
