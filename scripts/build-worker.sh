#!/usr/bin/env bash
# Builds the Cloudflare Worker (feature `worker`) into build/ with worker-build, offline:
# wasm-bindgen from cargo, wasm-opt from npm binaryen, esbuild from wrangler's own install.
# wrangler.toml's [build] runs this; scripts/test.sh runs it once before the e2e tests.
#
# npm binaryen's wasm-opt is itself wasm and takes ~25 s, so an unchanged crate is not
# post-processed again: cargo runs first (as worker-build would run it), and when its wasm
# and the tool versions match the stamp of the last build, build/ is kept as it is.
# FORCE=1 always rebuilds.
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

# Exactly worker-build's cargo invocation, including the env var its wasm-bindgen macros
# read (cargo does not track it, so a build without it would be reused as is).
cargo_target="${CARGO_TARGET_DIR:-target}"
WASM_BINDGEN_USE_JS_SYS=1 cargo build --lib --release --target wasm32-unknown-unknown --features worker "$@"
raw="$cargo_target/wasm32-unknown-unknown/release/clerk_edge_guard.wasm"
stamp_file=build/.source-stamp
stamp="$(sha256sum "$raw" | cut -d' ' -f1) $(worker-build --version) $("$WASM_BINDGEN_BIN" --version) $(sha256sum Cargo.toml | cut -c1-16) $*"
if [ "${FORCE:-0}" != 1 ] && [ -f build/index.js ] && [ -f build/index_bg.wasm ] \
  && [ "$(cat "$stamp_file" 2>/dev/null)" = "$stamp" ]; then
  echo "build-worker: build/ is up to date with the crate (FORCE=1 to rebuild)"
  exit 0
fi

worker-build --release --features worker "$@"
# worker-build keeps the function-name section (~45 KB gzip) and optimises with -O; the
# product never panics on purpose (panic = abort, no unwrap on request paths), so the names
# are not worth their cold-start cost: strip them and optimise for size.
"$WASM_OPT_BIN" build/index_bg.wasm -Oz --strip-debug --strip-producers \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
  --enable-bulk-memory --enable-multivalue --enable-reference-types -o build/index_bg.wasm
# worker-build's cargo run may have relinked: stamp what it actually consumed.
stamp="$(sha256sum "$raw" | cut -d' ' -f1) ${stamp#* }"
printf '%s' "$stamp" >"$stamp_file"
