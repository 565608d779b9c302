#!/usr/bin/env bash
# make bench: the fast run (no shim), then the slow run with the slow-open shim preloaded.
# Results are appended to build/bench.csv (run,metric,variant,k,repeat,value).
# Usage: benches/run.sh SHIM.so
set -eu
cd "$(dirname "$0")/.."
shim=$1
csv=build/bench.csv
[ -s "$csv" ] || echo "run,metric,variant,k,repeat,value" > "$csv"
dir=$(mktemp -d /tmp/aopen-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/slow"
echo x > "$dir/slow/file"
export BENCH_RUN="$(date -u +%Y-%m-%dT%H:%M:%SZ)/$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "libaopen bench, $BENCH_RUN, $(nproc) CPUs"
build/bench fast "$csv" "$dir/file"
echo
LD_PRELOAD=$shim SLOW_OPEN_PREFIX="$dir/slow/" SLOW_OPEN_MS=200 build/bench slow "$csv" "$dir/file" "$dir/slow/file"
echo
echo "results appended to $csv"
