#!/usr/bin/env bash
# THE soak command (README, Proof: Soak): 200,000 requests of every kind (valid, expired,
# junk up to and past 16 KiB, deny-listed, webhooks, admin calls, handshakes) through the
# built Worker in workerd (`wrangler dev --local`, loopback, local fakes of Clerk), at the
# highest rate it sustains; errors, p50/p99 per class and the isolate's memory every 10 %.
#
#   bash scripts/soak.sh [--requests N] [--concurrency C] [--seed S]
#
# Default: 200,000 requests after a short concurrency sweep (4, 8, 16, 32 connections; the
# smallest within 5 % of the best rate wins), figures to bench/results/soak.json. Any other
# --requests (e.g. --requests 5000, the smoke run: under a minute) skips the sweep unless
# runs are >= 50,000, and writes to a temporary file, so bench/results/ only holds full runs.
# Builds the Worker first when the crate changed (scripts/build-worker.sh). Exits non-zero
# on any unexpected answer, a cache over its cap, or memory growth from the middle to the end.
# Not part of scripts/test.sh.
set -euo pipefail
# shellcheck source=scripts/env.sh
. "$(dirname "$0")/env.sh"
cd "$CEG_ROOT"

requests=200000
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    --requests | --concurrency | --seed)
      [ $# -ge 2 ] || { echo "soak.sh: $1 needs a value (try --help)" >&2; exit 2; }
      [ "$1" = --requests ] && requests="$2"
      pass+=("$1" "$2")
      shift 2
      ;;
    -h | --help)
      sed -n '2,15p' "$0"
      exit 0
      ;;
    *)
      echo "soak.sh: unknown argument '$1' (try --help)" >&2
      exit 2
      ;;
  esac
done

bash scripts/build-worker.sh >&2

if [ "$requests" = 200000 ]; then
  out=bench/results/soak.json
  mkdir -p bench/results
else
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/ceg-soak.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  out="$tmp/soak.json"
fi
echo "soak.sh: load before the run: $(uptime)" >&2
node bench/soak.mjs "${pass[@]}" --out "$out"
