//! The diagnosis of `GET /__clerk/admin/diagnose`, sans-IO: the adapters time one attempt of
//! each probe (Backend API, JWKS, Clerk's status page, the deny-list store, D1) and hand
//! over what they saw as [`Facts`]; [`diagnose`] judges each check against the runbook's
//! thresholds, says what to do about it, and gives the JSON answer, the text answer of
//! `?format=text` and the `admin.diagnose` audit line.
//!
//! Nothing here holds a value of a variable, a header or a body beyond what it parses out
//! of it: variable names and problem texts, statuses, counts and times only. The status
//! page's own description is cut and cleaned like any text from outside.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use crate::audit::{clean_text, AuditEvent, Level};
use crate::auth::keys;
use crate::clerk_api::{
    parse_retry_after_seconds, resolve_retry_after, ApiOutcome, ATTEMPT_TIMEOUT_MS,
};
use crate::config::{Config, Impact, KeyConfig, VARIABLES};
use crate::diagnose::live::LiveSummary;
use crate::diagnose::memory::IsolateMemory;
use crate::health::health_report;
use crate::rfc3339::format_millis;

/// Path of the route.
pub const DIAGNOSE_PATH: &str = "/__clerk/admin/diagnose";
/// The deny-list key the store probe reads: never written, so the read measures a miss.
pub const ABSENT_KEY: &str = "diagnose:absent";
/// The runbook's threshold for the edge's own auth work: a p95 above it warns.
pub const AUTH_P95_WARN_US: u64 = 100_000;
/// The runbook's threshold for a Backend API (or JWKS) answer: slower warns.
pub const API_WARN_MS: u64 = 500;
/// A deny-list read slower than this warns: it sits on the path of signed-in requests.
pub const DENY_LIST_WARN_MS: u64 = 100;
/// A D1 query slower than this warns (webhooks and the admin jobs wait on it).
pub const D1_WARN_MS: u64 = 500;
/// How long the status page may take before it counts as unreachable.
pub const STATUS_TIMEOUT_MS: u64 = 2_000;
/// The Backend API request of the probe: the cheapest authenticated read.
pub const BACKEND_PROBE: &str = "GET /v1/users?limit=1";
/// Response headers the Backend API probe reads (reported as numbers only): Clerk documents
/// `Retry-After` on 429s (`Date` reads one given as an HTTP date); the `X-RateLimit-*` trio is
/// reported when present.
pub const RATE_LIMIT_HEADERS: [&str; 5] = [
    "retry-after",
    "date",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];
/// The advice when Clerk answers 401/403 to the secret key.
const KEY_REFUSED: &str = "Clerk refused CLERK_SECRET_KEY: copy this instance's Secret key \
                           from the Clerk dashboard, and check CLERK_API_URL";

/// Longest text kept from the status page's own description.
const MAX_STATUS_TEXT_CHARS: usize = 120;

/// Whether the query string (without `?`) asks for the text answer: `format=text`.
pub fn wants_text(query: &str) -> bool {
    query.split('&').any(|pair| pair == "format=text")
}

/// The verdict of one check, and of the whole diagnosis (the worst of its checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Not run here (not configured, or nothing to judge yet).
    Skipped,
    /// Works and within the thresholds.
    Ok,
    /// Works, but slow or degraded: read the advice.
    Warn,
    /// Broken: requests or routes fail because of it.
    Fail,
}

impl Verdict {
    /// `ok`, `warn`, `fail` or `skipped`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Skipped => "skipped",
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status.
    Http(u16),
    /// A storage operation that succeeded.
    Done,
    /// No answer within the probe's timeout.
    Timeout,
    /// The connection or the operation failed: a kind (`connection failed`, `kv`), never a
    /// runtime's error text (it could quote a URL).
    Failed(&'static str),
}

impl Outcome {
    /// How an HTTP attempt ended, from what the adapter saw.
    pub fn of_api(outcome: &ApiOutcome) -> Self {
        match outcome {
            ApiOutcome::Response { status, .. } => Self::Http(*status),
            ApiOutcome::Timeout => Self::Timeout,
            ApiOutcome::NetworkError(_) => Self::Failed("connection failed"),
        }
    }
}

/// One probe: not run, or one timed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Not run: what is missing (a variable or a binding), said as advice.
    NotConfigured(&'static str),
    /// Run once: how long it took and how it ended.
    Ran {
        /// Milliseconds from sending to the answer (or the failure).
        took_ms: u64,
        /// How it ended.
        outcome: Outcome,
    },
}

impl Probe {
    /// A run attempt.
    pub fn ran(took_ms: u64, outcome: Outcome) -> Self {
        Self::Ran { took_ms, outcome }
    }

    /// An attempt timed by two clock readings (a clock that went back counts as 0 ms).
    pub fn between(started_ms: i64, ended_ms: i64, outcome: Outcome) -> Self {
        let took_ms = u64::try_from(ended_ms.saturating_sub(started_ms)).unwrap_or(0);
        Self::ran(took_ms, outcome)
    }

    fn took_ms(&self) -> Option<u64> {
        match self {
            Self::Ran { took_ms, .. } => Some(*took_ms),
            Self::NotConfigured(_) => None,
        }
    }
}

/// What the JWKS probe (`GET /v1/jwks`, one attempt, the cache left alone) saw.
#[derive(Debug, Clone)]
pub struct JwksFacts {
    /// The attempt.
    pub probe: Probe,
    /// The number of usable keys in a 2xx answer, or why the answer is not a key set.
    pub keys: Option<Result<usize, String>>,
    /// Whether this isolate still holds keys from an earlier fetch.
    pub cached_keys: bool,
}

impl JwksFacts {
    /// The facts of an attempt: `body` is the answer's body when it was a 2xx.
    pub fn new(probe: Probe, body: Option<&str>, cached_keys: bool) -> Self {
        let keys = body.map(|body| match keys::parse_jwks(body.as_bytes()) {
            Ok(keys) => Ok(keys.len()),
            Err(error) => Err(error.to_string()),
        });
        Self {
            probe,
            keys,
            cached_keys,
        }
    }
}

/// The rate-limit headers of the Backend API's answer, as numbers (anything else is dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `Retry-After` in seconds.
    pub retry_after: Option<u64>,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`.
    pub reset: Option<u64>,
}

impl RateLimit {
    /// Reads the headers of [`RATE_LIMIT_HEADERS`] through `header` (a lower-case name);
    /// `received_at_ms` counts a `Retry-After` date when the answer has no `Date`.
    pub fn from_headers<'a>(
        header: impl Fn(&str) -> Option<&'a str>,
        received_at_ms: Option<i64>,
    ) -> Self {
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
        let retry_after = resolve_retry_after(
            header("retry-after").map(str::to_owned),
            header("date"),
            received_at_ms,
        );
        Self {
            retry_after: retry_after.as_deref().and_then(parse_retry_after_seconds),
            limit: number("x-ratelimit-limit"),
            remaining: number("x-ratelimit-remaining"),
            reset: number("x-ratelimit-reset"),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "retry_after": self.retry_after,
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
        })
    }
}

/// What the status page said: Statuspage's `{"status": {"indicator", "description"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStatus {
    /// `none`, `minor`, `major`, `critical`, `maintenance` (or what the page says).
    pub indicator: Option<String>,
    /// e.g. `All Systems Operational`, cut and cleaned.
    pub description: Option<String>,
}

impl PageStatus {
    /// Reads a status page answer tolerantly; `None` when it is not JSON with a `status`
    /// object (or a `status` text).
    pub fn parse(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        let text = |v: Option<&Value>| {
            v.and_then(Value::as_str)
                .map(|t| clean_text(t, MAX_STATUS_TEXT_CHARS))
        };
        let status = value.get("status")?;
        let page = match status {
            Value::Object(_) => Self {
                indicator: text(status.get("indicator")).map(|t| t.to_ascii_lowercase()),
                description: text(status.get("description")),
            },
            Value::String(_) => Self {
                indicator: text(Some(status)).map(|t| t.to_ascii_lowercase()),
                description: text(value.get("description")),
            },
            _ => return None,
        };
        (page.indicator.is_some() || page.description.is_some()).then_some(page)
    }
}

/// What the status page probe saw.
#[derive(Debug, Clone)]
pub struct StatusFacts {
    /// The attempt (at most [`STATUS_TIMEOUT_MS`]).
    pub probe: Probe,
    /// The page's own verdict, when a 2xx answer could be read.
    pub page: Option<PageStatus>,
}

impl StatusFacts {
    /// The facts of an attempt: `body` is the answer's body when it was a 2xx.
    pub fn new(probe: Probe, body: Option<&str>) -> Self {
        Self {
            probe,
            page: body.and_then(PageStatus::parse),
        }
    }
}

/// Everything the adapters measured.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `GET /v1/jwks`; `None` when the keys do not come from a JWKS.
    pub jwks: Option<JwksFacts>,
    /// [`BACKEND_PROBE`] and its rate-limit headers.
    pub backend: (Probe, RateLimit),
    /// Clerk's status page.
    pub status_page: StatusFacts,
    /// One read of an absent deny-list key, and where the deny-list lives (`KV CLERK_EDGE`,
    /// `store`).
    pub deny_list: (Probe, &'static str),
    /// `SELECT 1` on D1; `None` where the runtime has no D1 (pkg-js).
    pub d1: Option<Probe>,
    /// The isolate's record of live decisions; `None` where this runtime sees no protected
    /// traffic (a pkg-js route handler: the middleware has its own).
    pub live: Option<LiveSummary>,
    /// Whether this isolate's last JWKS refresh failed.
    pub jwks_refresh_failing: bool,
    /// The isolate's wasm memory and cache fill; `None` where the adapter cannot read them.
    pub memory: Option<IsolateMemory>,
}

/// One check of the diagnosis.
#[derive(Debug, Clone)]
pub struct Check {
    /// `configuration`, `keys`, `backend_api`, `status_page`, `deny_list`, `d1`,
    /// `auth_live`, `state`.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// How long the probe took, when one ran.
    pub took_ms: Option<u64>,
    /// The facts in one line.
    pub summary: String,
    /// The facts as JSON fields (merged into the check's object).
    pub facts: Map<String, Value>,
    /// What to do, for anything but `ok`.
    pub advice: Option<String>,
}

impl Check {
    fn new(name: &'static str, verdict: Verdict, summary: impl Into<String>) -> Self {
        Self {
            name,
            verdict,
            took_ms: None,
            summary: summary.into(),
            facts: Map::new(),
            advice: None,
        }
    }

    fn took(mut self, took_ms: Option<u64>) -> Self {
        self.took_ms = took_ms;
        self
    }

    fn fact(mut self, name: &str, value: Value) -> Self {
        self.facts.insert(name.to_owned(), value);
        self
    }

    fn advice(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.into());
        out.insert("verdict".into(), self.verdict.name().into());
        out.insert("took_ms".into(), self.took_ms.into());
        out.insert("summary".into(), self.summary.clone().into());
        for (name, value) in &self.facts {
            out.insert(name.clone(), value.clone());
        }
        out.insert("advice".into(), self.advice.clone().into());
        Value::Object(out)
    }
}

/// The whole diagnosis.
#[derive(Debug, Clone)]
pub struct Diagnosis {
    /// The worst verdict of the checks.
    pub overall: Verdict,
    /// Every check, in a fixed order.
    pub checks: Vec<Check>,
    /// When it was made.
    pub at_ms: i64,
}

/// Judges the measured facts.
pub fn diagnose(config: &Config, facts: &Facts, now_ms: i64) -> Diagnosis {
    let mut checks = vec![
        configuration(config),
        keys_check(config, facts.jwks.as_ref()),
    ];
    checks.push(backend(&facts.backend.0, &facts.backend.1));
    checks.push(status_page(config, &facts.status_page));
    checks.push(storage(
        "deny_list",
        &facts.deny_list.0,
        facts.deny_list.1,
        DENY_LIST_WARN_MS,
    ));
    if let Some(d1) = &facts.d1 {
        checks.push(storage("d1", d1, "D1 CLERK_DB", D1_WARN_MS));
    }
    checks.push(live(facts.live.as_ref()));
    checks.push(state(
        config,
        facts.jwks_refresh_failing,
        facts.memory.as_ref(),
        now_ms,
    ));
    let overall = checks
        .iter()
        .map(|check| check.verdict)
        .max()
        .unwrap_or(Verdict::Ok)
        .max(Verdict::Ok);
    Diagnosis {
        overall,
        checks,
        at_ms: now_ms,
    }
}

fn configuration(config: &Config) -> Check {
    let mut variables = Vec::with_capacity(VARIABLES.len());
    let mut invalid = Vec::new();
    for name in VARIABLES {
        let problem = config.problems.iter().find(|p| p.variable == *name);
        let state = match problem {
            Some(_) => "invalid",
            None if config.set_variables.contains(name) => "set",
            None => "unset",
        };
        let mut entry = json!({ "name": name, "state": state });
        if let Some(problem) = problem {
            entry["problem"] = problem.problem.as_str().into();
            invalid.push(format!("{name} {}", problem.problem));
        }
        variables.push(entry);
    }
    // A missing key is reported under CLERK_JWT_KEY, which may be unset: still invalid.
    let set = config.set_variables.len();
    let summary = format!(
        "{set} set, {} unset, {} invalid",
        VARIABLES.len().saturating_sub(set),
        config.problems.len()
    );
    let verdict = if config.has_problems(Impact::Auth) {
        Verdict::Fail
    } else if config.problems.is_empty() {
        Verdict::Ok
    } else {
        Verdict::Warn
    };
    let check = Check::new("configuration", verdict, summary).fact("variables", variables.into());
    match verdict {
        Verdict::Ok => check,
        Verdict::Fail => check.advice(format!(
            "protected requests answer 500 misconfigured until these are fixed: {}",
            invalid.join("; ")
        )),
        _ => check.advice(format!(
            "fix these (token checking works; the bypass, webhook, admin routes or this \
             diagnosis are affected): {}",
            invalid.join("; ")
        )),
    }
}

fn keys_check(config: &Config, jwks: Option<&JwksFacts>) -> Check {
    match (&config.keys, jwks) {
        (KeyConfig::Pem(_), _) => Check::new("keys", Verdict::Ok, "pem: CLERK_JWT_KEY parsed")
            .fact("source", "pem".into()),
        (KeyConfig::None, _) => Check::new("keys", Verdict::Fail, "no verification key")
            .fact("source", Value::Null)
            .advice(
                "set CLERK_JWT_KEY (PEM public key, no network) or CLERK_SECRET_KEY (JWKS): \
                 every protected request fails closed until then",
            ),
        (KeyConfig::Jwks, None) => {
            Check::new("keys", Verdict::Skipped, "jwks: not fetched").fact("source", "jwks".into())
        }
        (KeyConfig::Jwks, Some(facts)) => jwks_check(facts),
    }
}

fn jwks_check(facts: &JwksFacts) -> Check {
    let took = facts.probe.took_ms();
    let base = |verdict, summary: String| {
        Check::new("keys", verdict, summary)
            .took(took)
            .fact("source", "jwks".into())
            .fact("cached_keys", facts.cached_keys.into())
    };
    let unreachable = |why: String| {
        if facts.cached_keys {
            base(
                Verdict::Warn,
                format!("jwks: {why}; this isolate still has keys"),
            )
            .advice(
                "cached keys still verify here, new isolates cannot: check Clerk's status \
                 page; if it lasts, set CLERK_JWT_KEY (PEM, no network) or runbook 1",
            )
        } else {
            base(Verdict::Fail, format!("jwks: {why}; no key cached")).advice(
                "no token can be verified here: set CLERK_JWT_KEY (PEM, no network), or \
                 runbook 1 (only `open` helps without keys)",
            )
        }
    };
    match (&facts.probe, &facts.keys) {
        (Probe::NotConfigured(what), _) => base(Verdict::Skipped, "jwks: not fetched".into())
            .advice(format!("{what}: set it to fetch the JWKS")),
        (Probe::Ran { took_ms, .. }, Some(Ok(count))) => {
            let summary = format!("jwks: {count} key(s)");
            let check = base(Verdict::Ok, summary).fact("kids", (*count).into());
            if *took_ms > API_WARN_MS {
                Check {
                    verdict: Verdict::Warn,
                    ..check
                }
                .advice(format!(
                    "the JWKS took {took_ms} ms (> {API_WARN_MS} ms): requests that need a \
                     fetch (a cold isolate, a key rotation) wait that long; check Clerk's \
                     status page, or set CLERK_JWT_KEY to verify with no network"
                ))
            } else {
                check
            }
        }
        (Probe::Ran { .. }, Some(Err(why))) => {
            unreachable(format!("answer is not a usable key set ({why})"))
        }
        (
            Probe::Ran {
                outcome: Outcome::Http(status @ (401 | 403)),
                ..
            },
            None,
        ) => base(Verdict::Fail, format!("jwks: HTTP {status}")).advice(KEY_REFUSED),
        (Probe::Ran { outcome, .. }, None) => unreachable(outcome_text(outcome)),
    }
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Http(status) => format!("HTTP {status}"),
        Outcome::Done => "done".to_owned(),
        Outcome::Timeout => format!("no answer within {ATTEMPT_TIMEOUT_MS} ms"),
        Outcome::Failed(kind) => (*kind).to_owned(),
    }
}

fn backend(probe: &Probe, rate_limit: &RateLimit) -> Check {
    let (took_ms, outcome) = match probe {
        Probe::NotConfigured(what) => {
            return Check::new("backend_api", Verdict::Skipped, "not called").advice(format!(
                "{what}: revoke, restore, resync, handshakes and the JWKS need the Backend API"
            ))
        }
        Probe::Ran { took_ms, outcome } => (*took_ms, outcome),
    };
    let mut summary = format!("{BACKEND_PROBE} -> {}", outcome_text(outcome));
    if let Some(remaining) = rate_limit.remaining {
        let _ = write!(summary, "; rate limit: {remaining} left");
        if let Some(limit) = rate_limit.limit {
            let _ = write!(summary, " of {limit}");
        }
    }
    let check = |verdict| {
        let status = match outcome {
            Outcome::Http(status) => Value::from(*status),
            _ => Value::Null,
        };
        Check::new("backend_api", verdict, summary.clone())
            .took(Some(took_ms))
            .fact("request", BACKEND_PROBE.into())
            .fact("status", status)
            .fact("rate_limit", rate_limit.to_json())
    };
    match outcome {
        Outcome::Http(200..=299) if took_ms > API_WARN_MS => check(Verdict::Warn).advice(format!(
            "Clerk's Backend API took {took_ms} ms (> {API_WARN_MS} ms): admin calls, \
             handshakes and JWKS refreshes wait as long; check Clerk's status page, diagnose \
             again, hold back resyncs"
        )),
        Outcome::Http(200..=299) => check(Verdict::Ok),
        Outcome::Http(401 | 403) => check(Verdict::Fail).advice(KEY_REFUSED),
        Outcome::Http(429) => {
            let wait = rate_limit
                .retry_after
                .map_or_else(String::new, |s| format!(" (Retry-After {s} s)"));
            check(Verdict::Warn).advice(format!(
                "Clerk is rate-limiting this key{wait}: pause resyncs and scripts using \
                 CLERK_SECRET_KEY, then diagnose again"
            ))
        }
        Outcome::Http(500..=599) | Outcome::Timeout | Outcome::Failed(_) => check(Verdict::Fail)
            .advice(
                "the Backend API fails: check Clerk's status page; cached or PEM keys keep \
                 verifying; if tokens cannot be verified, runbook 1",
            ),
        Outcome::Http(_) | Outcome::Done => check(Verdict::Warn).advice(
            "an unexpected answer: check CLERK_API_URL points at the Backend API \
             (https://api.clerk.com)",
        ),
    }
}

fn status_page(config: &Config, facts: &StatusFacts) -> Check {
    let (took_ms, outcome) = match &facts.probe {
        Probe::NotConfigured(what) => {
            return Check::new("status_page", Verdict::Skipped, "not read")
                .advice(format!("{what}: fix it to read Clerk's status page"))
        }
        Probe::Ran { took_ms, outcome } => (*took_ms, outcome),
    };
    let url = config.status_url.as_deref().unwrap_or_default();
    // The URL is the page's address (a default or an operator's), not a secret; its query
    // string is dropped anyway.
    let url = url.split(['?', '#']).next().unwrap_or_default();
    let base = |verdict, summary: String| {
        Check::new("status_page", verdict, summary)
            .took(Some(took_ms))
            .fact("url", url.into())
    };
    let unreachable = |why: String| {
        base(Verdict::Warn, format!("unreachable ({why})"))
            .fact("reachable", false.into())
            .advice(
                "the status page could not be read from here (never fatal): open \
                 https://status.clerk.com in a browser, and check CLERK_STATUS_URL if it is set",
            )
    };
    match (outcome, &facts.page) {
        (Outcome::Http(200..=299), Some(page)) => {
            let indicator = page.indicator.as_deref().unwrap_or("unknown");
            let description = page.description.as_deref().unwrap_or(indicator);
            let verdict = match indicator {
                "none" | "operational" => Verdict::Ok,
                "major" | "critical" | "major_outage" => Verdict::Fail,
                _ => Verdict::Warn,
            };
            let check = base(verdict, format!("Clerk says: {description}"))
                .fact("reachable", true.into())
                .fact("indicator", indicator.into())
                .fact("description", description.into());
            match verdict {
                Verdict::Ok => check,
                _ => check.advice(
                    "Clerk reports an incident: read https://status.clerk.com; if sign-ins or \
                     token checks fail, runbook 1 (grace bypass), and diagnose again",
                ),
            }
        }
        (Outcome::Http(200..=299), None) => base(
            Verdict::Warn,
            "answered, but not with a status summary".into(),
        )
        .fact("reachable", true.into())
        .advice(
            "CLERK_STATUS_URL should name a Statuspage JSON summary such as \
                 https://status.clerk.com/api/v2/status.json",
        ),
        (Outcome::Timeout, _) => unreachable(format!("no answer within {STATUS_TIMEOUT_MS} ms")),
        (other, _) => unreachable(outcome_text(other)),
    }
}

fn storage(name: &'static str, probe: &Probe, what: &'static str, warn_ms: u64) -> Check {
    match probe {
        Probe::NotConfigured(missing) => {
            let verdict = if name == "deny_list" {
                Verdict::Fail
            } else {
                Verdict::Warn
            };
            Check::new(name, verdict, format!("{what}: not configured")).advice(format!(
                "{missing}: add the binding to wrangler.toml ({})",
                if name == "deny_list" {
                    "signed-in requests fail closed without the deny-list"
                } else {
                    "webhooks, resync and export need it"
                }
            ))
        }
        Probe::Ran { took_ms, outcome } => {
            let took = Some(*took_ms);
            match outcome {
                Outcome::Done | Outcome::Http(200..=299) if *took_ms > warn_ms => {
                    Check::new(name, Verdict::Warn, format!("{what}: slow"))
                        .took(took)
                        .advice(format!(
                    "{what} took {took_ms} ms (> {warn_ms} ms): check the platform's status; \
                     diagnose again to tell a cold read from a trend"
                ))
                }
                Outcome::Done | Outcome::Http(200..=299) => {
                    Check::new(name, Verdict::Ok, format!("{what}: answered")).took(took)
                }
                other => Check::new(
                    name,
                    Verdict::Fail,
                    format!("{what}: failed ({})", outcome_text(other)),
                )
                .took(took)
                .advice(if name == "deny_list" {
                    "deny-list reads fail: signed-in requests answer 500 (fail closed); check the \
                     binding or store and the platform's status"
                } else {
                    "D1 fails: webhooks answer 500 (Svix retries) and the admin jobs stop; check \
                     the binding, the migrations and the platform's status"
                }),
            }
        }
    }
}

fn live(summary: Option<&LiveSummary>) -> Check {
    let Some(summary) = summary else {
        return Check::new(
            "auth_live",
            Verdict::Skipped,
            "this runtime does not see protected traffic",
        )
        .advice(
            "ask the middleware's own GET /__clerk/admin/diagnose: only it records live \
             decisions",
        );
    };
    // Milliseconds with one decimal, from whole microseconds.
    let ms = |us: Option<u64>| {
        us.map_or_else(
            || "-".to_owned(),
            |us| format!("{}.{}", us / 1000, us % 1000 / 100),
        )
    };
    let facts = summary.to_json();
    let ratio = match summary.cache_lookups {
        0 => "-".to_owned(),
        lookups => format!("{}%", summary.cache_hits.saturating_mul(100) / lookups),
    };
    let text = if summary.decisions == 0 {
        "no decisions yet in this isolate".to_owned()
    } else {
        format!(
            "{} decisions, p50 {} ms, p95 {} ms, max {} ms, cache hits {ratio}",
            summary.decisions,
            ms(summary.p50_us),
            ms(summary.p95_us),
            ms(summary.max_us)
        )
    };
    let check =
        |verdict| Check::new("auth_live", verdict, text.clone()).fact("live", facts.clone());
    match summary.p95_us {
        None => check(Verdict::Skipped).advice(
            "no protected request reached this isolate yet: send some, then diagnose again",
        ),
        Some(p95) if p95 > AUTH_P95_WARN_US => check(Verdict::Warn).advice(format!(
            "auth checks are slow here (p95 {} ms > {} ms): look at the keys (JWKS fetches on the \
             request path) and deny_list checks; a low cache hit ratio means many distinct tokens",
            p95 / 1000,
            AUTH_P95_WARN_US / 1000
        )),
        Some(_) => check(Verdict::Ok),
    }
}

fn state(
    config: &Config,
    jwks_refresh_failing: bool,
    memory: Option<&IsolateMemory>,
    now_ms: i64,
) -> Check {
    let health = health_report(config, jwks_refresh_failing, now_ms);
    let mode = health["bypass"]["mode"].as_str().unwrap_or("off");
    let paused = config.webhooks_paused;
    let handshake = health["handshake"]["status"].as_str().unwrap_or("off");
    let mut summary = format!(
        "bypass {mode}; webhooks {}; handshake {handshake}",
        if paused { "paused" } else { "running" }
    );
    let over_cap = memory.map(IsolateMemory::over_cap).unwrap_or_default();
    if let Some(memory) = memory {
        summary.push_str("; ");
        summary.push_str(&memory.summary());
    }
    let mut bypass = health["bypass"].clone();
    bypass["paths_scoped"] = (!config.bypass.paths.is_empty()).into();
    bypass["never_bypass_set"] = (!config.bypass.never.is_empty()).into();
    let verdict = if mode != "off" || paused || !over_cap.is_empty() {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    let check = Check::new("state", verdict, summary)
        .fact("health", health["status"].clone())
        .fact("bypass", bypass)
        .fact("webhooks", health["webhooks"].clone())
        .fact("handshake", health["handshake"].clone())
        .fact("memory", memory.map_or(Value::Null, IsolateMemory::to_json));
    let mut advice: Vec<String> = Vec::new();
    if !over_cap.is_empty() {
        advice.push(format!(
            "cache(s) over their cap: {} (a bound is broken and this isolate's memory can grow \
             without limit): report it as a bug with this diagnosis; a redeploy starts fresh \
             isolates meanwhile",
            over_cap.join(", ")
        ));
    }
    if mode != "off" {
        advice.push(
            "the emergency bypass is on: turn it off once Clerk works (wrangler secret delete \
             CLERK_EMERGENCY_BYPASS), then check health"
                .to_owned(),
        );
    }
    if paused {
        advice.push(
            "webhook processing is paused: Svix keeps the deliveries; resume with wrangler \
             secret delete CLERK_WEBHOOKS_PAUSED (runbook 4)"
                .to_owned(),
        );
    }
    if advice.is_empty() {
        check
    } else {
        check.advice(advice.join("; "))
    }
}

impl Diagnosis {
    /// The JSON answer.
    pub fn to_json(&self) -> Value {
        json!({
            "overall": self.overall.name(),
            "at": format_millis(self.at_ms),
            "version": env!("CARGO_PKG_VERSION"),
            "thresholds": {
                "auth_p95_ms": AUTH_P95_WARN_US / 1000,
                "api_ms": API_WARN_MS,
                "deny_list_ms": DENY_LIST_WARN_MS,
                "d1_ms": D1_WARN_MS,
                "status_page_timeout_ms": STATUS_TIMEOUT_MS,
            },
            "checks": self.checks.iter().map(Check::to_json).collect::<Vec<_>>(),
        })
    }

    /// The `?format=text` answer: a heading, then one aligned line per check and its advice
    /// on the next line.
    pub fn to_text(&self) -> String {
        let shout = |v: Verdict| match v {
            Verdict::Warn | Verdict::Fail => v.name().to_ascii_uppercase(),
            _ => v.name().to_owned(),
        };
        let mut out = format!(
            "clerk-edge-guard {} diagnose at {}: {}\n\n{:<14} {:<8} {:>8}  {}\n",
            env!("CARGO_PKG_VERSION"),
            format_millis(self.at_ms),
            shout(self.overall),
            "CHECK",
            "VERDICT",
            "TOOK",
            "FACTS"
        );
        for check in &self.checks {
            let took = check
                .took_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
            let _ = writeln!(
                out,
                "{:<14} {:<8} {:>8}  {}",
                check.name,
                shout(check.verdict),
                took,
                check.summary
            );
            if let Some(advice) = &check.advice {
                let _ = writeln!(out, "{:<14} -> {advice}", "");
            }
        }
        out
    }

    /// The `admin.diagnose` audit line's event: the overall and per-check verdicts.
    pub fn audit_event(&self) -> AuditEvent {
        // Inserted one by one: collecting into a map would pull a sort into the wasm.
        let mut checks = Map::new();
        for check in &self.checks {
            checks.insert(check.name.to_owned(), check.verdict.name().into());
        }
        let level = if self.overall >= Verdict::Warn {
            Level::Warn
        } else {
            Level::Info
        };
        AuditEvent::new(level, "admin.diagnose")
            .text("overall", self.overall.name())
            .value("checks", Value::Object(checks))
            .value("status", 200.into())
            .value("ok", true.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "sk_test_diagnoseSecretValue123";
    const ADMIN: &str = "admin-token-diagnose-0123456789abcdef";

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut vars = vec![("CLERK_SECRET_KEY", SECRET), ("CLERK_ADMIN_TOKEN", ADMIN)];
        vars.extend_from_slice(extra);
        Config::from_pairs(&vars)
    }

    fn jwks_body() -> String {
        let text =
            include_str!("../../tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json");
        let v: Value = serde_json::from_str(text).unwrap();
        v["keys"]["jwks"].to_string()
    }

    fn live_summary(p95_us: u64) -> LiveSummary {
        LiveSummary {
            decisions: 4,
            since_ms: Some(0),
            window: 4,
            p50_us: Some(p95_us / 2),
            p95_us: Some(p95_us),
            max_us: Some(p95_us),
            cache_hits: 3,
            cache_lookups: 4,
            refusals: vec![("token-expired".to_owned(), 1)],
        }
    }

    fn healthy() -> Facts {
        let status = r#"{"page":{"id":"x"},"status":{"indicator":"none","description":"All Systems Operational"}}"#;
        Facts {
            jwks: Some(JwksFacts::new(
                Probe::ran(12, Outcome::Http(200)),
                Some(&jwks_body()),
                true,
            )),
            backend: (
                Probe::ran(40, Outcome::Http(200)),
                RateLimit::from_headers(
                    |name| match name {
                        "x-ratelimit-limit" => Some("100"),
                        "x-ratelimit-remaining" => Some("99"),
                        _ => None,
                    },
                    None,
                ),
            ),
            status_page: StatusFacts::new(Probe::ran(30, Outcome::Http(200)), Some(status)),
            deny_list: (Probe::ran(2, Outcome::Done), "KV CLERK_EDGE"),
            d1: Some(Probe::ran(3, Outcome::Done)),
            live: Some(live_summary(2_000)),
            jwks_refresh_failing: false,
            memory: None,
        }
    }

    fn verdicts(d: &Diagnosis) -> Vec<(&'static str, &'static str)> {
        d.checks
            .iter()
            .map(|c| (c.name, c.verdict.name()))
            .collect()
    }

    #[test]
    fn a_healthy_edge_is_ok_everywhere() {
        let d = diagnose(&config(&[]), &healthy(), 0);
        assert_eq!(d.overall, Verdict::Ok, "{:?}", verdicts(&d));
        assert!(d.checks.iter().all(|c| c.verdict == Verdict::Ok));
        let json = d.to_json();
        assert_eq!(json["overall"], "ok");
        let keys = &json["checks"][1];
        assert_eq!(keys["name"], "keys");
        assert_eq!(keys["kids"], 1);
        assert_eq!(keys["took_ms"], 12);
        let api = &json["checks"][2];
        assert_eq!(api["rate_limit"]["remaining"], 99);
        assert_eq!(api["status"], 200);
        assert_eq!(json["checks"][3]["indicator"], "none");
        let text = d.to_text();
        assert!(text.starts_with("clerk-edge-guard "), "{text}");
        assert_eq!(text.lines().count(), 3 + d.checks.len(), "{text}");
    }

    #[test]
    fn a_slow_backend_api_and_an_unreachable_status_page_warn() {
        let mut facts = healthy();
        facts.backend.0 = Probe::ran(702, Outcome::Http(200));
        facts.status_page =
            StatusFacts::new(Probe::ran(1, Outcome::Failed("connection failed")), None);
        let d = diagnose(&config(&[]), &facts, 0);
        assert_eq!(d.overall, Verdict::Warn);
        let api = &d.checks[2];
        assert_eq!(api.verdict, Verdict::Warn);
        assert!(api.advice.as_deref().unwrap().contains("> 500 ms"));
        let page = &d.checks[3];
        assert_eq!(page.verdict, Verdict::Warn, "unreachable is never fatal");
        assert_eq!(page.facts["reachable"], false);
        let text = d.to_text();
        assert!(text.contains("WARN"), "{text}");
        assert!(
            text.contains("-> Clerk's Backend API took 702 ms"),
            "{text}"
        );
    }

    #[test]
    fn jwks_unreachable_fails_without_cached_keys() {
        let mut facts = healthy();
        facts.jwks = Some(JwksFacts::new(
            Probe::ran(1200, Outcome::Timeout),
            None,
            false,
        ));
        let d = diagnose(&config(&[]), &facts, 0);
        assert_eq!(d.checks[1].verdict, Verdict::Fail);
        assert_eq!(d.overall, Verdict::Fail);
        facts.jwks = Some(JwksFacts::new(
            Probe::ran(1200, Outcome::Timeout),
            None,
            true,
        ));
        assert_eq!(
            diagnose(&config(&[]), &facts, 0).checks[1].verdict,
            Verdict::Warn
        );
        facts.jwks = Some(JwksFacts::new(
            Probe::ran(5, Outcome::Http(200)),
            Some("{}"),
            false,
        ));
        assert_eq!(
            diagnose(&config(&[]), &facts, 0).checks[1].verdict,
            Verdict::Fail
        );
        facts.jwks = Some(JwksFacts::new(
            Probe::ran(5, Outcome::Http(401)),
            None,
            true,
        ));
        let d = diagnose(&config(&[]), &facts, 0);
        assert_eq!(d.checks[1].verdict, Verdict::Fail);
        assert!(d.checks[1]
            .advice
            .as_deref()
            .unwrap()
            .contains("CLERK_SECRET_KEY"));
    }

    #[test]
    fn the_backend_api_verdicts() {
        let judge = |outcome, retry: Option<&str>| {
            let facts = Facts {
                backend: (
                    Probe::ran(10, outcome),
                    RateLimit::from_headers(
                        |n| match n {
                            "retry-after" => retry,
                            "date" => Some("Wed, 02 Dec 2026 04:30:00 GMT"),
                            _ => None,
                        },
                        None,
                    ),
                ),
                ..healthy()
            };
            diagnose(&config(&[]), &facts, 0).checks[2].clone()
        };
        assert_eq!(judge(Outcome::Http(401), None).verdict, Verdict::Fail);
        let limited = judge(Outcome::Http(429), Some("7"));
        assert_eq!(limited.verdict, Verdict::Warn);
        assert!(limited.advice.unwrap().contains("Retry-After 7 s"));
        let dated = judge(Outcome::Http(429), Some("Wed, 02 Dec 2026 04:30:30 GMT"));
        assert!(dated.advice.unwrap().contains("Retry-After 30 s"));
        assert_eq!(judge(Outcome::Http(503), None).verdict, Verdict::Fail);
        assert_eq!(judge(Outcome::Timeout, None).verdict, Verdict::Fail);
        assert_eq!(judge(Outcome::Http(404), None).verdict, Verdict::Warn);
        let skipped = Facts {
            backend: (
                Probe::NotConfigured("CLERK_SECRET_KEY is not set"),
                RateLimit::default(),
            ),
            ..healthy()
        };
        let d = diagnose(&config(&[]), &skipped, 0);
        assert_eq!(d.checks[2].verdict, Verdict::Skipped);
        assert_eq!(d.overall, Verdict::Ok, "a skipped check does not count");
    }

    #[test]
    fn the_status_page_verdicts_are_read_tolerantly() {
        let page = |body: &str| {
            let facts = Facts {
                status_page: StatusFacts::new(Probe::ran(5, Outcome::Http(200)), Some(body)),
                ..healthy()
            };
            diagnose(&config(&[]), &facts, 0).checks[3].clone()
        };
        assert_eq!(
            page(r#"{"status":{"indicator":"minor","description":"Partially Degraded Service"}}"#)
                .verdict,
            Verdict::Warn
        );
        let major = page(r#"{"status":{"indicator":"major","description":"Major\nOutage"}}"#);
        assert_eq!(major.verdict, Verdict::Fail);
        assert!(!major.summary.contains('\n'), "outside text is cleaned");
        assert_eq!(page("<html>").verdict, Verdict::Warn);
        assert_eq!(page(r#"{"status":"operational"}"#).verdict, Verdict::Ok);
        let timeout = Facts {
            status_page: StatusFacts::new(Probe::ran(2000, Outcome::Timeout), None),
            ..healthy()
        };
        let check = diagnose(&config(&[]), &timeout, 0).checks[3].clone();
        assert_eq!(check.verdict, Verdict::Warn);
        assert!(check.summary.contains("2000 ms"));
    }

    #[test]
    fn configuration_names_problems_never_values() {
        let c = config(&[
            ("CLERK_STATUS_URL", "not a url secretish"),
            ("CLERK_EMERGENCY_BYPASS", "perhaps-secretish"),
        ]);
        let facts = Facts {
            status_page: StatusFacts::new(
                Probe::NotConfigured("CLERK_STATUS_URL is invalid"),
                None,
            ),
            ..healthy()
        };
        let d = diagnose(&c, &facts, 0);
        let conf = &d.checks[0];
        assert_eq!(conf.verdict, Verdict::Warn);
        assert_eq!(conf.summary, "4 set, 22 unset, 2 invalid");
        let vars = conf.facts["variables"].as_array().unwrap();
        assert_eq!(vars.len(), VARIABLES.len());
        let status = vars
            .iter()
            .find(|v| v["name"] == "CLERK_STATUS_URL")
            .unwrap();
        assert_eq!(status["state"], "invalid");
        assert_eq!(d.checks[3].verdict, Verdict::Skipped);
        let all = format!("{}{}", d.to_json(), d.to_text());
        for secret in [SECRET, ADMIN, "secretish"] {
            assert!(!all.contains(secret), "{secret} leaked");
        }
        let broken = diagnose(&Config::from_pairs(&[]), &healthy(), 0);
        assert_eq!(broken.checks[0].verdict, Verdict::Fail);
        assert_eq!(broken.checks[1].verdict, Verdict::Fail);
    }

    #[test]
    fn live_traffic_slow_auth_warns() {
        let mut facts = healthy();
        facts.live = Some(live_summary(150_000));
        let d = diagnose(&config(&[]), &facts, 0);
        let live = d.checks.iter().find(|c| c.name == "auth_live").unwrap();
        assert_eq!(live.verdict, Verdict::Warn);
        assert!(live.summary.contains("p95 150.0 ms"), "{}", live.summary);
        facts.live = Some(LiveSummary {
            decisions: 0,
            since_ms: None,
            window: 0,
            p50_us: None,
            p95_us: None,
            max_us: None,
            cache_hits: 0,
            cache_lookups: 0,
            refusals: Vec::new(),
        });
        let idle = diagnose(&config(&[]), &facts, 0);
        let live = idle.checks.iter().find(|c| c.name == "auth_live").unwrap();
        assert_eq!(live.verdict, Verdict::Skipped);
        assert_eq!(live.summary, "no decisions yet in this isolate");
        facts.live = None;
        let d = diagnose(&config(&[]), &facts, 0);
        let live = d.checks.iter().find(|c| c.name == "auth_live").unwrap();
        assert_eq!(live.verdict, Verdict::Skipped);
    }

    #[test]
    fn the_route_and_its_format() {
        let c = config(&[]);
        assert_eq!(
            crate::policy::decision::route(&c, DIAGNOSE_PATH),
            crate::policy::decision::Route::AdminDiagnose
        );
        assert!(wants_text("format=text"));
        assert!(wants_text("a=1&format=text"));
        assert!(!wants_text("format=json"));
        assert!(!wants_text(""));
        assert_eq!(
            Probe::between(10, 5, Outcome::Done),
            Probe::ran(0, Outcome::Done)
        );
    }

    #[test]
    fn storage_and_state() {
        let mut facts = healthy();
        facts.deny_list.0 = Probe::NotConfigured("the KV binding CLERK_EDGE is missing");
        facts.d1 = None;
        let c = config(&[
            ("CLERK_EMERGENCY_BYPASS", "grace"),
            ("CLERK_EMERGENCY_BYPASS_REASON", "INC-secretish"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "2030-01-01T00:00:00Z"),
            ("CLERK_EMERGENCY_BYPASS_PATHS", "/app/*"),
            ("CLERK_WEBHOOKS_PAUSED", "true"),
        ]);
        let d = diagnose(&c, &facts, 0);
        assert!(d.checks.iter().all(|c| c.name != "d1"));
        let deny = d.checks.iter().find(|c| c.name == "deny_list").unwrap();
        assert_eq!(deny.verdict, Verdict::Fail);
        let state = d.checks.last().unwrap();
        assert_eq!(state.verdict, Verdict::Warn);
        assert_eq!(state.facts["bypass"]["mode"], "grace");
        assert_eq!(state.facts["bypass"]["paths_scoped"], true);
        assert_eq!(state.facts["webhooks"]["paused"], true);
        assert!(!d.to_json().to_string().contains("secretish"));
        let event = d.audit_event();
        assert_eq!(event.name(), "admin.diagnose");
        let line = event.to_line(0);
        assert!(line.contains(r#""deny_list":"fail""#), "{line}");
    }

    #[test]
    fn state_shows_memory_and_warns_only_over_a_cap() {
        use crate::diagnose::memory::{CacheFill, IsolateMemory};
        let mut memory = IsolateMemory {
            wasm_pages: Some(32),
            caches: vec![CacheFill::counted("deny_list", 10_000, 10_000)],
        };
        let facts = Facts {
            memory: Some(memory.clone()),
            ..healthy()
        };
        let state = diagnose(&config(&[]), &facts, 0).checks.pop().unwrap();
        assert_eq!(state.verdict, Verdict::Ok, "a cache at its cap is bounded");
        assert!(
            state
                .summary
                .ends_with("; wasm memory 2.0 MiB; caches deny_list 10000/10000"),
            "{}",
            state.summary
        );
        assert_eq!(state.facts["memory"]["wasm_memory_bytes"], 2 * 1_048_576);
        assert_eq!(
            state.facts["memory"]["caches"]["deny_list"]["max_entries"],
            10_000
        );

        memory.caches[0].entries = 10_001;
        let facts = Facts {
            memory: Some(memory),
            ..healthy()
        };
        let d = diagnose(&config(&[]), &facts, 0);
        let state = d.checks.last().unwrap();
        assert_eq!(state.verdict, Verdict::Warn);
        assert!(state.advice.as_deref().unwrap().contains("deny_list"));
        assert!(d.to_text().contains("deny_list 10001/10000"));

        let unknown = diagnose(&config(&[]), &healthy(), 0);
        assert_eq!(unknown.checks.last().unwrap().facts["memory"], Value::Null);
    }
}
