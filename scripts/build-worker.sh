#!/usr/bin/env bash
# Builds the Cloudflare Worker (feature `worker`) into build/ with worker-build, offline:
# wasm-bindgen from cargo, wasm-opt from npm binaryen, esbuild from wrangler's own install.
# wrangler.toml's [build] runs this; scripts/test.sh runs it once before the e2e tests.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"

for bin in worker-build "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
  if [ -z "$bin" ] || ! command -v "$bin" >/dev/null; then
    echo "build-worker: missing ${bin:-wasm-bindgen}; run scripts/install-toolchain.sh" >&2
    exit 1
  fi
done

exec worker-build --release --features worker "$@"
