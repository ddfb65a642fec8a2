//! Per-isolate state: the parsed configuration, the JWKS cache, the deny-list cache and the
//! record of recent decisions.
//!
//! An isolate serves many requests concurrently on one thread, so the state lives in a
//! thread-local and no `RefCell` borrow is ever held across an `.await` (that would panic
//! the next request that touches it).

use std::cell::RefCell;
use std::rc::Rc;

use ::worker::Env;
use wasm_bindgen::JsValue;

use crate::audit::{AuditEvent, Level, RequestContext};
use crate::auth::keys::JwksCache;
use crate::auth::verified_cache::VerifiedTokenCache;
use crate::config::Config;
use crate::diagnose::live::LiveStats;
use crate::diagnose::memory::{wasm_pages, CacheFill, IsolateMemory};

use super::denylist::DenyCache;

/// What the isolate keeps between requests.
pub struct IsolateState {
    /// The configuration, parsed on the first request.
    pub config: Config,
    /// Fetched JWKS keys and refresh policy.
    pub jwks: RefCell<JwksCache>,
    /// Recently read deny-list entries.
    pub deny: RefCell<DenyCache>,
    /// Tokens whose signature was already checked.
    pub tokens: RefCell<VerifiedTokenCache>,
    /// Recent protected-request decisions (`GET /__clerk/admin/diagnose`).
    pub live: RefCell<LiveStats>,
}

impl IsolateState {
    /// The isolate's wasm memory and how full each of its caches is (the diagnosis's `state`
    /// check): what lets an operator, or the soak run, tell a bounded isolate from a leak.
    pub fn memory(&self) -> IsolateMemory {
        let (imported, max_imported) = super::webcrypto::imported_keys();
        IsolateMemory::of(
            wasm_pages(),
            &self.tokens.borrow(),
            &self.jwks.borrow(),
            &self.live.borrow(),
            [
                CacheFill::counted("webcrypto_keys", imported, max_imported),
                self.deny.borrow().fill(),
            ],
        )
    }
}

thread_local! {
    static STATE: RefCell<Option<Rc<IsolateState>>> = const { RefCell::new(None) };
}

/// The isolate state, parsing the configuration (and logging its problems, with the fields
/// of the request that made the isolate read it) on first use.
pub fn state(env: &Env, request: &RequestContext, now_ms: i64) -> Rc<IsolateState> {
    if let Some(state) = STATE.with(|s| s.borrow().clone()) {
        return state;
    }
    let config = Config::from_env(&|name: &str| read_var(env, name));
    for problem in &config.problems {
        super::emit(
            &AuditEvent::new(Level::Error, "config.invalid")
                .text("variable", problem.variable)
                .text("problem", &problem.problem),
            Some(request),
            now_ms,
        );
    }
    let state = Rc::new(IsolateState {
        config,
        jwks: RefCell::new(JwksCache::new()),
        deny: RefCell::new(DenyCache::default()),
        tokens: RefCell::new(VerifiedTokenCache::default()),
        live: RefCell::new(LiveStats::new()),
    });
    STATE.with(|s| *s.borrow_mut() = Some(state.clone()));
    state
}

/// A `[vars]` value or a secret, as text. `wrangler.toml` hands unquoted values
/// (`CLERK_EMERGENCY_BYPASS = true`, `CLERK_CLOCK_SKEW_MS = 10000`) over as booleans and
/// numbers, which `Env::var` refuses: dropping them would turn a bypass or a pause off
/// without a word, so they are read as the text they were written as. Anything else (an
/// object, an array) is kept as a value the parser refuses by name.
fn read_var(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name)).ok()?;
    if value.is_undefined() || value.is_null() {
        return None;
    }
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if let Some(flag) = value.as_bool() {
        return Some(flag.to_string());
    }
    if let Some(number) = value.as_f64() {
        return Some(number.to_string());
    }
    Some("[not a string]".to_owned())
}

/// The current time in Unix milliseconds (`Date.now()`, as workers-rs' `Date::as_millis`
/// converts it, without the `Date` object it allocates: this runs several times a request).
pub fn now_ms() -> i64 {
    i64::try_from(js_sys::Date::now() as u64).unwrap_or(i64::MAX)
}

/// The current time in fractional milliseconds, for timing (Workers advance it only across
/// I/O).
pub fn clock_ms() -> f64 {
    js_sys::Date::now()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A request id for requests without `cf-ray` (local dev, tests): 16 random hex digits.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_err() {
        return format!("local-{}", now_ms());
    }
    // One string, not one per byte: this runs on every request without `cf-ray`.
    let mut id = String::with_capacity(2 * bytes.len());
    for b in bytes {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
}
