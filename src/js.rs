//! wasm-bindgen exports for the npm package in `pkg-js/` (feature `js`).
//!
//! Every export is wrapped once in `pkg-js/api.js`, which both package entries (Node and
//! edge) re-export. Values cross the boundary as JSON text: one `JSON.parse` on the JS side
//! is cheaper and simpler than converting object graphs field by field, and it keeps this
//! module free of JS object plumbing. Names follow CONTRACT.md section 4.

use std::cell::RefCell;

use serde_json::{json, Map, Value};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::auth::keys::{self, VerifyingKey};

use crate::auth::verified_cache::VerifiedTokenCache;
use crate::webhook::{self, WebhookHeaders};

/// The crate version, as the package reports it (`version()` in JavaScript).
#[wasm_bindgen(js_name = version)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

thread_local! {
    /// The last `jwtKey` parsed: apps pass the same PEM on every call, and parsing it
    /// (base64 + DER) would otherwise cost more than the rest of a cached verification.
    static PEM_KEY: RefCell<Option<(String, VerifyingKey)>> = const { RefCell::new(None) };
}

pub(crate) fn pem_key(pem: &str) -> VerifyingKey {
    if let Some(key) = PEM_KEY.with(|k| {
        k.borrow()
            .as_ref()
            .filter(|(cached, _)| cached == pem)
            .map(|(_, key)| key.clone())
    }) {
        return key;
    }
    // `@clerk/backend` only finds a bad PEM when WebCrypto refuses to import it, i.e. after
    // decoding the token: an unusable key reproduces that order.
    let key = keys::parse_pem(pem).unwrap_or_else(VerifyingKey::unusable);
    PEM_KEY.with(|k| *k.borrow_mut() = Some((pem.to_owned(), key.clone())));
    key
}

thread_local! {
    /// Tokens already verified in this isolate (see [`crate::auth::verified_cache`]).
    pub(crate) static TOKENS: RefCell<VerifiedTokenCache> = RefCell::new(VerifiedTokenCache::default());
}

/// `verifyWebhook` core: `headers_json` maps lower-case header names to values.
#[wasm_bindgen(js_name = verifyWebhookJson)]
pub fn verify_webhook_json(headers_json: &str, body: &str, secret: &str, now_ms: f64) -> String {
    let headers: Map<String, Value> = serde_json::from_str(headers_json).unwrap_or_default();
    let lookup = WebhookHeaders::from_lookup(|name| headers.get(name).and_then(Value::as_str));
    let result = webhook::parse_secrets(secret).and_then(|secrets| {
        let now_secs = (now_ms / 1000.0).floor() as i64;
        webhook::verify_webhook(&lookup, body.as_bytes(), &secrets, now_secs)
    });
    match result {
        Ok(verified) => json!({ "ok": true, "event": verified.payload }),
        Err(e) => json!({ "ok": false, "reason": e.code() }),
    }
    .to_string()
}

// ------------------------------------------------------------------------------------------
// The protected-request flow for JavaScript runtimes (Next.js edge middleware, route handlers
// in Node): the same steps as the Worker adapter (src/worker/), with the I/O done by
// `pkg-js/middleware.js` and `pkg-js/handlers.js` (fetch, the deny-list store) between calls.
pub mod edge {
    //! [`Guard`]: one parsed configuration with its JWKS and verified-token caches, and the
    //! decisions of every route, each answered as JSON text.
    //!
    //! Responses cross the boundary as `{"status", "headers": [[name, value]...], "body"}`
    //! plus `"audit"`: the audit line, already JSON, for the caller to `console.log` as is.
    //! Nothing returned here holds a token, a cookie or a secret, except the headers of a
    //! Backend API call (`Authorization: Bearer <CLERK_SECRET_KEY>`), which go to `fetch` only.

    use std::collections::VecDeque;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde::Deserialize;
    use serde_json::{json, Map, Value};
    use sha2::{Digest, Sha256};
    use wasm_bindgen::prelude::wasm_bindgen;

    use crate::admin::access::{self, AccessRefusal};
    use crate::admin::revocation::{
        self, admin_plan, check_admin_head, session_deny_ttl_seconds, AdminError, AdminPlan,
        AdminRequestHead, AdminRoute, AdminStep, DenyEntry, DenySource, DenyTtlInputs, PlanContext,
        StepOutcome,
    };
    use crate::audit::{AuditEvent, Level, RequestContext};
    use crate::auth::handshake::return_leg::{handshake_payload_request, verify_handshake_token};
    use crate::auth::handshake::{
        authenticate, Authenticated, HandshakeContext, LegDirectives, RequestParts,
        ReturnLegSource, NONCE_WITHOUT_SECRET,
    };
    use crate::auth::keys::{self, FetchDecision, JwksCache};
    use crate::auth::token::{
        begin_cached, complete_cached, decode, decode_jwt, find_session_token,
        token_from_authorization, verify_cached, ClaimRules, KeySource, PendingSignature,
        SessionClaims, Step, TokenError, Verification,
    };
    use crate::auth::verified_cache::VerifiedTokenCache;
    use crate::clerk_api::{
        request_url, ApiCall, ApiOutcome, ApiRequest, CallProgress, ATTEMPT_TIMEOUT_MS,
    };
    use crate::config::{Config, Impact, KeyConfig};
    use crate::diagnose::live::{AuthWork, LiveStats};
    use crate::diagnose::memory::{wasm_pages, IsolateMemory};
    use crate::diagnose::report;
    use crate::policy::bypass::BypassMode;
    use crate::policy::decision::{
        decide_with, forbidden, handshake_applies, needs_verification, route,
        signed_out_forward_headers, Decision, DenyListHit, RequestFacts, Route, Unmet,
        REASON_PUBLIC_PATH,
    };
    use crate::policy::paths::decode_path;
    use crate::webhook::{
        effects, verify_webhook, ClerkEvent, PayloadProblem, WebhookEffect, WebhookError,
        WebhookHeaders, WebhookRefusal, MAX_BODY_BYTES as WEBHOOK_MAX_BODY_BYTES,
    };

    fn now_ms(now: f64) -> i64 {
        if now.is_finite() {
            now as i64
        } else {
            0
        }
    }

    /// What the JavaScript side read from the request. Header values are passed only to
    /// the token finder and the decision; the audit line takes the [`RequestContext`].
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Facts {
        method: String,
        /// The raw URL path (percent-encoded, no query).
        path: String,
        /// The full URL (the sign-in redirect's `redirect_url`).
        url: String,
        authorization: Option<String>,
        cookie: Option<String>,
        sec_fetch_dest: Option<String>,
        accept: Option<String>,
        host: Option<String>,
        forwarded_host: Option<String>,
        forwarded_proto: Option<String>,
        referer: Option<String>,
        /// The outcomes of the handshake nonce exchange's attempts so far (the JS side adds
        /// each answer to the facts and asks again): `api_outcome`'s shapes.
        handshake_attempts: Vec<Value>,
        request_id: String,
        ip: String,
        user_agent: String,
    }

    impl Facts {
        fn parse(json: &str) -> Self {
            serde_json::from_str(json).unwrap_or_default()
        }

        fn parts(&self) -> RequestParts<'_> {
            RequestParts {
                method: &self.method,
                url: &self.url,
                host: self.host.as_deref(),
                forwarded_host: self.forwarded_host.as_deref(),
                forwarded_proto: self.forwarded_proto.as_deref(),
                cookie: self.cookie.as_deref(),
                sec_fetch_dest: self.sec_fetch_dest.as_deref(),
                accept: self.accept.as_deref(),
                referer: self.referer.as_deref(),
            }
        }

        fn context(&self) -> RequestContext {
            RequestContext::new(
                &self.request_id,
                &self.method,
                &self.path,
                &self.ip,
                &self.user_agent,
            )
        }
    }

    /// What a protected request did (`{"total_us", "token", "jwks_us", ...}`, from the
    /// middleware's clock) and its total time; missing or malformed parts count as not done.
    fn auth_work(json: Option<&str>) -> (AuthWork, u64) {
        let value: Value = json
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or(Value::Null);
        let micros = |name: &str| value.get(name).and_then(Value::as_u64);
        let work = AuthWork {
            token: value.get("token").and_then(Value::as_bool).unwrap_or(false),
            jwks_us: micros("jwks_us"),
            webcrypto_us: micros("webcrypto_us"),
            denylist_us: micros("denylist_us"),
            handshake_us: micros("handshake_us"),
        };
        (work, micros("total_us").unwrap_or(0))
    }

    /// A JSON answer: `cache-control: no-store` like every answer of the Worker.
    fn respond(
        status: u16,
        body: &Value,
        extra: &[(&str, String)],
        audit: Option<String>,
    ) -> Value {
        let mut headers = vec![
            json!(["content-type", "application/json"]),
            json!(["cache-control", "no-store"]),
        ];
        headers.extend(
            extra
                .iter()
                .map(|(n, v)| json!([n.to_ascii_lowercase(), v])),
        );
        json!({
            "action": "respond",
            "status": status,
            "headers": headers,
            "body": body.to_string(),
            "audit": audit,
        })
    }

    fn line(event: AuditEvent, request: &RequestContext, now: i64) -> String {
        event.with_request(request).to_line(now)
    }

    /// A Backend API call, as `fetch` arguments. The headers hold the secret key.
    fn call_json(api_url: &str, secret: &str, request: &ApiRequest, delay_ms: u64) -> Value {
        json!({
            "kind": "call",
            "method": request.method.as_str(),
            "url": request_url(api_url, request),
            "headers": request
                .headers(secret)
                .into_iter()
                .map(|(n, v)| json!([n, v]))
                .collect::<Vec<_>>(),
            "body": request.body,
            "delay_ms": delay_ms,
            "timeout_ms": ATTEMPT_TIMEOUT_MS,
        })
    }

    /// A Backend API call the middleware sends itself with `fetch` (`{url, method, headers,
    /// body, delay_ms, timeout_ms}`), as opposed to an admin plan's step.
    fn fetch_plan(api_url: &str, secret: &str, request: &ApiRequest, delay_ms: u64) -> Value {
        let mut plan = call_json(api_url, secret, request, delay_ms);
        if let Value::Object(map) = &mut plan {
            map.remove("kind");
        }
        plan
    }

    /// `{"status", "body", "retry_after"}` | `{"timeout": true}` | `{"network_error": text}`.
    fn api_outcome(json: &str) -> ApiOutcome {
        api_outcome_value(&serde_json::from_str(json).unwrap_or(Value::Null))
    }

    fn api_outcome_value(value: &Value) -> ApiOutcome {
        ApiOutcome::from_json(value)
    }

    /// Either the verification, or the JWKS fetch that must happen first.
    enum Prepared {
        Ready(Verification),
        FetchJwks(Value),
        /// A signature check for WebCrypto (see [`PendingChecks::insert`]).
        CheckSignature(Value),
    }

    /// Everything a protected request's decision needs, or the I/O that must happen first.
    enum Gathered {
        Ready {
            /// The verification of the request's own token.
            verification: Verification,
            /// Clerk's cookie path, when [`handshake_applies`].
            clerk: Option<Authenticated>,
        },
        FetchJwks(Value),
        CheckSignature(Value),
        /// One attempt of the handshake nonce exchange: `{url, method, headers, delay_ms,
        /// timeout_ms}` for `fetch`; its outcome goes into the facts' `handshake_attempts`.
        Call(Value),
    }

    impl From<Prepared> for Gathered {
        fn from(prepared: Prepared) -> Self {
            match prepared {
                Prepared::Ready(verification) => Gathered::Ready {
                    verification,
                    clerk: None,
                },
                Prepared::FetchJwks(plan) => Gathered::FetchJwks(plan),
                Prepared::CheckSignature(check) => Gathered::CheckSignature(check),
            }
        }
    }

    /// Most signature checks in flight at once; beyond it the oldest is dropped (its request
    /// then verifies in Rust).
    const MAX_PENDING_CHECKS: usize = 256;

    /// Signature checks handed to WebCrypto and not yet answered.
    #[derive(Default)]
    struct PendingChecks {
        next_id: u64,
        /// Oldest first.
        entries: VecDeque<(u64, PendingSignature)>,
    }

    impl PendingChecks {
        /// Keeps `pending` (whose key has the components `n`, `e`) and describes the check for
        /// `crypto.subtle.verify` in the shape of src/js_fast.rs's (`pending`, `alg`, `keyId`,
        /// `n`, `e`, `data`, `sig`), so that pkg-js/webcrypto.js serves both. `keyId` names the
        /// key for the `CryptoKey` cache: a digest of the algorithm and the key's components.
        fn insert(&mut self, pending: PendingSignature, (n, e): (Vec<u8>, Vec<u8>)) -> Value {
            let alg = pending.alg().name();
            let digest = Sha256::new()
                .chain_update(alg)
                .chain_update([0])
                .chain_update(&n)
                .chain_update([0])
                .chain_update(&e)
                .finalize();
            let key_id: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            self.next_id = self.next_id.saturating_add(1);
            let check = json!({
                "pending": self.next_id,
                "alg": alg,
                "keyId": format!("g{key_id}"),
                "n": URL_SAFE_NO_PAD.encode(&n),
                "e": URL_SAFE_NO_PAD.encode(&e),
                "data": pending.signing_input(),
                "sig": URL_SAFE_NO_PAD.encode(pending.signature()),
            });
            if self.entries.len() >= MAX_PENDING_CHECKS {
                self.entries.pop_front();
            }
            self.entries.push_back((self.next_id, pending));
            check
        }

        fn take(&mut self, id: f64) -> Option<PendingSignature> {
            let index = self.entries.iter().position(|(key, _)| *key as f64 == id)?;
            self.entries.remove(index).map(|(_, pending)| pending)
        }
    }

    /// How long after `exp` a valid token still matters: the clock skew, plus the grace
    /// window when a grace bypass is configured.
    fn keep_after_exp_ms(config: &Config) -> i64 {
        let grace_ms = if config.bypass.mode == BypassMode::Grace {
            i64::try_from(config.bypass.grace_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
        } else {
            0
        };
        config.clock_skew_ms.saturating_add(grace_ms)
    }

    /// One configuration and its caches: what a Worker isolate keeps (src/worker/isolate.rs),
    /// for one `env` object of a JavaScript runtime.
    #[wasm_bindgen]
    pub struct Guard {
        config: Config,
        jwks: JwksCache,
        /// Why the last JWKS refresh failed, for requests while no key is available.
        jwks_error: Option<TokenError>,
        tokens: VerifiedTokenCache,
        pending: PendingChecks,
        /// What [`Self::identity`] gathered for the request it answered last, so that
        /// [`Self::decide`] on the same facts and clock does not read and verify it all again.
        /// Another request in between (the deny-list read awaits) only costs the recompute.
        ready: Option<ReadyRequest>,
        /// Recent protected-request decisions (`GET /__clerk/admin/diagnose`).
        live: LiveStats,
    }

    /// A request whose verification (and cookie-path state) is complete.
    struct ReadyRequest {
        facts_json: String,
        now: i64,
        verification: Verification,
        clerk: Option<Authenticated>,
    }

    #[wasm_bindgen]
    impl Guard {
        /// Parses the configuration from `{"NAME": "value", ...}` (CONTRACT.md section 1).
        #[wasm_bindgen(constructor)]
        pub fn new(env_json: &str) -> Guard {
            let env: Map<String, Value> = serde_json::from_str(env_json).unwrap_or_default();
            let config = Config::from_env(&|name: &str| {
                env.get(name).and_then(Value::as_str).map(str::to_owned)
            });
            Guard {
                config,
                jwks: JwksCache::new(),
                jwks_error: None,
                tokens: VerifiedTokenCache::default(),
                pending: PendingChecks::default(),
                ready: None,
                live: LiveStats::new(),
            }
        }

        /// The `config.invalid` audit lines (a JSON array of lines), to print once.
        #[wasm_bindgen(js_name = configProblems)]
        pub fn config_problems(&self, facts_json: &str, now: f64) -> String {
            // With the fields of the request that made the runtime read its configuration,
            // as the Worker's lines.
            let request = Facts::parse(facts_json).context();
            let lines: Vec<String> = self
                .config
                .problems
                .iter()
                .map(|problem| {
                    let event = AuditEvent::new(Level::Error, "config.invalid")
                        .text("variable", problem.variable)
                        .text("problem", &problem.problem);
                    line(event, &request, now_ms(now))
                })
                .collect();
            Value::from(lines).to_string()
        }

        /// Which handler a raw request path goes to: `health`, `webhooks`, `admin-revoke`,
        /// `admin-restore`, `clerk-not-found`, `public` or `protected`.
        pub fn route(&self, raw_path: &str) -> String {
            match route(&self.config, &decode_path(raw_path)) {
                Route::Health => "health",
                Route::Webhooks => "webhooks",
                Route::AdminRevoke => "admin-revoke",
                Route::AdminRestore => "admin-restore",
                Route::AdminDiagnose => "admin-diagnose",
                // In Next.js the resync and export are the app's own route handlers
                // (`resyncUsers`), not middleware routes.
                Route::AdminSync(_) | Route::ClerkNotFound => "clerk-not-found",
                Route::Public => "public",
                Route::Protected => "protected",
            }
            .to_owned()
        }

        /// `GET /__clerk/health`, the same JSON as the Worker's.
        pub fn health(&self, method: &str, now: f64) -> String {
            if !method.eq_ignore_ascii_case("GET") {
                return respond(
                    405,
                    &json!({"error": "method-not-allowed", "message": "use GET /__clerk/health"}),
                    &[("allow", "GET".to_owned())],
                    None,
                )
                .to_string();
            }
            let failing = self.jwks.last_failure().is_some();
            let body = crate::health::health_report(&self.config, failing, now_ms(now));
            respond(200, &body, &[], None).to_string()
        }

        /// Verifies the request's token as far as the caches allow. With `allow_async`,
        /// answers `{"fetch": {url, headers, timeout_ms}}` when the JWKS must be fetched first
        /// (feed the answer to [`Self::record_jwks`], then ask again) and `{"check": {...}}`
        /// when a signature must be checked (run `crypto.subtle.verify`, feed the answer to
        /// [`Self::complete_check`], then ask again); without, it does neither (the RSA runs
        /// in Rust). Finally `{"identity": null | {"user_id", "session_id"}}`: whose deny-list
        /// entries to check. A signature is checked once: [`Self::decide`] finds the result
        /// in the cache.
        pub fn identity(&mut self, facts_json: &str, now: f64, allow_async: bool) -> String {
            let facts = Facts::parse(facts_json);
            let now = now_ms(now);
            match self.gather(&facts, now, allow_async) {
                Gathered::FetchJwks(plan) => json!({ "fetch": plan }),
                Gathered::CheckSignature(check) => json!({ "check": check }),
                Gathered::Call(plan) => json!({ "call": plan }),
                Gathered::Ready {
                    verification,
                    clerk,
                } => {
                    let identity = match &clerk {
                        Some(auth) => auth.state.identity(),
                        None => verification.identity(),
                    };
                    let answer = json!({
                        "identity": identity.map(|c| json!({
                            "user_id": c.user_id,
                            "session_id": c.session_id,
                        })),
                        "token": !matches!(verification, Verification::NoToken),
                    });
                    self.ready = Some(ReadyRequest {
                        facts_json: facts_json.to_owned(),
                        now,
                        verification,
                        clerk,
                    });
                    answer
                }
            }
            .to_string()
        }

        /// Records the answer of a signature check planned by [`Self::identity`]: `valid` is
        /// what `crypto.subtle.verify` said, or `undefined` when WebCrypto failed (the
        /// pure-Rust RSA then decides). An unknown id (dropped from a full table) is ignored:
        /// the next [`Self::identity`] plans the check again.
        #[wasm_bindgen(js_name = completeCheck)]
        pub fn complete_check(&mut self, id: f64, valid: Option<bool>, now: f64) {
            let Some(pending) = self.pending.take(id) else {
                return;
            };
            let valid = valid.unwrap_or_else(|| pending.verify_in_rust());
            let rules = ClaimRules {
                authorized_parties: &self.config.authorized_parties,
                clock_skew_ms: self.config.clock_skew_ms,
                now_ms: now_ms(now),
            };
            let keep = keep_after_exp_ms(&self.config);
            complete_cached(&mut self.tokens, pending, valid, &rules, keep);
        }

        /// Records the answer of a JWKS fetch planned by [`Self::identity`]; `outcome_json` is
        /// `{"status", "body"}`, `{"timeout": true}` or `{"network_error": text}`. Answers
        /// `{"audit": line | null}` (`keys.refresh_failed`).
        #[wasm_bindgen(js_name = recordJwks)]
        pub fn record_jwks(&mut self, facts_json: &str, outcome_json: &str, now: f64) -> String {
            let now = now_ms(now);
            let failure = match api_outcome(outcome_json) {
                ApiOutcome::Response { status, body, .. } if (200..300).contains(&status) => {
                    match keys::parse_jwks(body.as_bytes()) {
                        Ok(keys) => {
                            self.jwks.record_success(keys, now);
                            self.jwks_error = None;
                            // Cache hits skip key resolution: they must not outlive the keys.
                            self.tokens.clear();
                            return json!({ "audit": null }).to_string();
                        }
                        Err(e) => (e.jwks_reason(), format!("GET /v1/jwks: {e}")),
                    }
                }
                ApiOutcome::Response { status, .. } => (
                    TokenError::JwkRemoteFailedToLoad,
                    format!("GET /v1/jwks failed: HTTP {status}"),
                ),
                ApiOutcome::Timeout => (
                    TokenError::JwkRemoteFailedToLoad,
                    format!("GET /v1/jwks failed: no answer within {ATTEMPT_TIMEOUT_MS} ms"),
                ),
                ApiOutcome::NetworkError(why) => (
                    TokenError::JwkRemoteFailedToLoad,
                    format!("GET /v1/jwks failed: {why}"),
                ),
            };
            let (error, problem) = failure;
            self.jwks.record_failure(problem.clone(), now);
            self.jwks_error = Some(error);
            let event = AuditEvent::new(Level::Error, "keys.refresh_failed")
                .text("reason", error.code())
                .text("problem", &problem);
            json!({ "audit": line(event, &Facts::parse(facts_json).context(), now) }).to_string()
        }

        /// Decides a protected request: `deny_hit` is `"session"`, `"user"` or empty (what
        /// the deny-list holds for the identity of [`Self::identity`]); `work_json` is what
        /// the request did and how long it took, `{"total_us", "token", "jwks_us",
        /// "webcrypto_us", "handshake_us", "denylist_us"}` (any may be missing), recorded
        /// for the diagnosis and turned into the `Server-Timing` header. Answers
        /// `{"action": "forward", "headers": [[name, value]...], "response_headers",
        /// "audit"}` (set these request headers after removing every incoming `x-clerk-*`)
        /// or `{"action": "respond", "status", "headers", "body", "audit"}`.
        pub fn decide(
            &mut self,
            facts_json: &str,
            deny_hit: &str,
            now: f64,
            work_json: Option<String>,
        ) -> String {
            let facts = Facts::parse(facts_json);
            let now = now_ms(now);
            let ready = self
                .ready
                .take()
                .filter(|r| r.facts_json == facts_json && r.now == now);
            let gathered = match ready {
                Some(r) => Gathered::Ready {
                    verification: r.verification,
                    clerk: r.clerk,
                },
                None => self.gather(&facts, now, false),
            };
            let (verification, clerk) = match gathered {
                Gathered::Ready {
                    verification,
                    clerk,
                } => (verification, clerk),
                // Not planned without `allow_async`; never a pass if it were.
                Gathered::FetchJwks(_) | Gathered::CheckSignature(_) | Gathered::Call(_) => (
                    Verification::Rejected {
                        error: TokenError::JwkRemoteFailedToLoad,
                        signed: None,
                    },
                    None,
                ),
            };
            let deny_hit = match deny_hit {
                "session" => Some(DenyListHit::Session),
                "user" => Some(DenyListHit::User),
                _ => None,
            };
            let path = decode_path(&facts.path);
            let request_facts = RequestFacts {
                method: &facts.method,
                path: &path,
                url: &facts.url,
                sec_fetch_dest: facts.sec_fetch_dest.as_deref(),
                accept: facts.accept.as_deref(),
            };
            let outcome = decide_with(
                &self.config,
                &request_facts,
                &verification,
                clerk.as_ref().map(|auth| &auth.state),
                deny_hit,
                now,
            );
            let request = facts.context();
            // The lines a handshake always leaves (a loop, a failed exchange) come first.
            let events: Vec<String> = clerk
                .into_iter()
                .flat_map(|auth| auth.events)
                .map(|event| line(event, &request, now))
                .collect();
            let audit = outcome.audit.map(|event| line(event, &request, now));
            let pairs = |headers: &[(&str, String)]| -> Vec<Value> {
                headers.iter().map(|(n, v)| json!([n, v])).collect()
            };
            let mut response_headers = outcome.response_headers;
            let (work, total_us) = auth_work(work_json.as_deref());
            let refusal_reason = outcome.decision.refusal_reason();
            self.live.record(work.sample(total_us, refusal_reason), now);
            if self.config.server_timing {
                response_headers.push(("server-timing", work.server_timing(total_us)));
            }
            // A signed-out refusal a middleware callback may overrule (it lets signed-out
            // visitors see the route): the headers of the request forwarded signed out.
            let deferrable = match &outcome.decision {
                Decision::SignedOut { reason, .. } => Some(json!({
                    "reason": reason,
                    "headers": pairs(&signed_out_forward_headers(&self.config, reason, now)),
                    "response_headers": pairs(&response_headers),
                })),
                _ => None,
            };
            let mut answer = match outcome.decision.refusal() {
                Some(mut refusal) => {
                    refusal.headers.extend(response_headers.iter().cloned());
                    let mut answer =
                        respond(refusal.status, &refusal.body, &refusal.headers, audit);
                    if let Some(deferrable) = deferrable {
                        answer["deferrable"] = deferrable;
                    }
                    answer
                }
                None => json!({
                    "action": "forward",
                    "headers": pairs(&outcome.decision.forward_headers(&self.config, now)),
                    "response_headers": pairs(&response_headers),
                    "audit": audit,
                }),
            };
            answer["events"] = Value::from(events);
            answer.to_string()
        }

        /// The 404 of a signed-in request that lacks what a middleware callback's
        /// `auth.protect({ role, permission })` asked for: `identity_json` is `{"user_id",
        /// "session_id"}`, `role`/`permission` the unmet requirements (both empty: the
        /// callback's own predicate said no). Answers `{"status", "headers", "body",
        /// "audit"}` with an `auth.forbidden` line.
        pub fn forbidden(
            &self,
            facts_json: &str,
            identity_json: &str,
            role: &str,
            permission: &str,
            now: f64,
        ) -> String {
            let facts = Facts::parse(facts_json);
            let identity = serde_json::from_str::<Value>(identity_json)
                .ok()
                .and_then(|v| {
                    Some(SessionClaims {
                        user_id: v.get("user_id")?.as_str()?.to_owned(),
                        session_id: v
                            .get("session_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        ..SessionClaims::default()
                    })
                });
            let unmet = Unmet {
                role: Some(role).filter(|r| !r.is_empty()),
                permission: Some(permission).filter(|p| !p.is_empty()),
            };
            let outcome = forbidden(identity.as_ref(), unmet);
            let now = now_ms(now);
            let audit = outcome.audit.map(|e| line(e, &facts.context(), now));
            match outcome.decision.refusal() {
                Some(r) => respond(r.status, &r.body, &r.headers, audit),
                None => respond(500, &json!({ "error": "internal-error" }), &[], audit),
            }
            .to_string()
        }

        /// The request headers of a public path's request (forwarded unchecked): `[[name,
        /// value]...]`, `x-clerk-auth-status: signed-out` with reason `public-path`, signed.
        #[wasm_bindgen(js_name = publicHeaders)]
        pub fn public_headers(&self, now: f64) -> String {
            let headers = signed_out_forward_headers(&self.config, REASON_PUBLIC_PATH, now_ms(now));
            Value::from(
                headers
                    .iter()
                    .map(|(n, v)| json!([n, v]))
                    .collect::<Vec<_>>(),
            )
            .to_string()
        }

        /// A 500 that fails closed when the adapter's own I/O broke (`detail`: which part,
        /// e.g. `deny-list`), with its `middleware.error` line. The error's text is not
        /// taken: it could quote a header or a URL.
        #[wasm_bindgen(js_name = internalError)]
        pub fn internal_error(&self, facts_json: &str, detail: &str, now: f64) -> String {
            let facts = Facts::parse(facts_json);
            let detail = match detail {
                "deny-list" => "deny-list",
                "jwks" => "jwks",
                "store" => "store",
                "handler" => "handler",
                _ => "runtime",
            };
            let event = AuditEvent::new(Level::Error, "middleware.error")
                .text("reason", "internal-error")
                .text("detail", detail)
                .value("status", 500.into());
            let body = json!({
                "error": "internal-error",
                "message": "the edge auth layer failed; the request was not forwarded. \
                            See the middleware.error audit line with this request_id.",
                "request_id": facts.context().request_id,
            });
            respond(
                500,
                &body,
                &[],
                Some(line(event, &facts.context(), now_ms(now))),
            )
            .to_string()
        }

        /// The first step of a webhook delivery, before the body is read: `{"respond": ...}`
        /// (405, 503 paused, 500 misconfigured, 400 too large) or `{"read_limit": bytes}`.
        #[wasm_bindgen(js_name = webhookStart)]
        pub fn webhook_start(&self, facts_json: &str, content_length: &str, now: f64) -> String {
            let facts = Facts::parse(facts_json);
            let request = facts.context();
            let now = now_ms(now);
            let config = &self.config;
            let answer = if !facts.method.eq_ignore_ascii_case("POST") {
                respond(
                    405,
                    &json!({
                        "error": "method-not-allowed",
                        "message": "Svix delivers webhooks with POST",
                    }),
                    &[("allow", "POST".to_owned())],
                    None,
                )
            } else if config.webhooks_paused {
                webhook_refusal(WebhookRefusal::Paused, &request, now)
            } else if config.webhook_secrets.is_empty() || config.has_problems(Impact::Webhooks) {
                webhook_refusal(WebhookRefusal::Misconfigured, &request, now)
            } else {
                match content_length.trim().parse::<u64>() {
                    Ok(len) if len > WEBHOOK_MAX_BODY_BYTES as u64 => {
                        let len = usize::try_from(len).unwrap_or(usize::MAX);
                        let error = WebhookError::InvalidPayload(PayloadProblem::TooLarge { len });
                        webhook_refusal(
                            WebhookRefusal::Rejected {
                                error: &error,
                                svix_id: None,
                            },
                            &request,
                            now,
                        )
                    }
                    _ => return json!({ "read_limit": WEBHOOK_MAX_BODY_BYTES }).to_string(),
                }
            };
            json!({ "respond": answer }).to_string()
        }

        /// Verifies a delivery (`headers_json`: lower-case name -> value; `body`: the raw
        /// bytes; `too_large`: the reader stopped at the limit). Answers `{"respond": ...}`
        /// (400 rejected, 500 misconfigured) or `{"verified": {"svix_id", "type", "event",
        /// "writes": [{key, value, ttl_seconds}], "delivery"}}`: write the deny-list entries,
        /// hand `event` to the application, then call [`Self::webhook_finish`] with
        /// `delivery`.
        #[wasm_bindgen(js_name = webhookVerify)]
        pub fn webhook_verify(
            &self,
            facts_json: &str,
            headers_json: &str,
            body: &[u8],
            too_large: bool,
            now: f64,
        ) -> String {
            let facts = Facts::parse(facts_json);
            let request = facts.context();
            let now = now_ms(now);
            if too_large {
                let error =
                    WebhookError::InvalidPayload(PayloadProblem::TooLarge { len: body.len() });
                return json!({ "respond": webhook_refusal(WebhookRefusal::Rejected { error: &error, svix_id: None }, &request, now) })
                    .to_string();
            }
            let headers: Map<String, Value> =
                serde_json::from_str(headers_json).unwrap_or_default();
            let lookup =
                WebhookHeaders::from_lookup(|name| headers.get(name).and_then(Value::as_str));
            let verified = match verify_webhook(
                &lookup,
                body,
                &self.config.webhook_secrets,
                now.div_euclid(1000),
            ) {
                Ok(verified) => verified,
                Err(WebhookError::InvalidSecret(_)) => {
                    return json!({ "respond": webhook_refusal(WebhookRefusal::Misconfigured, &request, now) }).to_string()
                }
                Err(error) => {
                    return json!({ "respond": webhook_refusal(WebhookRefusal::Rejected { error: &error, svix_id: lookup.id }, &request, now) })
                        .to_string()
                }
            };
            let event = match ClerkEvent::from_payload(&verified.payload) {
                Ok(event) => event,
                Err(error) => {
                    let answer = webhook_refusal(
                        WebhookRefusal::Rejected {
                            error: &error,
                            svix_id: Some(&verified.id),
                        },
                        &request,
                        now,
                    );
                    return json!({ "respond": answer }).to_string();
                }
            };
            let event_type = verified.event_type.clone().unwrap_or_default();
            let deny_value = DenyEntry {
                source: DenySource::Webhook,
                reason: Some(event_type.clone()),
                created_at: u64::try_from(now).unwrap_or(0),
            }
            .to_json();
            let session_ttl = session_deny_ttl_seconds(DenyTtlInputs::WORST_CASE);
            let mut writes = Vec::new();
            let mut names = Vec::new();
            for effect in effects(&event) {
                match effect {
                    WebhookEffect::DenyUser { user_id } => {
                        names.push("deny_user");
                        writes.push(json!({
                            "key": revocation::Target::User(user_id).deny_key(),
                            "value": deny_value,
                            "ttl_seconds": null,
                        }));
                    }
                    WebhookEffect::DenySession { session_id, .. } => {
                        names.push("deny_session");
                        writes.push(json!({
                            "key": revocation::Target::Session(session_id).deny_key(),
                            "value": deny_value,
                            "ttl_seconds": session_ttl,
                        }));
                    }
                    // Rows of users are the application's business (its `onEvent`).
                    _ => {}
                }
            }
            let (user_id, session_id) = match &event {
                ClerkEvent::UserCreated(user) | ClerkEvent::UserUpdated(user) => {
                    (Some(user.id.clone()), None)
                }
                ClerkEvent::UserDeleted { user_id } => (Some(user_id.clone()), None),
                ClerkEvent::SessionEnded {
                    session_id,
                    user_id,
                    ..
                } => (Some(user_id.clone()), Some(session_id.clone())),
                _ => (None, None),
            };
            json!({
                "verified": {
                    "svix_id": verified.id,
                    "type": event_type,
                    "event": verified.payload,
                    "writes": writes,
                    "delivery": {
                        "svix_id": verified.id,
                        "type": event_type,
                        "effects": names,
                        "user_id": user_id,
                        "session_id": session_id,
                    },
                }
            })
            .to_string()
        }

        /// The answer to a verified delivery (`delivery_json` from [`Self::webhook_verify`],
        /// or `null` when the body could not be read): `outcome` is `accepted`, `duplicate`
        /// or `failed` (with `store`: `deny-list`, `dedupe`, `handler` or `request-body`).
        #[wasm_bindgen(js_name = webhookFinish)]
        pub fn webhook_finish(
            &self,
            facts_json: &str,
            delivery_json: &str,
            outcome: &str,
            store: &str,
            now: f64,
        ) -> String {
            let request = Facts::parse(facts_json).context();
            let now = now_ms(now);
            let delivery: Value = serde_json::from_str(delivery_json).unwrap_or(Value::Null);
            let text = |name: &str| {
                delivery
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let (svix_id, event_type) = (text("svix_id"), text("type"));
            let with_delivery = |event: AuditEvent| {
                event
                    .opt_text("svix_id", svix_id.as_deref())
                    .opt_text("type", event_type.as_deref())
            };
            match outcome {
                "duplicate" => {
                    let event = with_delivery(AuditEvent::new(Level::Info, "webhook.duplicate"))
                        .value("status", 200.into());
                    respond(
                        200,
                        &json!({"ok": true, "duplicate": true, "svix_id": svix_id, "type": event_type}),
                        &[],
                        Some(line(event, &request, now)),
                    )
                }
                "accepted" => {
                    let event = with_delivery(AuditEvent::new(Level::Info, "webhook.accepted"))
                        .value("status", 200.into())
                        .value(
                            "effects",
                            delivery.get("effects").cloned().unwrap_or(json!([])),
                        )
                        .opt_text("user_id", text("user_id").as_deref())
                        .opt_text("session_id", text("session_id").as_deref());
                    respond(
                        200,
                        &json!({"ok": true, "svix_id": svix_id, "type": event_type}),
                        &[],
                        Some(line(event, &request, now)),
                    )
                }
                _ => {
                    let store = match store {
                        "deny-list" => "deny-list",
                        "dedupe" => "dedupe",
                        "handler" => "handler",
                        _ => "request-body",
                    };
                    let event = with_delivery(AuditEvent::new(Level::Error, "webhook.failed"))
                        .text("reason", "not-processed")
                        .text("store", store)
                        .value("status", 500.into());
                    let message = if store == "handler" {
                        "the application's onEvent failed; Svix will redeliver the event, and \
                         applying it again is safe"
                            .to_owned()
                    } else {
                        format!(
                            "the event could not be stored ({store} failed); nothing is lost: \
                             Svix will redeliver it, and applying it again is safe"
                        )
                    };
                    respond(
                        500,
                        &json!({"error": "not-processed", "message": message}),
                        &[],
                        Some(line(event, &request, now)),
                    )
                }
            }
            .to_string()
        }

        /// Checks an admin request before its body is read (`route`: `revoke` or `restore`):
        /// `{"respond": ...}` (404, 405, 401, 403, 415, 413, 500) or `{"read_limit": bytes}`.
        #[wasm_bindgen(js_name = adminHead)]
        pub fn admin_head(
            &self,
            route: &str,
            facts_json: &str,
            content_type: &str,
            content_length: &str,
            now: f64,
        ) -> String {
            let facts = Facts::parse(facts_json);
            let route = admin_route(route);
            let admin_token = self.config.admin_token.as_ref().map(|t| t.expose());
            let head = AdminRequestHead {
                method: &facts.method,
                authorization: facts.authorization.as_deref(),
                content_type: Some(content_type).filter(|v| !v.is_empty()),
                content_length: Some(content_length).filter(|v| !v.is_empty()),
            };
            let request = facts.context();
            let now = now_ms(now);
            if let Err(refusal) = access::check_access(
                &self.config,
                facts.method == "POST",
                "POST",
                head.authorization,
            ) {
                return json!({ "respond": access_refusal(&refusal, &request, now) }).to_string();
            }
            // Access is granted: what is left are the body's own checks.
            match check_admin_head(admin_token, &head) {
                Ok(()) => json!({ "read_limit": revocation::MAX_BODY_BYTES }).to_string(),
                Err(error) => {
                    json!({ "respond": admin_refusal(route, &error, &request, now) }).to_string()
                }
            }
        }

        /// A revoke or restore operation for a body that passed [`Self::admin_head`]
        /// (`body_state`: `"complete"`, `"too-large"` when the reader stopped at the limit,
        /// `"unreadable"` when the stream failed).
        #[wasm_bindgen(js_name = adminRun)]
        pub fn admin_run(&self, route: &str, body: &[u8], body_state: &str, now: f64) -> AdminRun {
            let route = admin_route(route);
            let plan = if body_state == "too-large" {
                Err(AdminError::BodyTooLarge)
            } else if body_state != "complete" {
                Err(AdminError::BodyUnreadable)
            } else {
                admin_plan(route, body, PlanContext::new(now_ms(now)))
            };
            AdminRun {
                route,
                plan,
                api_url: self.config.api_url.clone(),
                secret: self
                    .config
                    .secret_key
                    .as_ref()
                    .map(|s| s.expose().to_owned()),
            }
        }

        /// `GET /__clerk/admin/diagnose`, first step (the same checks and lines as the
        /// Worker's): `{"respond": ...}` (404 without `CLERK_ADMIN_TOKEN`, 500, 405, 401) or
        /// `{"plan": {"jwks", "backend", "status_page", "store_key"}}`: the probes to run at
        /// once, each a `fetch` plan (`{url, method, headers, timeout_ms}`; `backend` also
        /// `read_headers`) or `null` when not configured, and the deny-list key to read. The
        /// Backend API plans hold the secret key: for `fetch` only.
        #[wasm_bindgen(js_name = diagnoseHead)]
        pub fn diagnose_head(&self, facts_json: &str, now: f64) -> String {
            let facts = Facts::parse(facts_json);
            if let Some(refusal) = self.admin_get_access(&facts, now_ms(now)) {
                return json!({ "respond": refusal }).to_string();
            }
            let config = &self.config;
            let api = |request: &ApiRequest| {
                let secret = config.secret_key.as_ref()?;
                Some(fetch_plan(&config.api_url, secret.expose(), request, 0))
            };
            let jwks = match config.keys {
                KeyConfig::Jwks => api(&ApiRequest::jwks()),
                KeyConfig::Pem(_) | KeyConfig::None => None,
            };
            let mut backend = api(&ApiRequest::probe_users());
            if let Some(Value::Object(plan)) = &mut backend {
                plan.insert("read_headers".into(), json!(report::RATE_LIMIT_HEADERS));
            }
            let status_page = config.status_url.as_ref().map(|url| {
                json!({
                    "url": url,
                    "method": "GET",
                    "headers": [["accept", "application/json"]],
                    "timeout_ms": report::STATUS_TIMEOUT_MS,
                })
            });
            json!({ "plan": {
                "jwks": jwks,
                "backend": backend,
                "status_page": status_page,
                "store_key": report::ABSENT_KEY,
            }})
            .to_string()
        }

        /// `GET /__clerk/admin/diagnose`, last step: the answer (`{status, headers, body,
        /// audit}`, JSON or text by `query`, the URL's query string without `?`) from what
        /// the probes of [`Self::diagnose_head`]'s plan saw (`outcomes_json`: `{"jwks",
        /// "backend", "status_page"}` each `null` (not run) or `{took_ms}` plus `{status,
        /// body, headers}`, `{timeout: true}` or `{network_error}`; `"store"`: `{took_ms, ok}`
        /// or `{took_ms, error}`). `middleware`: whether this runtime sees the protected
        /// traffic (the middleware); a route handler's live section is reported only when
        /// its guard recorded decisions.
        #[wasm_bindgen(js_name = diagnose)]
        pub fn diagnose(
            &self,
            facts_json: &str,
            outcomes_json: &str,
            query: &str,
            middleware: bool,
            now: f64,
        ) -> String {
            let outcomes: Value = serde_json::from_str(outcomes_json).unwrap_or(Value::Null);
            let not_set = "CLERK_SECRET_KEY is not set";
            let jwks = match self.config.keys {
                KeyConfig::Jwks => {
                    let (probe, body) = probe_of(&outcomes["jwks"], not_set);
                    Some(report::JwksFacts::new(
                        probe,
                        body.as_deref(),
                        self.jwks.has_keys(),
                    ))
                }
                KeyConfig::Pem(_) | KeyConfig::None => None,
            };
            let backend = &outcomes["backend"];
            let headers = &backend["headers"];
            let rate_limit =
                report::RateLimit::from_headers(|name| headers[name].as_str(), Some(now_ms(now)));
            let (status_probe, status_body) =
                probe_of(&outcomes["status_page"], "CLERK_STATUS_URL is invalid");
            let store = &outcomes["store"];
            let store_probe = report::Probe::ran(
                millis(&store["took_ms"]),
                if store["ok"] == true {
                    report::Outcome::Done
                } else {
                    report::Outcome::Failed("store read failed")
                },
            );
            let live = self.live.summary();
            let facts = report::Facts {
                jwks,
                backend: (probe_of(backend, not_set).0, rate_limit),
                status_page: report::StatusFacts::new(status_probe, status_body.as_deref()),
                deny_list: (store_probe, "store"),
                d1: None,
                live: (middleware || live.decisions > 0).then_some(live),
                jwks_refresh_failing: self.jwks.last_failure().is_some(),
                memory: Some(IsolateMemory::of(
                    wasm_pages(),
                    &self.tokens,
                    &self.jwks,
                    &self.live,
                    [],
                )),
            };
            let now = now_ms(now);
            let diagnosis = report::diagnose(&self.config, &facts, now);
            let audit = Some(line(
                diagnosis.audit_event(),
                &Facts::parse(facts_json).context(),
                now,
            ));
            if report::wants_text(query) {
                let mut answer = respond(200, &Value::Null, &[], audit);
                answer["headers"] = json!([
                    ["content-type", "text/plain; charset=utf-8"],
                    ["cache-control", "no-store"]
                ]);
                answer["body"] = diagnosis.to_text().into();
                return answer.to_string();
            }
            respond(200, &diagnosis.to_json(), &[], audit).to_string()
        }
    }

    impl Guard {
        /// The checks of an admin `GET` route ([`access::check_access`]): the refusal with
        /// its line, or `None` to go on.
        fn admin_get_access(&self, facts: &Facts, now: i64) -> Option<Value> {
            let method_allowed = facts.method.eq_ignore_ascii_case("GET");
            access::check_access(
                &self.config,
                method_allowed,
                "GET",
                facts.authorization.as_deref(),
            )
            .err()
            .map(|refusal| access_refusal(&refusal, &facts.context(), now))
        }

        /// The request's own session token (`Authorization`, else the cookie Clerk's rules
        /// pick), when the decision needs it verified.
        fn request_token(&self, facts: &Facts, path: &str, now: i64) -> Option<String> {
            if !needs_verification(&self.config, path, now) {
                return None;
            }
            let cookies = self.config.cookie_context(now);
            find_session_token(
                facts.authorization.as_deref(),
                facts.cookie.as_deref(),
                &cookies,
            )
            .map(|(token, _)| token.into_owned())
        }

        /// The verification of a protected request, and Clerk's cookie path when it
        /// applies: the return leg first (nonce exchange, handshake token), then the session
        /// tokens, each step stopping where I/O is needed.
        fn gather(&mut self, facts: &Facts, now: i64, allow_async: bool) -> Gathered {
            let path = decode_path(&facts.path);
            let has_bearer = facts
                .authorization
                .as_deref()
                .and_then(token_from_authorization)
                .is_some();
            // Clerk's cookie path reads the request once; its session token is the one verified.
            let ctx = handshake_applies(&self.config, &path, has_bearer, now)
                .then(|| HandshakeContext::read(&self.config, &facts.parts(), now))
                .flatten();
            let token = match &ctx {
                Some(ctx) => ctx.session_token.clone(),
                None => self.request_token(facts, &path, now),
            };
            let verification = match token {
                Some(token) => match self.prepare_token(&token, now, allow_async) {
                    Prepared::Ready(verification) => verification,
                    other => return other.into(),
                },
                None => Verification::NoToken,
            };
            let Some(ctx) = ctx else {
                return Gathered::Ready {
                    verification,
                    clerk: None,
                };
            };
            let leg = match ctx.return_leg() {
                None => None,
                Some(ReturnLegSource::Nonce(nonce)) => {
                    match self.exchange_nonce(nonce, &facts.handshake_attempts, allow_async) {
                        Ok(leg) => Some(leg),
                        Err(call) => return Gathered::Call(call),
                    }
                }
                Some(ReturnLegSource::Token(token)) => {
                    match self.check_handshake_token(token, now, allow_async) {
                        Ok(leg) => Some(leg),
                        Err(fetch) => return Gathered::FetchJwks(fetch),
                    }
                }
            };
            let leg = match leg {
                None => None,
                Some(directives) => {
                    let session = match directives.session_to_verify() {
                        None => None,
                        Some(token) => match self.prepare_token(&token, now, allow_async) {
                            Prepared::Ready(v) => Some((token, v)),
                            other => return other.into(),
                        },
                    };
                    Some(directives.into_return_leg(session))
                }
            };
            let rules = ClaimRules {
                authorized_parties: &self.config.authorized_parties,
                clock_skew_ms: self.config.clock_skew_ms,
                now_ms: now,
            };
            let clerk = authenticate(&ctx, &verification, leg.as_ref(), &rules);
            Gathered::Ready {
                verification,
                clerk: Some(clerk),
            }
        }

        /// The nonce exchange, replayed over the attempts made so far: the directives, or
        /// the next attempt to make (`Err`).
        fn exchange_nonce(
            &self,
            nonce: &str,
            attempts: &[Value],
            allow_async: bool,
        ) -> Result<LegDirectives, Value> {
            let Some(secret) = &self.config.secret_key else {
                return Ok(LegDirectives::NonceFailed(NONCE_WITHOUT_SECRET.to_owned()));
            };
            let mut call = ApiCall::new(handshake_payload_request(nonce));
            let mut delay_ms = 0;
            for attempt in attempts {
                match call.on_outcome(api_outcome_value(attempt)) {
                    CallProgress::RetryAfter(delay) => delay_ms = delay,
                    CallProgress::Finished(result) => {
                        return Ok(LegDirectives::from_payload_call(result, nonce))
                    }
                }
            }
            if !allow_async {
                return Ok(LegDirectives::NonceFailed(
                    "the nonce exchange was not completed by the middleware".to_owned(),
                ));
            }
            Err(fetch_plan(
                &self.config.api_url,
                secret.expose(),
                call.request(),
                delay_ms,
            ))
        }

        /// Checks a handshake token with the instance's key: the directives, or the JWKS
        /// fetch that must happen first (`Err`).
        fn check_handshake_token(
            &mut self,
            token: &str,
            now: i64,
            allow_async: bool,
        ) -> Result<LegDirectives, Value> {
            let keys = match &self.config.keys {
                KeyConfig::Pem(key) => KeySource::Pem(key),
                KeyConfig::Jwks => {
                    let kid = decode_jwt(token)
                        .ok()
                        .and_then(|d| d.kid().map(str::to_owned));
                    if allow_async {
                        if let Some(plan) = self.jwks_fetch_plan(kid.as_deref(), now) {
                            return Err(plan);
                        }
                    }
                    if !self.jwks.has_keys() {
                        let error = self.jwks_error.unwrap_or(TokenError::JwkRemoteFailedToLoad);
                        return Ok(LegDirectives::TokenRefused(error));
                    }
                    KeySource::Jwks(self.jwks.find(kid.as_deref()))
                }
                KeyConfig::None => {
                    return Ok(LegDirectives::TokenRefused(TokenError::JwkFailedToResolve))
                }
            };
            Ok(LegDirectives::from_token_check(verify_handshake_token(
                token, keys,
            )))
        }

        /// The JWKS fetch to make now for `kid`, if the cache policy says so.
        fn jwks_fetch_plan(&mut self, kid: Option<&str>, now: i64) -> Option<Value> {
            let secret = self.config.secret_key.as_ref()?;
            if self.jwks.needs_fetch(kid, now) != FetchDecision::Fetch {
                return None;
            }
            self.jwks.record_attempt(now);
            Some(fetch_plan(
                &self.config.api_url,
                secret.expose(),
                &ApiRequest::jwks(),
                0,
            ))
        }

        /// Verifies one token as far as the caches allow (see [`Self::identity`]).
        fn prepare_token(&mut self, token: &str, now: i64, allow_async: bool) -> Prepared {
            if allow_async && matches!(self.config.keys, KeyConfig::Jwks) {
                let settings = self.tokens.settings_id("jwks");
                if self.tokens.get(token, settings, now).is_none() {
                    let kid = decode(token).ok().and_then(|d| d.kid().map(str::to_owned));
                    if let Some(plan) = self.jwks_fetch_plan(kid.as_deref(), now) {
                        return Prepared::FetchJwks(plan);
                    }
                }
            }
            let Guard {
                config,
                jwks,
                jwks_error,
                tokens,
                pending,
                ..
            } = self;
            let rules = ClaimRules {
                authorized_parties: &config.authorized_parties,
                clock_skew_ms: config.clock_skew_ms,
                now_ms: now,
            };
            let keep_after_exp = keep_after_exp_ms(config);
            let rejected = |error| {
                Prepared::Ready(Verification::Rejected {
                    error,
                    signed: None,
                })
            };
            let step = match &config.keys {
                KeyConfig::Pem(key) => {
                    let settings = tokens.settings_id("pem");
                    begin_cached(tokens, settings, token, KeySource::Pem(key), &rules)
                }
                KeyConfig::Jwks => {
                    let settings = tokens.settings_id("jwks");
                    if tokens.get(token, settings, now).is_some() {
                        // A hit needs no key: skip the JWKS refresh check too.
                        return Prepared::Ready(verify_cached(
                            tokens,
                            settings,
                            token,
                            KeySource::Jwks(None),
                            &rules,
                            keep_after_exp,
                        ));
                    }
                    let kid = match decode(token) {
                        Ok(decoded) => decoded.kid().map(str::to_owned),
                        Err(error) => return rejected(error),
                    };
                    if !jwks.has_keys() {
                        return rejected(jwks_error.unwrap_or(TokenError::JwkRemoteFailedToLoad));
                    }
                    let keys = KeySource::Jwks(jwks.find(kid.as_deref()));
                    begin_cached(tokens, settings, token, keys, &rules)
                }
                KeyConfig::None => return rejected(TokenError::JwkFailedToResolve),
            };
            let pending_signature = match step {
                Step::Done(verification) => return Prepared::Ready(verification),
                Step::NeedSignature(pending_signature) => pending_signature,
            };
            if allow_async {
                if let Some(components) = pending_signature.key().components() {
                    return Prepared::CheckSignature(pending.insert(pending_signature, components));
                }
            }
            let valid = pending_signature.verify_in_rust();
            Prepared::Ready(complete_cached(
                tokens,
                pending_signature,
                valid,
                &rules,
                keep_after_exp,
            ))
        }
    }

    /// A refusal of the webhook route, as the Worker answers it.
    fn webhook_refusal(refusal: WebhookRefusal<'_>, request: &RequestContext, now: i64) -> Value {
        let headers = refusal.headers();
        respond(
            refusal.status(),
            &refusal.body(),
            &headers,
            Some(line(refusal.audit_event(), request, now)),
        )
    }

    /// Whole milliseconds of a JavaScript duration (`performance.now()` differences).
    fn millis(value: &Value) -> u64 {
        value
            .as_f64()
            .filter(|ms| ms.is_finite() && *ms > 0.0)
            .map_or(0, |ms| ms.round() as u64)
    }

    /// A probe as the JavaScript side reports it (`null`: not run, for want of `missing`),
    /// with the body of a 2xx answer.
    fn probe_of(value: &Value, missing: &'static str) -> (report::Probe, Option<String>) {
        if value.is_null() {
            return (report::Probe::NotConfigured(missing), None);
        }
        let outcome = api_outcome_value(value);
        let body = match &outcome {
            ApiOutcome::Response { status, body, .. } if (200..300).contains(status) => {
                Some(body.clone())
            }
            _ => None,
        };
        let probe =
            report::Probe::ran(millis(&value["took_ms"]), report::Outcome::of_api(&outcome));
        (probe, body)
    }

    fn admin_route(name: &str) -> AdminRoute {
        if name == "restore" {
            AdminRoute::Restore
        } else {
            AdminRoute::Revoke
        }
    }

    /// The answer to a request refused before its body ([`access::check_access`]), with its
    /// `admin.denied` line (none for a route that does not exist), as the Worker's.
    fn access_refusal(refusal: &AccessRefusal, request: &RequestContext, now: i64) -> Value {
        let headers: Vec<(&str, String)> = refusal
            .headers()
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .collect();
        let audit = refusal.audit_event().map(|event| line(event, request, now));
        respond(refusal.status(), &refusal.body(), &headers, audit)
    }

    /// The answer to an admin's request whose head or body is not acceptable, with the
    /// route's own line (`admin.revoke`, `admin.restore`), as the Worker's
    /// (src/worker/admin.rs).
    fn admin_refusal(
        route: AdminRoute,
        error: &AdminError,
        request: &RequestContext,
        now: i64,
    ) -> Value {
        let event = AuditEvent::new(Level::Warn, route.audit_event())
            .text("reason", error.code())
            .value("status", error.status().into())
            .value("ok", false.into());
        let headers: Vec<(&str, String)> = error
            .response_headers()
            .iter()
            .map(|(n, v)| (*n, (*v).to_owned()))
            .collect();
        let body = serde_json::from_str(&error.to_json_body()).unwrap_or(Value::Null);
        respond(
            error.status(),
            &body,
            &headers,
            Some(line(event, request, now)),
        )
    }

    /// One admin operation (src/revocation.rs's plans), driven by the JavaScript side:
    /// `start()`, then `feed(outcome)` after performing each step, until a step is `done`;
    /// then `finish()` gives the answer.
    ///
    /// Steps: `{"kind": "write", "key", "value", "ttl_seconds"}` and
    /// `{"kind": "delete", "key"}` (the deny-list store; feed `{"storage": null}` or
    /// `{"storage": "error text"}`), `{"kind": "call", "method", "url", "headers", "body",
    /// "delay_ms", "timeout_ms"}` (wait, then fetch; feed `{"api": {"status", "body",
    /// "retry_after"}}`, `{"api": {"timeout": true}}` or `{"api": {"network_error": text}}`),
    /// `{"kind": "done"}`.
    #[wasm_bindgen]
    pub struct AdminRun {
        route: AdminRoute,
        plan: Result<Box<dyn AdminPlan>, AdminError>,
        api_url: String,
        secret: Option<String>,
    }

    #[wasm_bindgen]
    impl AdminRun {
        /// The first step.
        pub fn start(&mut self) -> String {
            let step = match &mut self.plan {
                Ok(plan) => plan.start(),
                Err(_) => AdminStep::Done,
            };
            self.step_json(step)
        }

        /// Feeds the outcome of the last step; answers the next step.
        pub fn feed(&mut self, outcome_json: &str) -> String {
            let value: Value = serde_json::from_str(outcome_json).unwrap_or(Value::Null);
            let outcome = match value.get("api") {
                Some(api) => StepOutcome::Api(api_outcome(&api.to_string())),
                None => StepOutcome::Storage(match value.get("storage") {
                    None | Some(Value::Null) => Ok(()),
                    Some(error) => Err(error.as_str().unwrap_or("storage failed").to_owned()),
                }),
            };
            let step = match &mut self.plan {
                Ok(plan) => plan.feed(outcome),
                Err(_) => AdminStep::Done,
            };
            self.step_json(step)
        }

        /// The answer, with its `admin.revoke` / `admin.restore` (or `admin.denied`) line.
        pub fn finish(&mut self, facts_json: &str, now: f64) -> String {
            let request = Facts::parse(facts_json).context();
            let now = now_ms(now);
            let plan = match &mut self.plan {
                Ok(plan) => plan,
                Err(error) => {
                    return json!({ "respond": admin_refusal(self.route, error, &request, now) })
                        .to_string();
                }
            };
            // The lines of src/worker/admin.rs, field for field.
            let status = plan.response_status();
            let (body, event) = (plan.response_body(), plan.audit_event(status));
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            json!({ "respond": respond(status, &body, &[], Some(line(event, &request, now))) })
                .to_string()
        }
    }

    impl AdminRun {
        fn step_json(&mut self, mut step: AdminStep) -> String {
            // Without a secret key no call can succeed: answer each as Clerk answers a
            // missing key (401, not retried, halts further calls), so the report says so.
            while let (AdminStep::CallApi { .. }, None, Ok(plan)) =
                (&step, &self.secret, &mut self.plan)
            {
                step = plan.feed(StepOutcome::Api(ApiOutcome::secret_key_missing()));
            }
            match step {
                AdminStep::WriteDenyEntry {
                    key,
                    value,
                    expiration_ttl_seconds,
                } => json!({
                    "kind": "write",
                    "key": key,
                    "value": value,
                    "ttl_seconds": expiration_ttl_seconds,
                }),
                AdminStep::DeleteDenyEntry { key } => json!({ "kind": "delete", "key": key }),
                AdminStep::CallApi {
                    request,
                    delay_ms,
                    timeout_ms,
                } => {
                    let mut call = call_json(
                        &self.api_url,
                        self.secret.as_deref().unwrap_or(""),
                        &request,
                        delay_ms,
                    );
                    if let Value::Object(map) = &mut call {
                        map.insert("timeout_ms".into(), timeout_ms.into());
                    }
                    call
                }
                AdminStep::Done => json!({ "kind": "done" }),
            }
            .to_string()
        }
    }
}
