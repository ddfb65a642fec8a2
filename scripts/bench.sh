#!/usr/bin/env bash
# THE benchmark command (README, Performance): clerk-edge-guard side by side with
# @clerk/backend, in V8 and in workerd, plus native core benchmarks and artifact sizes.
#
#   bash scripts/bench.sh [--smoke] [--no-build]
#
# Parts (each bounded in count and time; servers on loopback only, stopped on exit):
#   size     build/ and pkg-js/dist/ wasm and glue, raw and gzip       (bench/size.mjs)
#   v8       pkg-js verifySessionToken vs @clerk/backend verifyToken   (bench/v8.mjs)
#   cookie-path  pkg-js middleware vs @clerk/backend authenticateRequest (bench/cookie-path.mjs)
#   native   criterion, benches/core.rs                                (bench/native.mjs)
#   runtime  the Worker vs a @clerk/backend Worker in wrangler dev     (bench/runtime.mjs)
#   workerd  the same in workerd serve, no dev proxy; the handshake    (bench/workerd.mjs)
#   nextjs   the example app, our middleware vs @clerk/nextjs          (bench/nextjs.mjs)
#   incident-report  the post-incident report over 100,000 log lines   (bench/incident-report.mjs)
# then prints the markdown table of bench/report.mjs for the README.
#
# Default: builds pkg-js and the Worker first, runs every part fully and writes the figures
# to bench/results/*.json. --smoke runs every part briefly against the existing builds
# (building only what is missing) and writes to a temporary directory, so the figures in
# bench/results/ are only ever full runs. --no-build skips the builds of a full run.
# Not part of scripts/test.sh. Needs scripts/install-toolchain.sh first.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"

smoke=false
build=true
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=true ;;
    --no-build) build=false ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

[ -x node_modules/.bin/autocannon ] || {
  echo "bench.sh: node_modules missing or outdated; run: bash scripts/install-toolchain.sh (or npm install)" >&2
  exit 1
}

started=$SECONDS
step() {
  local name="$1" t=$SECONDS
  shift
  printf '\n==================== bench: %s ====================\n' "$name" >&2
  "$@"
  echo "---- $name: $((SECONDS - t)) s" >&2
}

if $smoke; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/ceg-bench.XXXXXX")"
  trap 'rm -rf "$out"' EXIT
  mode=(--smoke)
  [ -f pkg-js/dist/clerk_edge_guard_bg.wasm ] || step "build pkg-js" npm --prefix pkg-js run build --silent
  [ -f build/index_bg.wasm ] || step "build the Worker" bash scripts/build-worker.sh
else
  out=bench/results
  mkdir -p "$out"
  mode=()
  if $build; then
    step "build pkg-js" npm --prefix pkg-js run build --silent
    step "build the Worker" bash scripts/build-worker.sh
  fi
fi

# Each part prints its own table and JSON on stdout; the summary below gathers them.
step size node bench/size.mjs "${mode[@]}" --out "$out/size.json" >/dev/null
step v8 node bench/v8.mjs "${mode[@]}" --out "$out/v8.json" >/dev/null
step cookie-path node bench/cookie-path.mjs "${mode[@]}" --out "$out/cookie-path.json" >/dev/null
step native node bench/native.mjs "${mode[@]}" --out "$out/native.json" >/dev/null
step runtime node bench/runtime.mjs "${mode[@]}" --out "$out/runtime.json" >/dev/null
step workerd node bench/workerd.mjs "${mode[@]}" --out "$out/workerd.json" >/dev/null
step nextjs node bench/nextjs.mjs "${mode[@]}" --out "$out/nextjs.json" >/dev/null
step incident-report node bench/incident-report.mjs "${mode[@]}" --out "$out/incident-report.json" >/dev/null

printf '\n==================== bench: results (%s) ====================\n\n' \
  "$($smoke && echo "smoke, not saved" || echo "$out/*.json")"
node bench/report.mjs "$out"
echo
echo "bench.sh: done in $((SECONDS - started)) s"
