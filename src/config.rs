//! Configuration: the environment variables of CONTRACT.md section 1, parsed and validated
//! in one place, once per isolate.
//!
//! A bad value is never guessed around. Every rejected variable becomes a [`ConfigProblem`]
//! naming the variable and what is wrong (never its value), reported as a `config.invalid`
//! audit line. Problems are sorted by what they break:
//! - token checking (keys, skew, parties, paths, URLs): protected requests answer 500
//!   `misconfigured` — fail closed;
//! - the bypass variables: the bypass stays off and health reports `degraded`; they are
//!   parsed on their own so that a valid bypass works while other variables are broken,
//!   because that is when it is needed;
//! - webhook and admin variables: only their routes refuse to work.

use std::fmt;

use crate::auth::keys::{self, VerifyingKey};
use crate::auth::token::{cookie_suffix, CookieContext};
use crate::policy::bypass::{BypassMode, BypassPolicy, DEFAULT_GRACE_SECONDS};
use crate::policy::paths::PathPatterns;
use crate::webhook::{self, WebhookSecret};

/// Default of `CLERK_API_URL`.
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
/// Default of `CLERK_CLOCK_SKEW_MS`, as `@clerk/backend`.
pub const DEFAULT_CLOCK_SKEW_MS: i64 = 5000;
/// Largest accepted `CLERK_CLOCK_SKEW_MS`.
pub const MAX_CLOCK_SKEW_MS: i64 = 60_000;
/// Largest accepted `CLERK_EMERGENCY_GRACE_SECONDS` (7 days): a grace window is for an
/// incident, not a way of life.
pub const MAX_GRACE_SECONDS: u64 = 7 * 24 * 3600;
/// Shortest accepted `CLERK_ADMIN_TOKEN`.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// Default of `CLERK_STATUS_URL`: the JSON summary of Clerk's public status page.
pub const DEFAULT_STATUS_URL: &str = "https://status.clerk.com/api/v2/status.json";

/// Every variable the product reads, in the order of the README's table: the one list the
/// diagnosis reports as set, unset or invalid (a test checks that [`Config::from_env`] reads
/// nothing else).
pub const VARIABLES: &[&str] = &[
    "CLERK_SECRET_KEY",
    "CLERK_PUBLISHABLE_KEY",
    "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
    "CLERK_PROXY_URL",
    "NEXT_PUBLIC_CLERK_PROXY_URL",
    "CLERK_JWT_KEY",
    "CLERK_API_URL",
    "CLERK_AUTHORIZED_PARTIES",
    "CLERK_CLOCK_SKEW_MS",
    "CLERK_PUBLIC_PATHS",
    "CLERK_SIGN_IN_URL",
    "CLERK_EMERGENCY_BYPASS",
    "CLERK_EMERGENCY_BYPASS_REASON",
    "CLERK_EMERGENCY_BYPASS_UNTIL",
    "CLERK_EMERGENCY_BYPASS_PATHS",
    "CLERK_EMERGENCY_GRACE_SECONDS",
    "CLERK_NEVER_BYPASS_PATHS",
    "CLERK_WEBHOOK_SIGNING_SECRET",
    "CLERK_WEBHOOKS_PAUSED",
    "CLERK_ADMIN_TOKEN",
    "ORIGIN_URL",
    "CLERK_AUDIT_ALLOWED",
    "CLERK_SERVER_TIMING",
    "CLERK_STATUS_URL",
    "CLERK_IS_SATELLITE",
    "NEXT_PUBLIC_CLERK_IS_SATELLITE",
];

/// A secret value whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a rejected variable breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impact {
    /// Protected requests fail closed (500 `misconfigured`).
    Auth,
    /// The bypass stays off; health is `degraded`.
    Bypass,
    /// `POST /__clerk/webhooks` answers 500 (Svix retries later).
    Webhooks,
    /// The admin routes answer 500.
    Admin,
    /// Only `GET /__clerk/admin/diagnose` is affected (its status-page check is skipped).
    Diagnose,
}

/// A rejected variable: its name and the problem, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The variable's name.
    pub variable: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
    /// What it breaks.
    pub impact: Impact,
}

/// Where verification keys come from.
#[derive(Debug, Clone)]
pub enum KeyConfig {
    /// `CLERK_JWT_KEY`: no network.
    Pem(VerifyingKey),
    /// The JWKS of `GET {CLERK_API_URL}/v1/jwks` with `CLERK_SECRET_KEY`.
    Jwks,
    /// Neither is usable.
    None,
}

/// What the publishable key tells about the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishableKey {
    /// The Frontend API host (e.g. `clerk.example.com`).
    pub frontend_api: String,
    /// `pk_live_`.
    pub production: bool,
    /// The suffix of `__session_<suffix>` cookies.
    pub cookie_suffix: String,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Verification keys.
    pub keys: KeyConfig,
    /// `CLERK_SECRET_KEY`.
    pub secret_key: Option<Secret>,
    /// `CLERK_PUBLISHABLE_KEY` / `NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY`.
    pub publishable_key: Option<PublishableKey>,
    /// `CLERK_API_URL`, without a trailing slash.
    pub api_url: String,
    /// `CLERK_AUTHORIZED_PARTIES`.
    pub authorized_parties: Vec<String>,
    /// `CLERK_CLOCK_SKEW_MS`.
    pub clock_skew_ms: i64,
    /// `CLERK_PUBLIC_PATHS`.
    pub public_paths: PathPatterns,
    /// `CLERK_SIGN_IN_URL`.
    pub sign_in_url: Option<String>,
    /// The `CLERK_EMERGENCY_*` and `CLERK_NEVER_BYPASS_PATHS` variables.
    pub bypass: BypassPolicy,
    /// `CLERK_WEBHOOK_SIGNING_SECRET` (several during rotation).
    pub webhook_secrets: Vec<WebhookSecret>,
    /// `CLERK_WEBHOOKS_PAUSED`.
    pub webhooks_paused: bool,
    /// `CLERK_ADMIN_TOKEN`.
    pub admin_token: Option<Secret>,
    /// `ORIGIN_URL`, without a trailing slash.
    pub origin_url: Option<String>,
    /// `CLERK_PROXY_URL` / `NEXT_PUBLIC_CLERK_PROXY_URL`: where handshakes go instead of the
    /// Frontend API host (absolute, or a path on the request's origin).
    pub proxy_url: Option<String>,
    /// `CLERK_AUDIT_ALLOWED`.
    pub audit_allowed: bool,
    /// `CLERK_STATUS_URL`: the status page the diagnosis reads (`None` when rejected).
    pub status_url: Option<String>,
    /// The variables of [`VARIABLES`] that are set (non-blank), names only.
    pub set_variables: Vec<&'static str>,
    /// `CLERK_SERVER_TIMING` (default on): a `Server-Timing` header on protected answers.
    pub server_timing: bool,
    /// Every rejected variable.
    pub problems: Vec<ConfigProblem>,
}

/// Reads variables by name: a Worker's env, `process.env`, or a plain map in tests.
pub trait Env {
    /// The value of a variable, if set.
    fn var(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Collects problems while parsing.
struct Parser<'e, E: Env + ?Sized> {
    env: &'e E,
    problems: Vec<ConfigProblem>,
}

impl<E: Env + ?Sized> Parser<'_, E> {
    /// A set variable, trimmed; unset and blank are the same.
    fn get(&self, name: &str) -> Option<String> {
        self.env
            .var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn reject(&mut self, variable: &'static str, impact: Impact, problem: impl Into<String>) {
        self.problems.push(ConfigProblem {
            variable,
            problem: problem.into(),
            impact,
        });
    }

    fn bool(&mut self, name: &'static str, impact: Impact) -> bool {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => false,
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(_) => {
                self.reject(name, impact, "must be true or false");
                false
            }
        }
    }

    fn paths(&mut self, name: &'static str, impact: Impact) -> PathPatterns {
        match self.get(name).map(|v| PathPatterns::parse(&v)) {
            None => PathPatterns::default(),
            Some(Ok(p)) => p,
            Some(Err(e)) => {
                self.reject(name, impact, e.to_string());
                PathPatterns::default()
            }
        }
    }

    fn http_url(&mut self, name: &'static str, impact: Impact) -> Option<String> {
        let value = self.get(name)?;
        if is_http_url(&value) {
            Some(value.trim_end_matches('/').to_owned())
        } else {
            self.reject(name, impact, "must be an absolute http:// or https:// URL");
            None
        }
    }
}

/// An absolute `http(s)://host...` URL with no spaces. Deliberately strict and small: a
/// full URL parser would cost wasm size for no better answer.
fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        !host.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}

impl Config {
    /// Parses and validates every variable.
    pub fn from_env<E: Env + ?Sized>(env: &E) -> Self {
        let mut p = Parser {
            env,
            problems: Vec::new(),
        };
        let bypass = parse_bypass(&mut p);

        let secret_key = p.get("CLERK_SECRET_KEY").map(Secret);
        if let Some(sk) = &secret_key {
            if !(sk.0.starts_with("sk_test_") || sk.0.starts_with("sk_live_")) {
                p.reject(
                    "CLERK_SECRET_KEY",
                    Impact::Auth,
                    "must start with sk_test_ or sk_live_ (the Secret key from the Clerk dashboard)",
                );
            }
        }
        let keys = match p.get("CLERK_JWT_KEY").map(|pem| keys::parse_pem(&pem)) {
            Some(Ok(key)) => KeyConfig::Pem(key),
            Some(Err(e)) => {
                p.reject("CLERK_JWT_KEY", Impact::Auth, e.to_string());
                KeyConfig::None
            }
            None if secret_key.is_some() => KeyConfig::Jwks,
            None => {
                p.reject(
                    "CLERK_JWT_KEY",
                    Impact::Auth,
                    "no verification key: set CLERK_JWT_KEY (PEM public key, no network) or \
                     CLERK_SECRET_KEY (fetch the JWKS from the Backend API)",
                );
                KeyConfig::None
            }
        };

        let publishable_key = ["CLERK_PUBLISHABLE_KEY", "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY"]
            .into_iter()
            .find_map(|name| p.get(name).map(|v| (name, v)))
            .and_then(|(name, value)| match parse_publishable_key(&value) {
                Some(pk) => Some(pk),
                None => {
                    p.reject(
                        if name == "CLERK_PUBLISHABLE_KEY" {
                            "CLERK_PUBLISHABLE_KEY"
                        } else {
                            "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY"
                        },
                        Impact::Auth,
                        "not a Clerk publishable key (pk_test_… or pk_live_… from the dashboard)",
                    );
                    None
                }
            });

        let api_url = p
            .http_url("CLERK_API_URL", Impact::Auth)
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());

        let authorized_parties: Vec<String> = p
            .get("CLERK_AUTHORIZED_PARTIES")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if p.get("CLERK_AUTHORIZED_PARTIES").is_some() && authorized_parties.is_empty() {
            // `,` must not silently turn the azp check off.
            p.reject(
                "CLERK_AUTHORIZED_PARTIES",
                Impact::Auth,
                "lists no origin: set origins such as https://app.example.com, or unset it",
            );
        } else if authorized_parties.iter().any(|o| !is_http_url(o)) {
            p.reject(
                "CLERK_AUTHORIZED_PARTIES",
                Impact::Auth,
                "every entry must be an origin such as https://app.example.com",
            );
        }

        let clock_skew_ms = match p.get("CLERK_CLOCK_SKEW_MS") {
            None => DEFAULT_CLOCK_SKEW_MS,
            Some(v) => match v.parse::<i64>() {
                Ok(ms) if (0..=MAX_CLOCK_SKEW_MS).contains(&ms) => ms,
                _ => {
                    p.reject(
                        "CLERK_CLOCK_SKEW_MS",
                        Impact::Auth,
                        "must be a whole number of milliseconds from 0 to 60000",
                    );
                    // Used only by a bypass in force (everything else fails closed):
                    // the strictest skew, never a guess that widens it.
                    0
                }
            },
        };

        let public_paths = p.paths("CLERK_PUBLIC_PATHS", Impact::Auth);
        let sign_in_url = p.get("CLERK_SIGN_IN_URL").filter(|url| {
            let ok = is_http_url(url) || (url.starts_with('/') && !url.starts_with("//"));
            if !ok {
                p.reject(
                    "CLERK_SIGN_IN_URL",
                    Impact::Auth,
                    "must be an absolute http(s) URL or a path starting with /",
                );
            }
            ok
        });

        let webhook_secrets = match p.get("CLERK_WEBHOOK_SIGNING_SECRET") {
            None => Vec::new(),
            Some(v) => webhook::parse_secrets(&v).unwrap_or_else(|e| {
                p.reject(
                    "CLERK_WEBHOOK_SIGNING_SECRET",
                    Impact::Webhooks,
                    e.to_string(),
                );
                Vec::new()
            }),
        };
        let webhooks_paused = p.bool("CLERK_WEBHOOKS_PAUSED", Impact::Webhooks);

        let admin_token = p.get("CLERK_ADMIN_TOKEN").map(Secret);
        if admin_token
            .as_ref()
            .is_some_and(|t| t.0.chars().count() < MIN_ADMIN_TOKEN_CHARS)
        {
            p.reject(
                "CLERK_ADMIN_TOKEN",
                Impact::Admin,
                "must be at least 32 characters (e.g. `openssl rand -hex 32`)",
            );
        }

        let origin_url = p.http_url("ORIGIN_URL", Impact::Auth);
        let proxy_url = parse_proxy_url(&mut p);
        refuse_satellite(&mut p);
        let audit_allowed = p.bool("CLERK_AUDIT_ALLOWED", Impact::Auth);
        let status_url = match p.get("CLERK_STATUS_URL") {
            None => Some(DEFAULT_STATUS_URL.to_owned()),
            Some(_) => p.http_url("CLERK_STATUS_URL", Impact::Diagnose),
        };
        let set_variables = VARIABLES
            .iter()
            .copied()
            .filter(|name| p.get(name).is_some())
            .collect();
        // On unless set to false; a bad value is refused like any other, not guessed at.
        let server_timing =
            p.get("CLERK_SERVER_TIMING").is_none() || p.bool("CLERK_SERVER_TIMING", Impact::Auth);

        Config {
            keys,
            secret_key,
            publishable_key,
            api_url,
            authorized_parties,
            clock_skew_ms,
            public_paths,
            sign_in_url,
            bypass,
            webhook_secrets,
            webhooks_paused,
            admin_token,
            origin_url,
            proxy_url,
            audit_allowed,
            status_url,
            set_variables,
            server_timing,
            problems: p.problems,
        }
    }

    /// Problems that break token checking: protected requests fail closed.
    pub fn auth_problems(&self) -> impl Iterator<Item = &ConfigProblem> {
        self.problems.iter().filter(|p| p.impact == Impact::Auth)
    }

    /// The message of the admin routes' 500 while an admin variable is invalid: each
    /// variable and its problem, never a value.
    pub fn admin_misconfigured_message(&self) -> String {
        let problems: Vec<String> = self
            .problems
            .iter()
            .filter(|problem| problem.impact == Impact::Admin)
            .map(|problem| format!("{} {}", problem.variable, problem.problem))
            .collect();
        format!(
            "the admin routes are off until the configuration is fixed: {}",
            problems.join("; ")
        )
    }

    /// Whether problems of this impact exist.
    pub fn has_problems(&self, impact: Impact) -> bool {
        self.problems.iter().any(|p| p.impact == impact)
    }

    /// Whether tokens can be verified although other token-checking variables may be
    /// broken: a valid `CLERK_JWT_KEY`, or a JWKS source whose secret key and API URL were
    /// both accepted (a rejected URL is never replaced by a guess here).
    pub fn keys_usable(&self) -> bool {
        match self.keys {
            KeyConfig::Pem(_) => true,
            KeyConfig::Jwks => !self
                .problems
                .iter()
                .any(|p| matches!(p.variable, "CLERK_SECRET_KEY" | "CLERK_API_URL")),
            KeyConfig::None => false,
        }
    }

    /// Whether `ORIGIN_URL` is set but was rejected. Nothing may be forwarded then (public
    /// and bypassed requests included): the request's own URL is not what was asked for.
    pub fn origin_rejected(&self) -> bool {
        self.problems.iter().any(|p| p.variable == "ORIGIN_URL")
    }

    /// What [`crate::auth::token::find_session_token`] needs from the publishable key to pick the
    /// `__session` cookie the way Clerk does.
    pub fn cookie_context(&self, now_ms: i64) -> CookieContext<'_> {
        let pk = self.publishable_key.as_ref();
        CookieContext {
            suffix: pk.map(|p| p.cookie_suffix.as_str()),
            frontend_api: pk.map(|p| p.frontend_api.as_str()),
            production: pk.is_some_and(|p| p.production),
            now_ms,
        }
    }

    /// Parses a fixed list of `(name, value)` pairs: tests, benches and tools that have no
    /// runtime environment.
    pub fn from_pairs(vars: &[(&str, &str)]) -> Self {
        Self::from_env(&|name: &str| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }
}

/// The bypass variables, parsed on their own. Any problem among them leaves the bypass off:
/// a scope or expiry that cannot be honoured must not widen the bypass.
fn parse_bypass<E: Env + ?Sized>(p: &mut Parser<'_, E>) -> BypassPolicy {
    let before = p.problems.len();
    // Blank is unset here as everywhere: `CLERK_EMERGENCY_BYPASS=` means off.
    let mode = match p.get("CLERK_EMERGENCY_BYPASS") {
        None => BypassMode::Off,
        Some(v) => BypassMode::parse(&v).unwrap_or_else(|| {
            p.reject(
                "CLERK_EMERGENCY_BYPASS",
                Impact::Bypass,
                "must be false, true or grace; the bypass stays off",
            );
            BypassMode::Off
        }),
    };
    let reason = p.get("CLERK_EMERGENCY_BYPASS_REASON");
    let until_ms = p.get("CLERK_EMERGENCY_BYPASS_UNTIL").and_then(|v| {
        crate::rfc3339::parse_millis(&v)
            .map_err(|e| {
                p.reject(
                    "CLERK_EMERGENCY_BYPASS_UNTIL",
                    Impact::Bypass,
                    format!("{e}; the bypass stays off"),
                )
            })
            .ok()
    });
    let paths = p.paths("CLERK_EMERGENCY_BYPASS_PATHS", Impact::Bypass);
    let never = p.paths("CLERK_NEVER_BYPASS_PATHS", Impact::Bypass);
    let grace_seconds = match p.get("CLERK_EMERGENCY_GRACE_SECONDS") {
        None => DEFAULT_GRACE_SECONDS,
        Some(v) => match v.parse::<u64>() {
            Ok(s) if s <= MAX_GRACE_SECONDS => s,
            _ => {
                p.reject(
                    "CLERK_EMERGENCY_GRACE_SECONDS",
                    Impact::Bypass,
                    "must be a whole number of seconds from 0 to 604800 (7 days)",
                );
                DEFAULT_GRACE_SECONDS
            }
        },
    };
    let broken = p.problems.len() > before;
    BypassPolicy {
        mode: if broken { BypassMode::Off } else { mode },
        reason,
        until_ms,
        paths,
        never,
        grace_seconds,
    }
}

/// `CLERK_PROXY_URL` (or its `NEXT_PUBLIC_` twin): an absolute http(s) URL, or a path that
/// Clerk resolves against the request's origin.
fn parse_proxy_url<E: Env + ?Sized>(p: &mut Parser<'_, E>) -> Option<String> {
    let (name, value) = ["CLERK_PROXY_URL", "NEXT_PUBLIC_CLERK_PROXY_URL"]
        .into_iter()
        .find_map(|name| p.get(name).map(|v| (name, v)))?;
    let relative = value.starts_with('/') && !value.starts_with("//");
    if is_http_url(&value) || (relative && !value.chars().any(char::is_whitespace)) {
        return Some(value);
    }
    p.reject(
        if name == "CLERK_PROXY_URL" {
            "CLERK_PROXY_URL"
        } else {
            "NEXT_PUBLIC_CLERK_PROXY_URL"
        },
        Impact::Auth,
        "must be an absolute http(s) URL (e.g. https://app.example.com/__clerk) or a path \
         starting with / (e.g. /__clerk), as in the Clerk dashboard's proxy settings",
    );
    None
}

/// Satellite domains sync sessions through a primary domain; a partial build of that flow
/// loops, so a satellite configuration is refused outright rather than half-served.
fn refuse_satellite<E: Env + ?Sized>(p: &mut Parser<'_, E>) {
    for name in ["CLERK_IS_SATELLITE", "NEXT_PUBLIC_CLERK_IS_SATELLITE"] {
        let Some(value) = p.get(name) else { continue };
        if matches!(value.to_ascii_lowercase().as_str(), "false" | "0") {
            continue;
        }
        p.reject(
            if name == "CLERK_IS_SATELLITE" {
                "CLERK_IS_SATELLITE"
            } else {
                "NEXT_PUBLIC_CLERK_IS_SATELLITE"
            },
            Impact::Auth,
            "satellite domains are not supported by clerk-edge-guard (their handshake syncs \
             through the primary domain, which the edge does not do): put the edge in front of \
             the primary domain only, and unset this variable",
        );
    }
}

/// Decodes `pk_(test|live)_<base64(frontendApi + "$")>` as `@clerk/shared` does.
fn parse_publishable_key(key: &str) -> Option<PublishableKey> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use base64::Engine as _;
    let production = key.starts_with("pk_live_");
    if !production && !key.starts_with("pk_test_") {
        return None;
    }
    let mut parts = key.split('_');
    let encoded = parts.nth(2).filter(|e| !e.is_empty())?;
    if parts.next().is_some() {
        return None;
    }
    let decoded = STANDARD_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let frontend_api = decoded.strip_suffix('$')?;
    if frontend_api.contains('$') || !frontend_api.contains('.') {
        return None;
    }
    Some(PublishableKey {
        frontend_api: frontend_api.to_owned(),
        production,
        cookie_suffix: cookie_suffix(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> serde_json::Value {
        let text =
            include_str!("../tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json");
        serde_json::from_str(text).unwrap()
    }

    fn pem() -> String {
        vectors()["keys"]["public_key_pem"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn problem_vars(c: &Config) -> Vec<&'static str> {
        c.problems.iter().map(|p| p.variable).collect()
    }

    #[test]
    fn minimal_pem_config_is_clean() {
        let c = Config::from_pairs(&[("CLERK_JWT_KEY", &pem())]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        assert!(matches!(c.keys, KeyConfig::Pem(_)));
        assert_eq!(c.clock_skew_ms, 5000);
        assert_eq!(c.api_url, "https://api.clerk.com");
        assert_eq!(c.bypass.mode, BypassMode::Off);
        assert_eq!(c.bypass.grace_seconds, 3600);
    }

    #[test]
    fn no_key_at_all_fails_closed() {
        let c = Config::from_pairs(&[]);
        assert_eq!(problem_vars(&c), ["CLERK_JWT_KEY"]);
        assert!(c.has_problems(Impact::Auth));
        assert!(matches!(c.keys, KeyConfig::None));
    }

    #[test]
    fn secret_key_selects_jwks() {
        let c = Config::from_pairs(&[("CLERK_SECRET_KEY", "sk_test_abc")]);
        assert!(c.problems.is_empty());
        assert!(matches!(c.keys, KeyConfig::Jwks));
        let bad = Config::from_pairs(&[("CLERK_SECRET_KEY", "pk_test_abc")]);
        assert_eq!(problem_vars(&bad), ["CLERK_SECRET_KEY"]);
    }

    #[test]
    fn server_timing_is_on_unless_turned_off() {
        let with = |value: Option<&str>| {
            let mut pairs = vec![("CLERK_SECRET_KEY", "sk_test_x")];
            pairs.extend(value.map(|v| ("CLERK_SERVER_TIMING", v)));
            Config::from_pairs(&pairs)
        };
        assert!(with(None).server_timing);
        assert!(with(Some("true")).server_timing);
        assert!(with(Some(" ")).server_timing, "blank is unset");
        let off = with(Some("FALSE"));
        assert!(!off.server_timing && off.problems.is_empty());
    }

    #[test]
    fn each_bad_value_names_its_variable_and_not_its_value() {
        let cases = [
            ("CLERK_JWT_KEY", "not-a-pem-secret-xyz", Impact::Auth),
            ("CLERK_CLOCK_SKEW_MS", "60001", Impact::Auth),
            ("CLERK_CLOCK_SKEW_MS", "-1", Impact::Auth),
            ("CLERK_CLOCK_SKEW_MS", "5s", Impact::Auth),
            ("CLERK_API_URL", "api.clerk.com", Impact::Auth),
            (
                "CLERK_AUTHORIZED_PARTIES",
                "https://ok.example, not-an-origin",
                Impact::Auth,
            ),
            ("CLERK_PUBLIC_PATHS", "public", Impact::Auth),
            ("CLERK_SIGN_IN_URL", "//evil.example", Impact::Auth),
            ("CLERK_PUBLISHABLE_KEY", "pk_test_bm9wZQ", Impact::Auth),
            ("ORIGIN_URL", "ftp://origin", Impact::Auth),
            ("CLERK_AUDIT_ALLOWED", "yes", Impact::Auth),
            ("CLERK_SERVER_TIMING", "off", Impact::Auth),
            ("CLERK_EMERGENCY_BYPASS", "yes", Impact::Bypass),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "tomorrow", Impact::Bypass),
            ("CLERK_EMERGENCY_BYPASS_PATHS", "app/*", Impact::Bypass),
            ("CLERK_NEVER_BYPASS_PATHS", "/a*", Impact::Bypass),
            ("CLERK_EMERGENCY_GRACE_SECONDS", "604801", Impact::Bypass),
            (
                "CLERK_WEBHOOK_SIGNING_SECRET",
                "whsec_%%%notbase64",
                Impact::Webhooks,
            ),
            ("CLERK_WEBHOOKS_PAUSED", "paused", Impact::Webhooks),
            ("CLERK_ADMIN_TOKEN", "short-secret-value", Impact::Admin),
            ("CLERK_STATUS_URL", "status.example", Impact::Diagnose),
        ];
        let key = pem();
        for (name, value, impact) in cases {
            let c = Config::from_pairs(&[("CLERK_JWT_KEY", &key), (name, value)]);
            let c = if name == "CLERK_JWT_KEY" {
                Config::from_pairs(&[(name, value)])
            } else {
                c
            };
            assert_eq!(problem_vars(&c), [name], "{name}={value}");
            let p = &c.problems[0];
            assert_eq!(p.impact, impact, "{name}");
            assert!(
                !p.problem.contains(value.trim()),
                "{name}: problem text leaks the value"
            );
        }
    }

    #[test]
    fn a_broken_bypass_variable_turns_the_bypass_off() {
        let c = Config::from_pairs(&[
            ("CLERK_JWT_KEY", &pem()),
            ("CLERK_EMERGENCY_BYPASS", "true"),
            ("CLERK_NEVER_BYPASS_PATHS", "admin"),
        ]);
        assert_eq!(c.bypass.mode, BypassMode::Off);
        assert!(!c.has_problems(Impact::Auth));
    }

    #[test]
    fn blank_bypass_is_unset_not_invalid() {
        for blank in ["", "   "] {
            let c =
                Config::from_pairs(&[("CLERK_JWT_KEY", &pem()), ("CLERK_EMERGENCY_BYPASS", blank)]);
            assert!(c.problems.is_empty(), "{blank:?}: {:?}", c.problems);
            assert_eq!(c.bypass.mode, BypassMode::Off);
        }
    }

    #[test]
    fn bypass_survives_other_broken_variables() {
        let c = Config::from_pairs(&[
            ("CLERK_EMERGENCY_BYPASS", " TRUE "),
            ("CLERK_EMERGENCY_BYPASS_REASON", "INC-42"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "2030-01-01T00:00:00Z"),
            ("CLERK_CLOCK_SKEW_MS", "lots"),
        ]);
        assert!(c.has_problems(Impact::Auth));
        assert_eq!(c.bypass.mode, BypassMode::Open);
        assert_eq!(c.bypass.reason.as_deref(), Some("INC-42"));
        assert_eq!(c.bypass.until_ms, Some(1_893_456_000_000));
    }

    #[test]
    fn publishable_keys_and_cookie_suffixes() {
        let v = vectors();
        let pk = v["publishable_keys"]["pk_test"].as_str().unwrap();
        let c = Config::from_pairs(&[
            ("CLERK_JWT_KEY", &pem()),
            ("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", pk),
        ]);
        let parsed = c.publishable_key.unwrap();
        assert_eq!(
            parsed.frontend_api,
            v["publishable_keys"]["decoded_frontend_api"]
                .as_str()
                .unwrap()
        );
        assert!(!parsed.production);
        for case in v["cookie_suffix"]["cases"].as_array().unwrap() {
            let pk = case["publishable_key"].as_str().unwrap();
            assert_eq!(cookie_suffix(pk), case["suffix"].as_str().unwrap(), "{pk}");
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let c = Config::from_pairs(&[
            ("CLERK_SECRET_KEY", "sk_test_supersecretvalue"),
            ("CLERK_ADMIN_TOKEN", "admin-token-0123456789-0123456789-abc"),
        ]);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("supersecretvalue"));
        assert!(!dbg.contains("admin-token-0123456789"));
    }

    #[test]
    fn the_variable_table_lists_every_variable_read() {
        let read = std::cell::RefCell::new(Vec::new());
        let c = Config::from_env(&|name: &str| {
            read.borrow_mut().push(name.to_owned());
            None
        });
        for name in read.borrow().iter() {
            assert!(
                VARIABLES.contains(&name.as_str()),
                "{name} is not in VARIABLES"
            );
        }
        for name in VARIABLES {
            assert!(
                read.borrow().iter().any(|n| n == name),
                "{name} is never read"
            );
        }
        assert!(c.set_variables.is_empty());
        assert_eq!(c.status_url.as_deref(), Some(DEFAULT_STATUS_URL));
        let set = Config::from_pairs(&[("CLERK_SECRET_KEY", "sk_test_x"), ("ORIGIN_URL", " ")]);
        assert_eq!(set.set_variables, ["CLERK_SECRET_KEY"]);
    }
}
