#!/usr/bin/env bash
# TEST-ONLY builds with the crate feature `panic-probe` (a deliberate panic), for
# tests/e2e/panic.test.mjs and tests/js/panic-hook.test.mjs. They go under target/ (never
# build/ or pkg-js/dist/, which are what users deploy) and are unoptimised debug builds:
# what they show (a panic's message and location reach the log) does not depend on it.
#
#   target/panic-probe/worker/   the Worker (worker-build --dev), with /__clerk/test/panic
#   target/panic-probe/pkg-js/   pkg-js's wasm and glue (wasm-bindgen --target web), with
#                                the export panicProbe(message)
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"
out="${CARGO_TARGET_DIR:-target}/panic-probe"
rm -rf "$out"
mkdir -p "$out"

# worker-build runs wasm-bindgen and esbuild from the environment (scripts/env.sh), and no
# wasm-opt with --no-opt.
worker-build --dev --no-opt --out-dir "$out/worker" --features worker,panic-probe

cargo build --lib --target wasm32-unknown-unknown --no-default-features --features js,panic-probe
"$WASM_BINDGEN_BIN" "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/debug/clerk_edge_guard.wasm" \
  --out-dir "$out/pkg-js" --out-name clerk_edge_guard --target web --omit-default-module-path --no-typescript
echo "build-panic-probes: $out/worker and $out/pkg-js"
