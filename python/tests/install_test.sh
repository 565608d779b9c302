#!/usr/bin/env bash
# Packaging: `pip install ./python` into a fresh venv builds libaopen with setuptools-rust and
# bundles it; then, from outside the source tree, with no AOPEN_LIBRARY or PYTHONPATH, the
# installed package runs the article's test drive (four delayed opens while a heartbeat
# ticks) against the library it bundled. Needs the package registry (setuptools-rust), or
# PIP_FIND_LINKS/PIP_NO_INDEX pointing at local wheels.
# Usage: python/tests/install_test.sh SHIM.so
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shim=$1
tmp=$(mktemp -d /tmp/aopen-pip.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL python install: $*"; exit 1; }

python3 -m venv "$tmp/venv"
# From a copy of what the package builds from (pip builds in the tree it is given, writing
# build/ and *.egg-info there), with a target directory of its own: the build must not
# depend on, or disturb, make's.
mkdir "$tmp/src"
cp -r "$repo/Cargo.toml" "$repo/Cargo.lock" "$repo/build.rs" "$repo/src" "$repo/python" "$tmp/src/"
rm -rf "$tmp/src/python/build" "$tmp/src/python"/*.egg-info
CARGO_TARGET_DIR=$tmp/target "$tmp/venv/bin/pip" install -q --disable-pip-version-check "$tmp/src/python" \
  > "$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; fail "pip install ./python"; }

cp "$repo/python/tests/test_aopen.py" "$tmp/"
mkdir "$tmp/run" "$tmp/run/slow"
cd "$tmp"
unset AOPEN_LIBRARY PYTHONPATH
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
lib=$("$tmp/venv/bin/python" -c 'import aopen._abi; print(aopen._abi.lib._name)')
case $lib in "$site"/aopen/_libaopen*.so) ;; *) fail "loaded $lib, not the bundled library under $site/aopen";; esac
want=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
got=$("$tmp/venv/bin/python" -c 'import aopen, importlib.metadata as m; print(aopen.__version__, m.version("aopen"))')
[ "$got" = "$want $want" ] || fail "versions (library, package) $got, crate $want"
"$tmp/venv/bin/python" -c 'import aopen.aiofiles, aopen.aiofiles.os, aopen.aiofiles.threadpool' \
  || fail "the aiofiles drop-in is not in the package"

AOPEN_TEST_INSTALLED=1 AOPEN_TEST_DIR=$tmp/run SLOW_OPEN_PREFIX=$tmp/run/slow/ SLOW_OPEN_MS=500 LD_PRELOAD=$shim \
  timeout 120 "$tmp/venv/bin/python" -m unittest test_aopen.TestAopen.test_article_test_drive > "$tmp/test.log" 2>&1 \
  || { cat "$tmp/test.log"; fail "the test drive from the venv"; }
echo "PASS python install: pip install ./python bundled $(basename "$lib"); the test drive ran from a fresh venv"
