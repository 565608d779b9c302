#!/usr/bin/env bash
# Issue 31's everyday Python workloads (benches/py_everyday.py) under asyncio and uvloop:
# aopen.aiofiles, aiofiles, anyio and aiofile beside the built-in file in one process (venv
# build/benchvenv-py), aiofiles-x (which installs itself as `aiofiles`) beside the built-in in
# a process of its own (venv build/benchvenv-aiofilesx); then the combined tables, each
# library x the built-in of its own process.
# The venvs are made on first use, their packages from PyPI with pip; a package that cannot be
# installed leaves its column out with a note. aopen is this tree's python/ with
# $AOPEN_LIBRARY (default target/release/libaopen.so), as it is at run time.
# Usage: benches/py_everyday.sh [CSV [ARGS...]]
#   rows appended to CSV (default build/bench.csv), labelled $BENCH_RUN; ARGS go to every
#   py_everyday.py run (e.g. --secs 1 --workloads write_4k,stat). The files go to a fresh folder
#   in $PY_EVERYDAY_DIR, by default /dev/shm when it is a writable tmpfs, else /tmp: on a disk
#   filesystem such as ext4 the built-in's truncating rewrite (open "wb") waits on writeback
#   at close, so the built-in is no ceiling for the write row there.
set -eu
cd "$(dirname "$0")/.."
csv=${1:-build/bench.csv}
shift $(($# > 0 ? 1 : 0))
mkdir -p build
[ -s "$csv" ] || echo "run,metric,variant,k,repeat,value" > "$csv"
export BENCH_RUN="${BENCH_RUN:-$(date -u +%Y-%m-%dT%H:%M:%SZ)/$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}"
export PYTHONPATH=$PWD/python  # nothing inherited: the venvs pick the peers (aiofiles-x is `aiofiles`)
export AOPEN_LIBRARY=${AOPEN_LIBRARY:-$PWD/target/release/libaopen.so}
if [ -z "${PY_EVERYDAY_DIR:-}" ]; then
  PY_EVERYDAY_DIR=/tmp
  [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] && PY_EVERYDAY_DIR=/dev/shm
fi
dir=$(mktemp -d "$PY_EVERYDAY_DIR/aopen-py-everyday.XXXXXX")
trap 'rm -rf "$dir"' EXIT

# venv DIR REQUIREMENT...: makes DIR (from python3) and installs each requirement not yet
# recorded in DIR/.bench-installed; one that fails is noted and left out.
venv() {
  local dir=$1 req
  shift
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir" || { echo "(python3 -m venv $dir failed: its columns are left out)"; return 0; }
  fi
  for req in "$@"; do
    grep -qxF "$req" "$dir/.bench-installed" 2>/dev/null && continue
    if "$dir/bin/python" -m pip install -q --disable-pip-version-check "$req" >"$dir/.pip.log" 2>&1; then
      echo "$req" >> "$dir/.bench-installed"
    else
      echo "(pip could not install $req into $dir: $(tail -1 "$dir/.pip.log"))"
    fi
  done
}
py=build/benchvenv-py
pyx=build/benchvenv-aiofilesx
venv "$py" aiofiles==25.1.0 'anyio==4.*' 'aiofile==3.*' uvloop
venv "$pyx" aiofiles-x uvloop

echo "Python everyday workloads (issue 31), run $BENCH_RUN; files in $dir ($(stat -f -c %T "$dir"))"
# run VENV LIBS [ARGS]: the workloads under $loop in that venv's python, rows into $csv.
run() {
  local venv=$1 libs=$2
  shift 2
  echo "$loop: $libs ..."
  if [ ! -x "$venv/bin/python" ]; then
    echo "(no $venv: $libs left out)"
  elif ! "$venv/bin/python" benches/py_everyday.py "$dir" "$csv" --loop "$loop" --quiet --libs "$libs" "$@" "${args[@]}"; then
    echo "(benches/py_everyday.py failed in $venv)"
  fi
}
args=("$@")
for loop in asyncio uvloop; do
  run "$py" aopen.aiofiles,aiofiles,anyio,aiofile
  run "$pyx" aiofiles-x --process aiofiles-x
done
echo
python3 benches/py_everyday.py --combine "$csv"
