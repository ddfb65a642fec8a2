#!/usr/bin/env bash
# Fuzzes every input surface with cargo-fuzz (libFuzzer, nightly Rust): the targets in
# fuzz/fuzz_targets/, seeded from fuzz/seeds/ (made from the reference vectors by
# fuzz/seeds/make-seeds.mjs), growing their corpus in fuzz/corpus/ (git-ignored).
#
#   bash scripts/fuzz.sh                    short run: 8 s per target (the test command's step)
#   bash scripts/fuzz.sh --long [SECONDS]   long run: SECONDS per target (default 300)
#   bash scripts/fuzz.sh [--long [S]] T...  only the targets named
#
# Prints one line per target (executions, exec/s, libFuzzer's cov and ft, corpus size,
# findings) and exits non-zero on any finding, naming the crash input and how to replay it.
# Offline: cargo-fuzz and the nightly toolchain come from scripts/install-toolchain.sh.
#
# Built without a sanitizer (`--sanitizer none`): the crate has no `unsafe`, so AddressSanitizer
# would look for what safe Rust already rules out, and it doubles the build and slows every
# execution; panics (every oracle is an assertion) and aborts are what libFuzzer catches.
set -uo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT/fuzz"

seconds=8
long=false
if [ "${1:-}" = "--long" ]; then
  seconds=300
  long=true
  shift
  if [[ "${1:-}" =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi
fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(sed -n 's|^path = "fuzz_targets/\(.*\)\.rs"$|\1|p' Cargo.toml)
fi
fuzz=(cargo +nightly fuzz)

started=$SECONDS
# The oracles' own tests first: an oracle that cannot fail would make every run pass.
cargo test --quiet --lib >fuzz-build.log 2>&1 || {
  cat fuzz-build.log >&2
  echo "fuzz.sh: the oracles' tests (fuzz/src/lib.rs) failed (above)" >&2
  exit 1
}
"${fuzz[@]}" build -O --sanitizer none >/dev/null 2>fuzz-build.log || {
  cat fuzz-build.log >&2
  echo "fuzz.sh: building the fuzz targets failed (above)" >&2
  exit 1
}
rm -f fuzz-build.log
echo "fuzz.sh: oracles tested and targets built in $((SECONDS - started)) s; ${seconds} s per target"

bin_dir="target/x86_64-unknown-linux-gnu/release"
logs="$(mktemp -d "${TMPDIR:-/tmp}/ceg-fuzz.XXXXXX")"
trap 'rm -rf "$logs"' EXIT
findings=0
for target in "${targets[@]}"; do
  # The short run (the test command's) starts from the committed seeds alone, with a fixed
  # random seed, so every machine runs the same inputs first (a faster one runs more of
  # them); the long run grows and reuses fuzz/corpus/.
  if $long; then
    corpus_dir="corpus/$target"
    random=()
  else
    corpus_dir="$logs/corpus-$target"
    random=(-seed=1)
  fi
  mkdir -p "$corpus_dir" "artifacts/$target"
  log="$logs/$target.log"
  t0=$SECONDS
  # -timeout: a unit slower than 10 s is a finding (a hang); -rss_limit_mb: so is 2 GB.
  "$bin_dir/$target" "$corpus_dir" "seeds/$target" "${random[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$target/" >"$log" 2>&1
  status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corpus=$(find "$corpus_dir" -type f | wc -l)
  crashes=$(grep -oE "artifacts/$target/(crash|leak|timeout|oom|slow-unit)-[0-9a-f]+" "$log" | sort -u)
  found=0
  if [ "$status" -ne 0 ] || [ -n "$crashes" ]; then found=1; findings=$((findings + 1)); fi
  printf '%-16s %10s runs %8s exec/s  cov %5s  ft %6s  corpus %5s  findings %s  (%s s)\n' \
    "$target" "${runs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$found" "$((SECONDS - t0))"
  if [ "$found" -ne 0 ]; then
    grep -E 'panicked at|^(ERROR|SUMMARY)|thread .* panicked' -A3 "$log" | head -20 | sed 's/^/    /'
    for crash in $crashes; do
      echo "    input: fuzz/$crash"
      echo "    replay: (cd fuzz && cargo +nightly fuzz run --sanitizer none $target $crash)"
    done
    [ -n "$crashes" ] || echo "    libFuzzer exited with $status and wrote no input; its log:" && tail -5 "$log" | sed 's/^/    /'
  fi
done
echo "fuzz.sh: ${#targets[@]} targets, $findings with findings, $((SECONDS - started)) s in all"
[ "$findings" -eq 0 ]
