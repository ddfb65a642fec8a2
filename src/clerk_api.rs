//! Clerk Backend API requests and responses as plain data.
//!
//! Nothing here sends a request or reads a clock: [`ApiRequest`] says what to send,
//! [`request_url`] and [`ApiRequest::headers`] say where and how, and the adapter
//! (Worker `fetch`, Node `fetch`) does the I/O and hands back an [`ApiOutcome`].
//! [`ApiCall`] turns outcomes into "retry after N ms" or a final result, following
//! [`retry_decision`], so every retry rule is tested natively.
//!
//! Paths, parameters and response shapes follow Clerk's OpenAPI description of API version
//! [`CLERK_API_VERSION`] (`GetSessionList`, `RevokeSession`, `BanUser`, `UnbanUser`, `GetJWKS`).

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// Base URL used when `CLERK_API_URL` is not set (the same default as `@clerk/backend`).
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";

/// Path prefix of every Backend API route: the spec's server is `https://api.clerk.com/v1`
/// while `CLERK_API_URL` names the host only, as in `@clerk/backend`.
pub const API_PATH_PREFIX: &str = "/v1";

/// Backend API version pinned by this crate (`info.version` of the spec it was written
/// against, and `@clerk/backend`'s `SUPPORTED_BAPI_VERSION`), sent as [`API_VERSION_HEADER`]
/// so that a later incompatible API release cannot change the shapes parsed here.
pub const CLERK_API_VERSION: &str = "2026-05-12";

/// Header that selects the Backend API version.
pub const API_VERSION_HEADER: &str = "Clerk-API-Version";

/// `User-Agent` sent with every call, so that Clerk support can tell these calls apart.
pub const USER_AGENT: &str = concat!("clerk-edge-guard/", env!("CARGO_PKG_VERSION"));

/// Largest page the spec allows for `limit` on list endpoints.
pub const MAX_PAGE_LIMIT: u32 = 500;

/// Attempts made for one logical call, the first included.
pub const MAX_ATTEMPTS: u32 = 3;

/// How long the adapter lets one attempt run before abandoning it. A Backend API call
/// normally answers well under half a second; past this, waiting longer helps nobody.
pub const ATTEMPT_TIMEOUT_MS: u64 = 1_200;

/// First backoff delay after a 5xx, a timeout or a network error; doubled per attempt.
pub const BACKOFF_BASE_MS: u64 = 250;

/// Longest single wait between attempts. A `Retry-After` asking for more is not shortened
/// (that would defy the rate limit): the call gives up and says when to try again.
pub const MAX_RETRY_DELAY_MS: u64 = 2_000;

/// Upper bound on the wall time of one logical call: the attempts' timeouts plus the waits
/// between them. A retry is only scheduled when a full further attempt still fits, so a
/// Worker never hangs on a struggling Clerk.
pub const CALL_BUDGET_MS: u64 = 5_000;

/// Longest error text kept from a Clerk answer: error bodies are untrusted and end up in
/// admin responses and log lines.
const MAX_ERROR_TEXT_CHARS: usize = 300;

/// HTTP method of a Backend API call (only those this crate uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
}

impl Method {
    /// The method as it goes on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One Backend API call, without base URL or credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL, starting with [`API_PATH_PREFIX`]. Already percent-encoded:
    /// the builders encode each variable segment, where segment boundaries are still known.
    pub path: String,
    /// Query parameters, not encoded ([`request_url`] encodes them).
    pub query: Vec<(String, String)>,
    /// JSON body, if any.
    pub body: Option<String>,
}

impl ApiRequest {
    fn new(method: Method, path: String) -> Self {
        ApiRequest {
            method,
            path,
            query: Vec::new(),
            body: None,
        }
    }

    /// `GET /v1/jwks`: the instance's JSON Web Key Set.
    pub fn jwks() -> Self {
        ApiRequest::new(Method::Get, format!("{API_PATH_PREFIX}/jwks"))
    }

    /// `GET /v1/sessions?user_id=…&limit=…&offset=…`: one page of a user's sessions of every
    /// status, newest first (the `status` filter takes one value and has no `pending`; see
    /// [`Session::is_live`]). `limit` is clamped to the spec's 1..=500.
    pub fn list_sessions(user_id: &str, limit: u32, offset: u32) -> Self {
        let mut request = ApiRequest::new(Method::Get, format!("{API_PATH_PREFIX}/sessions"));
        request.query = vec![
            ("user_id".to_owned(), user_id.to_owned()),
            (
                "limit".to_owned(),
                limit.clamp(1, MAX_PAGE_LIMIT).to_string(),
            ),
            ("offset".to_owned(), offset.to_string()),
        ];
        request
    }

    /// `GET /v1/users?order_by=+created_at&limit=…[&starting_after=…]`: one page of every
    /// user, oldest first, walked with the `starting_after` cursor as the spec advises (a large
    /// `offset` gets slower and times out). Oldest first, so users created during a walk come
    /// after the cursor and are reached. `limit` is clamped to the spec's 1..=500.
    pub fn list_users(limit: u32, starting_after: Option<&str>) -> Self {
        let mut request = ApiRequest::new(Method::Get, format!("{API_PATH_PREFIX}/users"));
        request.query = vec![
            ("order_by".to_owned(), "+created_at".to_owned()),
            (
                "limit".to_owned(),
                limit.clamp(1, MAX_PAGE_LIMIT).to_string(),
            ),
        ];
        if let Some(cursor) = starting_after {
            request
                .query
                .push(("starting_after".to_owned(), cursor.to_owned()));
        }
        request
    }

    /// `GET /v1/users?limit=1`: the cheapest authenticated read, the diagnosis's probe of the
    /// Backend API.
    pub fn probe_users() -> Self {
        let mut request = ApiRequest::new(Method::Get, format!("{API_PATH_PREFIX}/users"));
        request.query = vec![("limit".to_owned(), "1".to_owned())];
        request
    }

    /// `GET /v1/users/count`: how many users the instance has.
    pub fn count_users() -> Self {
        ApiRequest::new(Method::Get, format!("{API_PATH_PREFIX}/users/count"))
    }

    /// `POST /v1/sessions/{session_id}/revoke`.
    pub fn revoke_session(session_id: &str) -> Self {
        ApiRequest::new(
            Method::Post,
            format!(
                "{API_PATH_PREFIX}/sessions/{}/revoke",
                encode_component(session_id)
            ),
        )
    }

    /// `POST /v1/users/{user_id}/ban`: Clerk also revokes all of the user's sessions.
    pub fn ban_user(user_id: &str) -> Self {
        ApiRequest::new(
            Method::Post,
            format!("{API_PATH_PREFIX}/users/{}/ban", encode_component(user_id)),
        )
    }

    /// `POST /v1/users/{user_id}/unban`.
    pub fn unban_user(user_id: &str) -> Self {
        ApiRequest::new(
            Method::Post,
            format!(
                "{API_PATH_PREFIX}/users/{}/unban",
                encode_component(user_id)
            ),
        )
    }

    /// Request headers for this call. The result holds the secret key: hand it to `fetch`,
    /// never to a log line.
    pub fn headers(&self, secret_key: &str) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Authorization", format!("Bearer {secret_key}")),
            (API_VERSION_HEADER, CLERK_API_VERSION.to_owned()),
            ("Accept", "application/json".to_owned()),
            ("User-Agent", USER_AGENT.to_owned()),
        ];
        if self.body.is_some() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        headers
    }
}

/// Full URL of `request` below `base_url` (`CLERK_API_URL`, e.g. [`DEFAULT_API_URL`]);
/// a trailing `/` on the base is ignored and query keys and values are percent-encoded.
pub fn request_url(base_url: &str, request: &ApiRequest) -> String {
    let mut url = String::with_capacity(base_url.len() + request.path.len() + 64);
    url.push_str(base_url.trim_end_matches('/'));
    url.push_str(&request.path);
    for (index, (key, value)) in request.query.iter().enumerate() {
        url.push(if index == 0 { '?' } else { '&' });
        url.push_str(&encode_component(key));
        url.push('=');
        url.push_str(&encode_component(value));
    }
    url
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so the result is safe as
/// one path segment and as a query key or value (`/`, `?`, `&`, `=`, `#`, space all encoded).
pub fn encode_component(raw: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// The fields of Clerk's `Session` object this crate acts on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Session {
    /// `sess_…`
    pub id: String,
    /// `user_…` owning the session.
    pub user_id: String,
    /// `active`, `revoked`, `ended`, … (kept as text: the spec adds statuses over time).
    pub status: String,
}

impl Session {
    /// Whether the session can still mint tokens: `active`, or `pending` (signed in, waiting
    /// on a task such as choosing an organization; it turns active without a new sign-in).
    pub fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "active" | "pending")
    }
}

/// One page of `GET /v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPage {
    /// Sessions of this page, in Clerk's order (newest first).
    pub sessions: Vec<Session>,
    /// Total across pages, when Clerk answered in the `{data, total_count}` form.
    pub total_count: Option<u64>,
}

impl SessionPage {
    /// Offset of the next page, or `None` when this was the last one. Without a total (the
    /// plain-array form) a full page may be followed by more, a short page is the end.
    pub fn next_offset(&self, limit: u32, offset: u32) -> Option<u32> {
        let len = u32::try_from(self.sessions.len()).unwrap_or(u32::MAX);
        if len == 0 {
            return None;
        }
        let next = offset.checked_add(len)?;
        let more = match self.total_count {
            Some(total) => u64::from(next) < total,
            None => len >= limit.clamp(1, MAX_PAGE_LIMIT),
        };
        more.then_some(next)
    }
}

/// A Backend API answer that is not what the spec promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadResponse {
    /// What was expected and what went wrong (never the body itself).
    pub detail: String,
}

impl fmt::Display for BadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unexpected Clerk response: {}", self.detail)
    }
}

impl std::error::Error for BadResponse {}

/// Parses a `GET /v1/sessions` 200 body. The spec (`Session.List`) documents a plain array;
/// the `{"data": [...], "total_count": n}` form (answered to `paginated=true`, and by some
/// API versions) is accepted too, so a change of form cannot silently look like "no sessions".
pub fn parse_session_list(body: &str) -> Result<SessionPage, BadResponse> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Array(Vec<Session>),
        Paginated {
            data: Vec<Session>,
            total_count: Option<u64>,
        },
    }
    match serde_json::from_str::<Form>(body) {
        Ok(Form::Array(sessions)) => Ok(SessionPage {
            sessions,
            total_count: None,
        }),
        Ok(Form::Paginated { data, total_count }) => Ok(SessionPage {
            sessions: data,
            total_count,
        }),
        Err(_) => Err(BadResponse {
            detail: "session list is neither an array of sessions nor {data, total_count} \
                     (each session needs string id, user_id and status)"
                .to_owned(),
        }),
    }
}

/// Parses a `GET /v1/users` 200 body (the spec's `User.List`: a plain array of `User`) into
/// the rows the edge keeps, with the same field rules as the `user.created` webhook. One user
/// that does not have the spec's shape makes the whole page a [`BadResponse`] naming its
/// position and field: a page is never applied in part.
pub fn parse_user_page(body: &str) -> Result<Vec<crate::webhook::UserRecord>, BadResponse> {
    let value: Value = serde_json::from_str(body).map_err(|error| BadResponse {
        detail: format!("GET /v1/users: the body is not JSON ({error})"),
    })?;
    let Value::Array(users) = value else {
        return Err(BadResponse {
            detail: "GET /v1/users: expected a JSON array of users".to_owned(),
        });
    };
    users
        .iter()
        .enumerate()
        .map(|(index, user)| {
            let object = user.as_object().ok_or_else(|| BadResponse {
                detail: format!("GET /v1/users: entry {index} is not a user object"),
            })?;
            crate::webhook::UserRecord::from_user_object(object).map_err(|error| BadResponse {
                detail: format!("GET /v1/users: user {index} of the page: {error}"),
            })
        })
        .collect()
}

/// Parses a `GET /v1/users/count` 200 body (`TotalCount`): the `total_count`.
pub fn parse_total_count(body: &str) -> Result<u64, BadResponse> {
    #[derive(Deserialize)]
    struct TotalCount {
        total_count: u64,
    }
    serde_json::from_str::<TotalCount>(body)
        .map(|count| count.total_count)
        .map_err(|error| BadResponse {
            detail: format!("GET /v1/users/count: expected {{\"total_count\": n}} ({error})"),
        })
}

/// A Backend API error answer: the status and the first entry of Clerk's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkApiError {
    /// HTTP status of the answer.
    pub status: u16,
    /// Clerk's error code (`resource_not_found`, `authentication_invalid`, …), or
    /// `unexpected_error_body` when the body is not Clerk's error shape.
    pub code: String,
    /// Clerk's `long_message` (else `message`), cut to a bounded length.
    pub message: String,
    /// `clerk_trace_id`, for Clerk support.
    pub trace_id: Option<String>,
}

impl ClerkApiError {
    /// Reads an error answer; never fails: a body that is not Clerk's shape (a proxy's HTML
    /// page, an empty body) still gives an error naming the status.
    pub fn from_response(status: u16, body: &str) -> Self {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(default)]
            message: Option<String>,
            #[serde(default)]
            long_message: Option<String>,
            #[serde(default)]
            code: Option<String>,
        }
        #[derive(Deserialize)]
        struct Errors {
            errors: Vec<Entry>,
            #[serde(default)]
            clerk_trace_id: Option<String>,
        }
        let parsed = serde_json::from_str::<Errors>(body).ok();
        let trace_id = parsed
            .as_ref()
            .and_then(|errors| errors.clerk_trace_id.clone());
        match parsed.and_then(|errors| errors.errors.into_iter().next()) {
            Some(entry) => {
                let message = entry
                    .long_message
                    .filter(|text| !text.is_empty())
                    .or(entry.message)
                    .unwrap_or_default();
                ClerkApiError {
                    status,
                    code: cut(&entry.code.unwrap_or_else(|| "unknown".to_owned())),
                    message: cut(&message),
                    trace_id: trace_id.map(|id| cut(&id)),
                }
            }
            None => ClerkApiError {
                status,
                code: "unexpected_error_body".to_owned(),
                message: format!("HTTP {status} without Clerk's errors body"),
                trace_id,
            },
        }
    }
}

impl fmt::Display for ClerkApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Clerk answered {} {}", self.status, self.code)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ClerkApiError {}

fn cut(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT_CHARS).collect()
}

/// Why an attempt did not succeed, as the retry policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFailure {
    /// Clerk answered with this non-2xx status.
    Status(u16),
    /// No answer within [`ATTEMPT_TIMEOUT_MS`].
    Timeout,
    /// The connection failed (DNS, TLS, reset).
    Network,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptFailure::Status(status) => write!(f, "HTTP {status}"),
            AttemptFailure::Timeout => write!(f, "no answer within {ATTEMPT_TIMEOUT_MS} ms"),
            AttemptFailure::Network => write!(f, "network error"),
        }
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then send the same request again.
    Retry {
        /// Milliseconds to wait before the next attempt.
        delay_ms: u64,
    },
    /// Stop: the failure is final.
    GiveUp(GiveUpReason),
}

/// Why the retry policy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// A status that retrying does not fix (4xx other than 429, or not an error at all).
    NotRetryable,
    /// [`MAX_ATTEMPTS`] attempts were made.
    AttemptsExhausted,
    /// Another attempt would not fit in [`CALL_BUDGET_MS`].
    BudgetExhausted,
    /// Clerk asked (`Retry-After`) for a longer wait than [`MAX_RETRY_DELAY_MS`].
    RetryAfterTooLong {
        /// Seconds Clerk asked to wait.
        seconds: u64,
    },
}

impl GiveUpReason {
    /// Clerk answered, asking for a longer wait than one call can afford.
    pub fn is_rate_limit(self) -> bool {
        matches!(self, GiveUpReason::RetryAfterTooLong { .. })
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GiveUpReason::NotRetryable => write!(f, "not retryable"),
            GiveUpReason::AttemptsExhausted => write!(f, "gave up after {MAX_ATTEMPTS} attempts"),
            GiveUpReason::BudgetExhausted => {
                write!(
                    f,
                    "gave up: the {CALL_BUDGET_MS} ms budget of one call is spent"
                )
            }
            GiveUpReason::RetryAfterTooLong { seconds } => {
                write!(
                    f,
                    "Clerk asked to wait {seconds} s (Retry-After): try again then"
                )
            }
        }
    }
}

/// The retry policy. `attempts_made` counts attempts so far (the failed one included);
/// `spent_ms` is the worst-case time they took ([`ATTEMPT_TIMEOUT_MS`] per attempt plus the
/// waits), which bounds the wall time without reading a clock.
///
/// Retried: 429 (after `Retry-After` seconds when given as an integer; an HTTP date or
/// garbage falls back to the backoff), 5xx, timeouts and network errors, with exponential
/// backoff from [`BACKOFF_BASE_MS`] capped at [`MAX_RETRY_DELAY_MS`]. Never retried: other
/// statuses. No jitter: the admin routes call Clerk once per operator action, not in herds.
pub fn retry_decision(
    attempts_made: u32,
    spent_ms: u64,
    failure: AttemptFailure,
    retry_after: Option<&str>,
) -> RetryDecision {
    let retryable = match failure {
        AttemptFailure::Status(status) => status == 429 || (500..=599).contains(&status),
        AttemptFailure::Timeout | AttemptFailure::Network => true,
    };
    if !retryable {
        return RetryDecision::GiveUp(GiveUpReason::NotRetryable);
    }
    if attempts_made >= MAX_ATTEMPTS {
        return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
    }
    let asked_seconds = match failure {
        AttemptFailure::Status(_) => retry_after.and_then(parse_retry_after_seconds),
        AttemptFailure::Timeout | AttemptFailure::Network => None,
    };
    let delay_ms = match asked_seconds {
        Some(seconds) => {
            let ms = seconds.saturating_mul(1_000);
            if ms > MAX_RETRY_DELAY_MS {
                return RetryDecision::GiveUp(GiveUpReason::RetryAfterTooLong { seconds });
            }
            ms
        }
        None => backoff_ms(attempts_made),
    };
    let needed = spent_ms
        .saturating_add(delay_ms)
        .saturating_add(ATTEMPT_TIMEOUT_MS);
    if needed > CALL_BUDGET_MS {
        return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
    }
    RetryDecision::Retry { delay_ms }
}

fn backoff_ms(attempts_made: u32) -> u64 {
    let doublings = attempts_made.saturating_sub(1).min(16);
    BACKOFF_BASE_MS
        .saturating_mul(1u64 << doublings)
        .min(MAX_RETRY_DELAY_MS)
}

/// `Retry-After` as delta-seconds; `None` for anything else. The adapters turn the HTTP-date
/// form into seconds on arrival ([`resolve_retry_after`]), so every reader sees seconds.
pub fn parse_retry_after_seconds(value: &str) -> Option<u64> {
    let value = value.trim();
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// A `Retry-After` as the core reads it: delta-seconds stay as they are; an HTTP date
/// becomes the seconds from the answer's own `Date` header to it (so the edge's clock skew
/// does not matter), or from `received_at_ms` (the adapter's clock when the answer came)
/// when the answer has no readable `Date`; rounded up, 0 for a date already past. Anything
/// else (or a date with neither reference) is kept, and reads as "no usable value": the
/// backoff applies.
pub fn resolve_retry_after(
    value: Option<String>,
    date_header: Option<&str>,
    received_at_ms: Option<i64>,
) -> Option<String> {
    let value = value?;
    let Some(until_ms) = crate::http_date::parse_http_date_millis(&value) else {
        return Some(value);
    };
    let Some(from_ms) = date_header
        .and_then(crate::http_date::parse_http_date_millis)
        .or(received_at_ms)
    else {
        return Some(value);
    };
    let wait_ms = until_ms.saturating_sub(from_ms).max(0);
    Some((wait_ms.saturating_add(999) / 1000).to_string())
}

impl ApiOutcome {
    /// The answer for a call that cannot be sent because `CLERK_SECRET_KEY` is not set: the
    /// 401 Clerk gives a missing key (not retried; it halts the other calls), so the report
    /// names the variable, in the Worker and the JS handlers alike.
    pub fn secret_key_missing() -> Self {
        let body = serde_json::json!({
            "errors": [{
                "code": "secret_key_missing",
                "message": "CLERK_SECRET_KEY is not set",
                "long_message": "CLERK_SECRET_KEY is not set: the Backend API cannot be called",
            }],
        });
        ApiOutcome::Response {
            status: 401,
            body: body.to_string(),
            retry_after: None,
        }
    }
}

impl ApiOutcome {
    /// Reads an attempt's outcome as the JavaScript adapters report it:
    /// `{"status", "body", "retry_after", "date", "received_at"}` (the answer's `Date` header
    /// and the adapter's clock in ms, for a `Retry-After` given as a date: see
    /// [`resolve_retry_after`]), `{"timeout": true}`, or `{"network_error": text}` (anything
    /// else is a network error).
    pub fn from_json(value: &Value) -> Self {
        if value.get("timeout").and_then(Value::as_bool) == Some(true) {
            return ApiOutcome::Timeout;
        }
        if let Some(status) = value.get("status").and_then(Value::as_u64) {
            return ApiOutcome::Response {
                status: u16::try_from(status).unwrap_or(0),
                body: value
                    .get("body")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                retry_after: resolve_retry_after(
                    value
                        .get("retry_after")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    value.get("date").and_then(Value::as_str),
                    value
                        .get("received_at")
                        .and_then(Value::as_f64)
                        .map(|ms| ms as i64),
                ),
            };
        }
        ApiOutcome::NetworkError(
            value
                .get("network_error")
                .and_then(Value::as_str)
                .unwrap_or("connection failed")
                .to_owned(),
        )
    }
}

/// What the adapter observed for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiOutcome {
    /// An HTTP answer (any status).
    Response {
        /// HTTP status.
        status: u16,
        /// Body text (may be empty).
        body: String,
        /// The `Retry-After` header, when present.
        retry_after: Option<String>,
    },
    /// No answer within the attempt's timeout.
    Timeout,
    /// The request failed below HTTP; the text must not contain the secret key.
    NetworkError(String),
}

/// Final failure of a logical call (after retries).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// Clerk answered with an error that retrying does not fix (4xx other than 429).
    Rejected(ClerkApiError),
    /// Clerk could not be reached or kept failing (timeouts, network errors, 5xx, 429).
    Unavailable {
        /// The last attempt's failure.
        last: String,
        /// Why no further attempt was made.
        gave_up: GiveUpReason,
    },
    /// Clerk answered 2xx with a body that does not match the spec.
    BadResponse(BadResponse),
    /// Not sent: an earlier call showed Clerk unreachable or refusing the secret key.
    NotAttempted,
}

impl CallError {
    /// True when further calls in the same operation are pointless: Clerk is unreachable, or
    /// it refuses the secret key (every call would fail the same way).
    pub fn halts_further_calls(&self) -> bool {
        match self {
            CallError::Unavailable { .. } | CallError::NotAttempted => true,
            CallError::Rejected(error) => matches!(error.status, 401 | 403),
            CallError::BadResponse(_) => false,
        }
    }

    /// True when the failure says Clerk is unreachable (as opposed to refusing the call, or
    /// answering that it is rate-limiting us for longer than one call can wait).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, CallError::Unavailable { gave_up, .. } if !gave_up.is_rate_limit())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Rejected(error) if error.status == 401 => write!(
                f,
                "{error} (check CLERK_SECRET_KEY: it must be the instance's current sk_ key)"
            ),
            CallError::Rejected(error) => write!(f, "{error}"),
            CallError::Unavailable { last, gave_up } if gave_up.is_rate_limit() => {
                write!(f, "Clerk is rate-limiting this key ({last}; {gave_up})")
            }
            CallError::Unavailable { last, gave_up } => {
                write!(f, "Clerk API unreachable ({last}; {gave_up})")
            }
            CallError::BadResponse(error) => write!(f, "{error}"),
            CallError::NotAttempted => {
                write!(
                    f,
                    "not attempted: an earlier Clerk call failed (see the other errors)"
                )
            }
        }
    }
}

impl std::error::Error for CallError {}

/// What an [`ApiCall`] wants after an outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallProgress {
    /// Send the same request again after this many milliseconds.
    RetryAfter(u64),
    /// The call is over: the 2xx body, or the final error.
    Finished(Result<String, CallError>),
}

/// One logical Backend API call and its retry state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    request: ApiRequest,
    attempts_made: u32,
    spent_ms: u64,
}

impl ApiCall {
    /// A call that has not been attempted yet.
    pub fn new(request: ApiRequest) -> Self {
        ApiCall {
            request,
            attempts_made: 0,
            spent_ms: 0,
        }
    }

    /// The request to send (the same for every attempt).
    pub fn request(&self) -> &ApiRequest {
        &self.request
    }

    /// Feeds the outcome of the latest attempt.
    pub fn on_outcome(&mut self, outcome: ApiOutcome) -> CallProgress {
        self.attempts_made = self.attempts_made.saturating_add(1);
        self.spent_ms = self.spent_ms.saturating_add(ATTEMPT_TIMEOUT_MS);
        let (failure, retry_after, answer, last) = match outcome {
            ApiOutcome::Response { status, body, .. } if (200..=299).contains(&status) => {
                return CallProgress::Finished(Ok(body));
            }
            ApiOutcome::Response {
                status,
                body,
                retry_after,
            } => {
                let error = ClerkApiError::from_response(status, &body);
                let last = error.to_string();
                (
                    AttemptFailure::Status(status),
                    retry_after,
                    Some(error),
                    last,
                )
            }
            ApiOutcome::Timeout => {
                let failure = AttemptFailure::Timeout;
                (failure, None, None, failure.to_string())
            }
            ApiOutcome::NetworkError(detail) => {
                let last = format!("network error: {}", cut(&detail));
                (AttemptFailure::Network, None, None, last)
            }
        };
        match retry_decision(
            self.attempts_made,
            self.spent_ms,
            failure,
            retry_after.as_deref(),
        ) {
            RetryDecision::Retry { delay_ms } => {
                self.spent_ms = self.spent_ms.saturating_add(delay_ms);
                CallProgress::RetryAfter(delay_ms)
            }
            RetryDecision::GiveUp(gave_up) => CallProgress::Finished(Err(match answer {
                Some(error) if gave_up == GiveUpReason::NotRetryable => CallError::Rejected(error),
                _ => CallError::Unavailable { last, gave_up },
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_follow_the_spec_paths() {
        assert_eq!(ApiRequest::jwks().path, "/v1/jwks");
        assert_eq!(ApiRequest::jwks().method, Method::Get);
        let revoke = ApiRequest::revoke_session("sess_1");
        assert_eq!(
            (revoke.method, revoke.path.as_str()),
            (Method::Post, "/v1/sessions/sess_1/revoke")
        );
        assert_eq!(ApiRequest::ban_user("user_1").path, "/v1/users/user_1/ban");
        assert_eq!(
            ApiRequest::unban_user("user_1").path,
            "/v1/users/user_1/unban"
        );
        let list = ApiRequest::list_sessions("user_1", 100, 200);
        assert_eq!(list.method, Method::Get);
        assert_eq!(list.path, "/v1/sessions");
        assert_eq!(
            request_url(DEFAULT_API_URL, &list),
            "https://api.clerk.com/v1/sessions?user_id=user_1&limit=100&offset=200"
        );
    }

    #[test]
    fn list_limit_is_clamped_to_the_spec_range() {
        let url = |limit| request_url("", &ApiRequest::list_sessions("u", limit, 0));
        assert!(url(0).contains("limit=1&"));
        assert!(url(10_000).contains("limit=500&"));
    }

    #[test]
    fn path_segments_and_query_are_percent_encoded() {
        let revoke = ApiRequest::revoke_session("a/b?c#d e%");
        assert_eq!(revoke.path, "/v1/sessions/a%2Fb%3Fc%23d%20e%25/revoke");
        let list = ApiRequest::list_sessions("u&x=1 é", 10, 0);
        assert_eq!(
            request_url("http://127.0.0.1:8787/", &list),
            "http://127.0.0.1:8787/v1/sessions?user_id=u%26x%3D1%20%C3%A9&limit=10&offset=0"
        );
        assert_eq!(encode_component("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn headers_carry_key_version_and_content_type_only_with_a_body() {
        let headers = ApiRequest::ban_user("user_1").headers("sk_test_x");
        assert!(headers.contains(&("Authorization", "Bearer sk_test_x".to_owned())));
        assert!(headers.contains(&("Clerk-API-Version", "2026-05-12".to_owned())));
        assert!(!headers.iter().any(|(name, _)| *name == "Content-Type"));
        let mut with_body = ApiRequest::ban_user("user_1");
        with_body.body = Some("{}".to_owned());
        assert!(with_body
            .headers("k")
            .contains(&("Content-Type", "application/json".to_owned())));
    }

    fn session_json(id: &str) -> String {
        format!(
            r#"{{"object":"session","id":"{id}","user_id":"user_1","client_id":"client_1","status":"active","last_active_at":1,"expire_at":2,"abandon_at":3,"updated_at":4,"created_at":5}}"#
        )
    }

    #[test]
    fn session_list_accepts_both_forms() {
        let array = format!("[{},{}]", session_json("sess_a"), session_json("sess_b"));
        let page = parse_session_list(&array).unwrap();
        assert_eq!(page.sessions.len(), 2);
        assert_eq!(page.sessions[0].id, "sess_a");
        assert_eq!(page.total_count, None);

        let object = format!(r#"{{"data":[{}],"total_count":7}}"#, session_json("sess_c"));
        let page = parse_session_list(&object).unwrap();
        assert_eq!(page.sessions[0].user_id, "user_1");
        assert_eq!(page.total_count, Some(7));

        assert_eq!(parse_session_list("[]").unwrap().sessions, vec![]);
    }

    #[test]
    fn session_list_rejects_bad_bodies_without_panicking() {
        for body in [
            "",
            "null",
            "{}",
            "[1]",
            r#"[{"id":"sess_a"}]"#,
            r#"{"data":"x"}"#,
            "<html>",
            "[",
        ] {
            let error = parse_session_list(body).unwrap_err();
            assert!(error.to_string().contains("session list"), "{body}");
        }
    }

    #[test]
    fn next_offset_uses_total_count_or_a_full_page() {
        let page = |n: usize, total| SessionPage {
            sessions: (0..n)
                .map(|i| Session {
                    id: format!("sess_{i}"),
                    user_id: "user_1".to_owned(),
                    status: "active".to_owned(),
                })
                .collect(),
            total_count: total,
        };
        assert_eq!(page(2, None).next_offset(2, 0), Some(2));
        assert_eq!(page(1, None).next_offset(2, 2), None);
        assert_eq!(page(0, None).next_offset(2, 4), None);
        assert_eq!(page(2, Some(3)).next_offset(2, 0), Some(2));
        assert_eq!(page(1, Some(3)).next_offset(2, 2), None);
        assert_eq!(page(2, Some(4)).next_offset(10, 0), Some(2));
        assert_eq!(page(0, Some(9)).next_offset(10, 0), None);
    }

    #[test]
    fn clerk_errors_shape_is_read() {
        let body = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}],"clerk_trace_id":"t1"}"#;
        let error = ClerkApiError::from_response(404, body);
        assert_eq!(error.status, 404);
        assert_eq!(error.code, "resource_not_found");
        assert_eq!(error.message, "Resource not found");
        assert_eq!(error.trace_id.as_deref(), Some("t1"));
        assert_eq!(
            error.to_string(),
            "Clerk answered 404 resource_not_found: Resource not found"
        );
        let short = ClerkApiError::from_response(
            400,
            r#"{"errors":[{"message":"bad","long_message":"","code":"x"}]}"#,
        );
        assert_eq!(short.message, "bad");
    }

    #[test]
    fn non_clerk_error_bodies_still_give_an_error() {
        for body in ["", "<html>bad gateway</html>", r#"{"errors":[]}"#, "[]"] {
            let error = ClerkApiError::from_response(502, body);
            assert_eq!(error.status, 502);
            assert_eq!(error.code, "unexpected_error_body");
        }
        let long = format!(
            r#"{{"errors":[{{"message":"m","long_message":"{}","code":"c"}}]}}"#,
            "x".repeat(5_000)
        );
        assert_eq!(
            ClerkApiError::from_response(400, &long)
                .message
                .chars()
                .count(),
            MAX_ERROR_TEXT_CHARS
        );
    }

    #[test]
    fn retry_policy_table() {
        use AttemptFailure::*;
        use GiveUpReason::*;
        use RetryDecision::*;
        let t = ATTEMPT_TIMEOUT_MS;
        let cases: &[(u32, u64, AttemptFailure, Option<&str>, RetryDecision)] = &[
            // 429 honours integer Retry-After, falls back to backoff otherwise.
            (1, t, Status(429), Some("1"), Retry { delay_ms: 1_000 }),
            (1, t, Status(429), Some(" 2 "), Retry { delay_ms: 2_000 }),
            (1, t, Status(429), Some("0"), Retry { delay_ms: 0 }),
            (1, t, Status(429), None, Retry { delay_ms: 250 }),
            (
                1,
                t,
                Status(429),
                Some("Wed, 21 Oct 2015 07:28:00 GMT"),
                Retry { delay_ms: 250 },
            ),
            (1, t, Status(429), Some("-1"), Retry { delay_ms: 250 }),
            (1, t, Status(429), Some("1.5"), Retry { delay_ms: 250 }),
            (
                1,
                t,
                Status(429),
                Some("30"),
                GiveUp(RetryAfterTooLong { seconds: 30 }),
            ),
            (
                1,
                t,
                Status(429),
                Some("99999999999999999999"),
                Retry { delay_ms: 250 },
            ),
            // 5xx, timeouts, network errors: exponential backoff.
            (1, t, Status(500), None, Retry { delay_ms: 250 }),
            (2, 2 * t + 250, Status(503), None, Retry { delay_ms: 500 }),
            (1, t, Status(503), Some("1"), Retry { delay_ms: 1_000 }),
            (1, t, Timeout, None, Retry { delay_ms: 250 }),
            (1, t, Timeout, Some("1"), Retry { delay_ms: 250 }),
            (2, 2 * t + 250, Network, None, Retry { delay_ms: 500 }),
            (3, 3 * t + 750, Status(502), None, GiveUp(AttemptsExhausted)),
            (3, 3 * t, Timeout, None, GiveUp(AttemptsExhausted)),
            // Never retried.
            (1, t, Status(400), None, GiveUp(NotRetryable)),
            (1, t, Status(401), None, GiveUp(NotRetryable)),
            (1, t, Status(404), Some("1"), GiveUp(NotRetryable)),
            (1, t, Status(408), None, GiveUp(NotRetryable)),
            (1, t, Status(422), None, GiveUp(NotRetryable)),
            (1, t, Status(200), None, GiveUp(NotRetryable)),
            // Budget: a further attempt must fit.
            (
                2,
                2 * t + 2_000,
                Status(429),
                Some("2"),
                GiveUp(BudgetExhausted),
            ),
            (1, 4_000, Status(500), None, GiveUp(BudgetExhausted)),
        ];
        for (attempts, spent, failure, retry_after, expected) in cases {
            assert_eq!(
                retry_decision(*attempts, *spent, *failure, *retry_after),
                *expected,
                "attempts={attempts} spent={spent} {failure:?} {retry_after:?}"
            );
        }
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff_ms(0), 250);
        assert_eq!(backoff_ms(3), 1_000);
        assert_eq!(backoff_ms(4), 2_000);
        assert_eq!(backoff_ms(u32::MAX), MAX_RETRY_DELAY_MS);
    }

    #[test]
    fn retry_after_as_an_http_date_becomes_seconds() {
        let date = |v: &str| Some(v.to_owned());
        let now = crate::http_date::parse_http_date_millis("Wed, 02 Dec 2026 04:30:00 GMT");
        // Counted from the answer's own Date header, whatever the edge's clock says.
        assert_eq!(
            resolve_retry_after(
                date("Wed, 02 Dec 2026 04:30:07 GMT"),
                Some("Wed, 02 Dec 2026 04:30:00 GMT"),
                Some(0),
            ),
            date("7")
        );
        // Without a Date header: from the adapter's clock, rounded up.
        assert_eq!(
            resolve_retry_after(
                date("Wed, 02 Dec 2026 04:30:07 GMT"),
                None,
                now.map(|ms| ms + 500)
            ),
            date("7")
        );
        // A date already past: retry at once. The obsolete forms count too.
        assert_eq!(
            resolve_retry_after(date("Sun, 06 Nov 1994 08:49:37 GMT"), None, now),
            date("0")
        );
        assert_eq!(
            resolve_retry_after(date("Wed Dec  2 04:31:00 2026"), None, now),
            date("60")
        );
        // Seconds, garbage and no reference are kept as they are.
        assert_eq!(resolve_retry_after(date("12"), None, now), date("12"));
        assert_eq!(resolve_retry_after(date("soon"), None, now), date("soon"));
        let undated = date("Wed, 02 Dec 2026 04:30:07 GMT");
        assert_eq!(resolve_retry_after(undated.clone(), None, None), undated);
        assert_eq!(resolve_retry_after(None, None, now), None);

        // What the JavaScript adapters hand over reaches the retry policy as seconds.
        let outcome = ApiOutcome::from_json(&serde_json::json!({
            "status": 429, "body": "", "retry_after": "Wed, 02 Dec 2026 04:30:02 GMT",
            "date": "Wed, 02 Dec 2026 04:30:00 GMT", "received_at": 1.0,
        }));
        let ApiOutcome::Response { retry_after, .. } = &outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(retry_after.as_deref(), Some("2"));
        let mut call = ApiCall::new(ApiRequest::revoke_session("sess_1"));
        assert_eq!(call.on_outcome(outcome), CallProgress::RetryAfter(2_000));
    }

    fn answer(status: u16, body: &str, retry_after: Option<&str>) -> ApiOutcome {
        ApiOutcome::Response {
            status,
            body: body.to_owned(),
            retry_after: retry_after.map(str::to_owned),
        }
    }

    #[test]
    fn api_call_retries_429_then_succeeds() {
        let mut call = ApiCall::new(ApiRequest::jwks());
        assert_eq!(
            call.on_outcome(answer(429, "{}", Some("1"))),
            CallProgress::RetryAfter(1_000)
        );
        assert_eq!(
            call.on_outcome(answer(200, "{\"keys\":[]}", None)),
            CallProgress::Finished(Ok("{\"keys\":[]}".to_owned()))
        );
    }

    #[test]
    fn api_call_wall_time_never_exceeds_the_budget() {
        let mut call = ApiCall::new(ApiRequest::jwks());
        let mut waited = 0;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match call.on_outcome(ApiOutcome::Timeout) {
                CallProgress::RetryAfter(delay) => waited += delay,
                CallProgress::Finished(result) => {
                    let error = result.unwrap_err();
                    assert!(error.is_unavailable());
                    assert!(error.to_string().contains("unreachable"), "{error}");
                    break;
                }
            }
        }
        assert!(attempts <= MAX_ATTEMPTS);
        assert!(u64::from(attempts) * ATTEMPT_TIMEOUT_MS + waited <= CALL_BUDGET_MS);
    }

    #[test]
    fn api_call_final_errors_are_classified() {
        let mut call = ApiCall::new(ApiRequest::revoke_session("sess_x"));
        let not_found = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}]}"#;
        let CallProgress::Finished(Err(error)) = call.on_outcome(answer(404, not_found, None))
        else {
            panic!("404 is final")
        };
        assert!(matches!(&error, CallError::Rejected(e) if e.code == "resource_not_found"));
        assert!(!error.halts_further_calls());

        let mut call = ApiCall::new(ApiRequest::jwks());
        let CallProgress::Finished(Err(error)) = call.on_outcome(answer(401, "", None)) else {
            panic!("401 is final")
        };
        assert!(error.halts_further_calls());
        assert!(error.to_string().contains("CLERK_SECRET_KEY"));

        let mut call = ApiCall::new(ApiRequest::jwks());
        let CallProgress::Finished(Err(error)) = call.on_outcome(answer(429, "", Some("120")))
        else {
            panic!("a long Retry-After is final")
        };
        // Clerk answered: rate limiting, not unreachable; still no point in further calls.
        assert!(!error.is_unavailable());
        assert!(error.halts_further_calls());
        assert!(error.to_string().contains("rate-limiting"), "{error}");
        assert!(error.to_string().contains("120 s"), "{error}");

        let mut call = ApiCall::new(ApiRequest::jwks());
        let mut last = call.on_outcome(ApiOutcome::NetworkError("reset".to_owned()));
        while let CallProgress::RetryAfter(_) = last {
            last = call.on_outcome(ApiOutcome::NetworkError("reset".to_owned()));
        }
        let CallProgress::Finished(Err(error)) = last else {
            panic!("network errors end")
        };
        assert!(
            error.to_string().contains("network error: reset"),
            "{error}"
        );
    }
}
