//! Clerk Backend API calls from the Worker: the I/O half of [`crate::clerk_api`], which owns
//! the requests, the response shapes and the retry policy.

use ::worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

use crate::auth::keys::{self, KeyError, VerifyingKey};
use crate::auth::token::TokenError;
use crate::clerk_api::{
    request_url, resolve_retry_after, ApiOutcome, ApiRequest, ATTEMPT_TIMEOUT_MS,
};
use crate::config::Config;

use super::isolate;

/// Why the JWKS could not be refreshed.
#[derive(Debug)]
pub enum JwksProblem {
    /// No `CLERK_SECRET_KEY`.
    NoSecretKey,
    /// Clerk did not answer, or answered an error.
    Unavailable(String),
    /// Clerk answered something that is not a usable key set.
    Invalid(KeyError),
}

impl JwksProblem {
    /// The reason code recorded with `keys.refresh_failed`.
    pub fn code(&self) -> &'static str {
        self.code_error().code()
    }

    /// The token error a request gets when no key is available at all.
    pub fn code_error(&self) -> TokenError {
        match self {
            Self::Invalid(error) => error.jwks_reason(),
            Self::NoSecretKey | Self::Unavailable(_) => TokenError::JwkRemoteFailedToLoad,
        }
    }
}

impl std::fmt::Display for JwksProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoSecretKey => f.write_str("CLERK_SECRET_KEY is not set"),
            Self::Unavailable(why) => write!(f, "GET /v1/jwks failed: {why}"),
            Self::Invalid(why) => write!(f, "GET /v1/jwks: {why}"),
        }
    }
}

/// Fetches the JWKS with one attempt: this runs on a request's path, and the cache's fetch
/// interval already spaces out retries.
pub async fn fetch_jwks(config: &Config) -> Result<Vec<VerifyingKey>, JwksProblem> {
    let outcome = send_once(config, &ApiRequest::jwks())
        .await
        .ok_or(JwksProblem::NoSecretKey)?;
    match outcome {
        ApiOutcome::Response { status, body, .. } if (200..300).contains(&status) => {
            keys::parse_jwks(body.as_bytes()).map_err(JwksProblem::Invalid)
        }
        ApiOutcome::Response { status, .. } => {
            Err(JwksProblem::Unavailable(format!("HTTP {status}")))
        }
        ApiOutcome::Timeout => Err(JwksProblem::Unavailable(format!(
            "no answer within {ATTEMPT_TIMEOUT_MS} ms"
        ))),
        ApiOutcome::NetworkError(why) => Err(JwksProblem::Unavailable(why)),
    }
}

/// Sends one attempt with the default timeout. `None` when no secret key is configured.
async fn send_once(config: &Config, request: &ApiRequest) -> Option<ApiOutcome> {
    send_attempt(config, request, ATTEMPT_TIMEOUT_MS).await
}

/// Sends one attempt, abandoned after `timeout_ms` ([`ApiOutcome::Timeout`]). `None` when
/// no secret key is configured. The admin routes drive their retries themselves.
pub(super) async fn send_attempt(
    config: &Config,
    request: &ApiRequest,
    timeout_ms: u64,
) -> Option<ApiOutcome> {
    send_attempt_with_headers(config, request, timeout_ms)
        .await
        .map(|answer| match answer {
            Ok(answer) => ApiOutcome::Response {
                retry_after: resolve_retry_after(
                    answer.headers.get("retry-after").ok().flatten(),
                    answer.headers.get("date").ok().flatten().as_deref(),
                    Some(isolate::now_ms()),
                ),
                status: answer.status,
                body: answer.body,
            },
            Err(failed) => failed,
        })
}

/// [`send_attempt`], keeping the answer's headers (the diagnosis reads the rate-limit ones).
pub(super) async fn send_attempt_with_headers(
    config: &Config,
    request: &ApiRequest,
    timeout_ms: u64,
) -> Option<Result<Answer, ApiOutcome>> {
    let secret = config.secret_key.as_ref()?;
    let headers = Headers::new();
    for (name, value) in request.headers(secret.expose()) {
        headers.set(name, &value).ok()?;
    }
    let mut init = RequestInit::new();
    init.with_method(match request.method {
        crate::clerk_api::Method::Get => Method::Get,
        crate::clerk_api::Method::Post => Method::Post,
    })
    .with_headers(headers);
    if let Some(body) = &request.body {
        init.with_body(Some(body.as_str().into()));
    }
    let url = request_url(&config.api_url, request);
    Some(fetch_once(&url, "CLERK_API_URL", &init, timeout_ms).await)
}

/// An answer of [`fetch_once`].
pub(super) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The response headers (read what is needed; never log them).
    pub headers: Headers,
    /// The body as text (empty when it could not be read).
    pub body: String,
}

/// Sends one request, abandoned after `timeout_ms`: the answer, or the failure as
/// [`ApiOutcome::Timeout`] / [`ApiOutcome::NetworkError`] (whose text never quotes the URL;
/// a URL the runtime refuses is named by `url_variable`, the variable it came from).
pub(super) async fn fetch_once(
    url: &str,
    url_variable: &str,
    init: &RequestInit,
    timeout_ms: u64,
) -> Result<Answer, ApiOutcome> {
    let Ok(req) = Request::new_with_init(url, init) else {
        return Err(ApiOutcome::NetworkError(format!("invalid {url_variable}")));
    };
    let timeout = u32::try_from(timeout_ms).unwrap_or(u32::MAX);
    let signal = AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(timeout));
    let mut response = match Fetch::Request(req).send_with_signal(&signal).await {
        Ok(r) => r,
        Err(_) if signal.aborted() => return Err(ApiOutcome::Timeout),
        // The error text can quote the URL; only say what kind of failure it was.
        Err(_) => return Err(ApiOutcome::NetworkError("connection failed".into())),
    };
    let status = response.status_code();
    let headers = response.headers().clone();
    let body = match response.text().await {
        Ok(body) => body,
        Err(_) if signal.aborted() => return Err(ApiOutcome::Timeout),
        Err(_) => String::new(),
    };
    Ok(Answer {
        status,
        headers,
        body,
    })
}
