#!/usr/bin/env bash
# THE test command (README): lint, native and wasm tests, both builds, then the JavaScript
# and end-to-end tests against the real runtimes. Installs the toolchain first (idempotent).
#
#   bash scripts/test.sh [--keep-going]
#
# Stops at the first failing step and names it (--keep-going: runs every step, then names
# all that failed). The last line is always the plain
# `N passed, N failed` summary that CI reads: test counts from cargo's `test result:` lines
# and node's TAP `# pass`/`# fail` lines; a failed step that is not a test run (fmt, clippy,
# a build) counts as one failure.
set -uo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"

logs="$(mktemp -d "${TMPDIR:-/tmp}/ceg-test.XXXXXX")"
trap 'rm -rf "$logs"' EXIT
passed=0
failed=0
keep_going=false
[ "${1:-}" = "--keep-going" ] && keep_going=true
failed_steps=()
started_all=$SECONDS

summary() { echo "$passed passed, $failed failed"; }

banner() { printf '\n==================== %s ====================\n' "$*"; }

# Adds the counts of every `test result:` line of a cargo test log.
count_cargo() {
  local p f
  p=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed.*/\2/p' "$1" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p))
  failed=$((failed + f))
}

# Adds the counts of node's TAP summary (`# pass N`, `# fail N`).
count_tap() {
  local p f
  p=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
  f=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$1" | awk '{s+=$1} END {print s+0}')
  passed=$((passed + p))
  failed=$((failed + f))
}

# step NAME COUNTER COMMAND...: runs COMMAND with its output on the terminal and in a log,
# counts its tests with COUNTER (count_cargo, count_tap or none), stops the run on failure.
step() {
  local name="$1" counter="$2" log="$logs/step.log" started=$SECONDS status failed_before=$failed
  shift 2
  banner "$name"
  : >"$log"
  "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  case "$counter" in
    count_cargo) count_cargo "$log" ;;
    count_tap) [ -f "$logs/node.tap" ] && count_tap "$logs/node.tap" ;;
  esac
  echo "---- $name: $([ "$status" -eq 0 ] && echo ok || echo "FAILED (exit $status)") in $((SECONDS - started)) s"
  if [ "$status" -ne 0 ]; then
    # A failed step that reported no failed test (fmt, clippy, a build, a runner that
    # crashed or did not compile) counts as one failure.
    [ "$failed" -gt "$failed_before" ] || failed=$((failed + 1))
    failed_steps+=("$name")
    if $keep_going; then return 0; fi
    echo
    echo "test.sh: step '$name' failed; stopping (total $((SECONDS - started_all)) s)." >&2
    summary
    exit 1
  fi
}

# Set-up is part of the test command, so that it alone works on a fresh machine: the
# installer is idempotent (about 1 s when everything is there, ~8 min cold).
bash scripts/install-toolchain.sh || {
  echo "test.sh: installing the toolchain failed (see above)" >&2
  failed=1
  summary
  exit 1
}
# Again: on a fresh machine the tools it points at exist only now.
. scripts/env.sh
echo "node $(node --version), $(cargo --version), wasm-bindgen $(wasm-bindgen --version | awk '{print $2}')"

step "cargo fmt --check" none cargo fmt --all -- --check
# crates/rsa is a path dependency (compiled for speed: Cargo.toml), named so it is linted and
# tested too.
step "clippy (native, all targets)" none \
  cargo clippy --all-targets -p clerk-edge-guard -p clerk-edge-guard-rsa -- -D warnings
step "clippy (wasm32, feature worker)" none \
  cargo clippy --features worker --target wasm32-unknown-unknown -- -D warnings
step "clippy (wasm32, feature js)" none \
  cargo clippy --features js --target wasm32-unknown-unknown -- -D warnings
step "clippy (wasm32, feature report-cli)" none \
  cargo clippy --features report-cli --target wasm32-unknown-unknown -- -D warnings
step "clippy (wasm32, feature js-sync)" none \
  cargo clippy --features js-sync --target wasm32-unknown-unknown -- -D warnings
step "cargo test (native)" count_cargo cargo test -p clerk-edge-guard -p clerk-edge-guard-rsa
# A few seconds of every fuzz target (scripts/fuzz.sh; the long run is in the README):
# one step, like the builds.
step "fuzz (short run of every target)" none bash scripts/fuzz.sh
step "cargo test (wasm32, in Node)" count_cargo cargo test --target wasm32-unknown-unknown
step "build the Worker (worker-build)" none bash scripts/build-worker.sh
step "build pkg-js" none npm --prefix pkg-js run build --silent
# Test-only builds with a deliberate panic (never in build/ or pkg-js/dist/): the panic
# tests show its message and location reach the Worker's and the package's log.
step "build the panic probes (test-only)" none bash scripts/build-panic-probes.sh
# The example Next.js app installs the package as a user would: `npm pack`'s tarball (with
# --no-save, so its package.json and lock stay as committed), refreshed after every build.
step "install the example Next.js app (the packed package)" none \
  node --input-type=module -e 'await (await import("./tests/next/support/next-app.mjs")).installApp()'
# Its other variants (Node proxy.ts, Next 15: tests/next/support/built-app.mjs) are copies
# built here, outside the checkout, and removed with the logs.
export CEG_NEXT_VARIANTS_DIR="$logs/next-variants"

shopt -s nullglob
node_tests=(tests/js/*.test.mjs tests/pkg/*.test.mjs tests/types/*.test.mjs tests/e2e/*.test.mjs tests/next/*.test.mjs)
shopt -u nullglob
# Every Worker of the e2e files appends what it printed here: the post-incident report over
# the whole run is checked after them (tests/run-report/).
export CEG_E2E_LOG="$logs/e2e-workers.log"
: >"$CEG_E2E_LOG"
if [ "${#node_tests[@]}" -gt 0 ]; then
  # spec for people on the terminal, TAP into a file for the counts. One file at a time: the
  # Next.js files share one `next build` of tests/next-app, and the e2e files' servers and
  # the machine's two cores are better used in turn than fought over.
  step "node --test (pkg-js, e2e in workerd, Next.js)" count_tap \
    node --test --test-timeout=300000 --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$logs/node.tap" \
    "${node_tests[@]}"
fi

step "post-incident report over this run's Worker log" count_tap \
  node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$logs/node.tap" \
  tests/run-report/e2e-log.test.mjs

banner "done in $((SECONDS - started_all)) s"
for name in "${failed_steps[@]}"; do echo "test.sh: step '$name' failed" >&2; done
summary
[ "$failed" -eq 0 ]
