#!/usr/bin/env bash
# make bench: the fast run (no shim), the Python asyncio run, then the slow run with the
# slow-open shim preloaded.
# Results are appended to build/bench.csv (run,metric,variant,k,repeat,value), and this
# run's ratios drawn in build/bench.svg (tools/bench_plot.py; docs/performance.md shows it).
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
# The baseline: the last commit before attribution by filesystem and owed closes (issue 10:
# lexical mount lookup, closes on the caller's thread), built from this clone's history, so
# the cost of the new attribution on the submit path is measured beside this build in one
# run. BENCH_BASELINE_REV= skips it.
base_rev=${BENCH_BASELINE_REV-66194bb}
base_lib=
if [ -n "$base_rev" ] && git rev-parse -q --verify "$base_rev^{commit}" >/dev/null 2>&1; then
  base_src=build/baseline/src-$base_rev
  if [ ! -f "$base_src/Cargo.toml" ]; then
    rm -rf "$base_src" && mkdir -p "$base_src"
    git archive "$base_rev" | tar -x -C "$base_src"
  fi
  echo "building the baseline ($base_rev) ..."
  cargo build -q --release --lib --manifest-path "$base_src/Cargo.toml" --target-dir build/baseline/target
  base_lib=$PWD/build/baseline/target/release/libaopen.so
else
  echo "(no baseline: revision '$base_rev' is not in this clone)"
fi
BENCH_BASELINE=$base_lib build/bench fast "$csv" "$dir/file"
echo
# aiofiles, the baseline of the Python rows, from PyPI into build/pydeps if not installed.
if ! python3 -c 'import aiofiles' 2>/dev/null && [ ! -d build/pydeps/aiofiles ]; then
  python3 -m pip install -q --disable-pip-version-check --target build/pydeps aiofiles \
    || echo "(could not install aiofiles: its rows are left out)"
fi
PYTHONPATH=build/pydeps${PYTHONPATH:+:$PYTHONPATH} python3 benches/py_bench.py "$dir/file" "$csv"
echo
# Issue 31's everyday workloads, each async file library beside the built-in (venvs of their
# own under build/, made on first use from PyPI).
benches/py_everyday.sh "$csv" || echo "(benches/py_everyday.sh failed: the everyday Python rows are left out)"
echo
LD_PRELOAD=$shim SLOW_OPEN_PREFIX="$dir/slow/" SLOW_OPEN_MS=200 build/bench slow "$csv" "$dir/file" "$dir/slow/file"
echo
echo "results appended to $csv"
# The picture for docs/performance.md: this run's ratios per depth, drawn by
# tools/bench_plot.py with matplotlib from PyPI in a venv of the bench's own (build/benchvenv),
# made on first use; without it (no venv module, no registry) the plot is skipped with a note.
venv=build/benchvenv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  { python3 -m venv "$venv" && "$venv/bin/python" -m pip install -q --disable-pip-version-check matplotlib; } \
    >/dev/null 2>&1 || echo "(no matplotlib venv in $venv: build/bench.svg not drawn)"
fi
if "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  "$venv/bin/python" tools/bench_plot.py "$csv" build/bench.svg "$BENCH_RUN" \
    || echo "(tools/bench_plot.py failed: build/bench.svg not drawn)"
fi
