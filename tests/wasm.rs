//! Tests that run inside a JavaScript engine (Node, through wasm-bindgen-test-runner):
//! `cargo test --target wasm32-unknown-unknown`. Only `#[wasm_bindgen_test]` functions run
//! there; natively this file compiles to nothing.
#![cfg(target_arch = "wasm32")]

// Linked on purpose: this test binary fails to build if the crate does not build for wasm32.
use clerk_edge_guard as _;
use wasm_bindgen_test::wasm_bindgen_test;

// Placeholder proving the crate links for wasm32 and the runner works; the real wasm-side
// tests (clock, WebCrypto, JS values) come with the adapters.
#[wasm_bindgen_test]
fn runs_in_a_javascript_engine() {
    assert_eq!(env!("CARGO_PKG_NAME"), "clerk-edge-guard");
}
