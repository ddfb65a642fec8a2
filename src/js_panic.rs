//! Readable panics in the npm package's wasm (features `js`, `js-sync` and `report-cli`).
//!
//! The product never panics on purpose (no `unwrap` on a request path), but if it ever does,
//! the on-call engineer must see what and where in the Next.js log, not a bare
//! `RuntimeError: unreachable`: the hook prints `panicked at <file>:<line>:<col>: <message>`
//! through `console.error` before the wasm aborts. Installed once per instance, when the
//! module is instantiated (`initSync` in the package's entries). The Worker has workers-rs's
//! own hook instead (src/worker/mod.rs).

use wasm_bindgen::prelude::wasm_bindgen;

/// Runs when the wasm module is instantiated.
#[wasm_bindgen(start)]
fn install_panic_hook() {
    console_error_panic_hook::set_once();
}

/// TEST-ONLY (feature `panic-probe`, never in a release build): panics with `message`, so a
/// test can show what reaches the log.
#[cfg(feature = "panic-probe")]
#[wasm_bindgen(js_name = panicProbe)]
pub fn panic_probe(message: &str) {
    panic!("{message}");
}
