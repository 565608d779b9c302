#!/usr/bin/env bash
# Runs the asyncio integration's tests with the slow-open shim preloaded into python3, then
# (as root, with /dev/fuse and AOPEN_HANGFS set) the tests against hangfs, the hung FUSE
# filesystem, in a private mount namespace so that no mount outlives them.
# Usage: python/run_tests.sh SHIM.so
set -eu
cd "$(dirname "$0")/.."
shim=$1
# The package's house checks (import graph, __init__'s names), read from source.
timeout 60 python3 -m unittest python/tests/test_house.py
dir=$(mktemp -d /tmp/aopen-python.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/slow"
AOPEN_TEST_DIR=$dir SLOW_OPEN_PREFIX=$dir/slow/ SLOW_OPEN_MS=500 LD_PRELOAD=$shim \
  AOPEN_LIBRARY=$PWD/target/release/libaopen.so PYTHONPATH=python \
  timeout 120 python3 -m unittest -v python/tests/test_aopen.py

# The drop-in: aiofiles' own suite (asyncio, then uvloop), the differential property tests
# against the built-in file (AOPEN_HYPOTHESIS_EXAMPLES per test, default 300), and anyio.
if py=$(python/tests/setup_venv.sh); then
  export AOPEN_LIBRARY=$PWD/target/release/libaopen.so
  python/tests/run_aiofiles_suite.sh "$py" asyncio
  python/tests/run_aiofiles_suite.sh "$py" uvloop
  PYTHONPATH=python AOPEN_HYPOTHESIS_EXAMPLES=${AOPEN_HYPOTHESIS_EXAMPLES:-300} timeout 600 \
    "$py" -m pytest -q -p no:cacheprovider python/tests/test_differential.py
  # Cancellation at random points and os calls on fileno() between the drop-in's, against
  # the built-in file and the kernel (issue 28's rule), on asyncio and uvloop.
  PYTHONPATH=python AOPEN_HYPOTHESIS_EXAMPLES=${AOPEN_HYPOTHESIS_EXAMPLES:-300} timeout 600 \
    "$py" -m pytest -q -p no:cacheprovider python/tests/test_cancel.py
  PYTHONPATH=python AOPEN_LOOP=uvloop AOPEN_HYPOTHESIS_EXAMPLES=100 timeout 600 \
    "$py" -m pytest -q -p no:cacheprovider python/tests/test_cancel.py
  # The same on uvloop, a smaller budget; then anyio on its asyncio and trio backends.
  PYTHONPATH=python AOPEN_LOOP=uvloop AOPEN_HYPOTHESIS_EXAMPLES=100 timeout 600 \
    "$py" -m pytest -q -p no:cacheprovider python/tests/test_differential.py
  PYTHONPATH=python timeout 120 "$py" -m pytest -q -p no:cacheprovider python/tests/test_anyio.py
  # aiofiles' module layout and seams, misuse and edge cases beside the built-in file.
  PYTHONPATH=python timeout 300 "$py" -m pytest -q -p no:cacheprovider python/tests/test_dropin.py
else
  echo "SKIP aiofiles suite and differential tests: no test venv (package registry unreachable)"
fi

# Projects that depend on aiofiles (aiocsv, aiogram, sanic): their own tests with aiofiles and
# with the drop-in; a project fails only where the drop-in fails a test aiofiles passes.
timeout 900 python/tests/run_projects.sh

if [ -n "${AOPEN_HANGFS:-}" ] && [ "$(id -u)" = 0 ] && [ -w /dev/fuse ]; then
  mkdir "$dir/fuse"
  AOPEN_TEST_DIR=$dir/fuse AOPEN_PRIVATE_MOUNTS=1 AOPEN_LIBRARY=$PWD/target/release/libaopen.so \
    PYTHONPATH=python timeout 120 unshare --mount --propagation private \
    python3 -m unittest -v python/tests/test_fuse.py
  # Cancelling the drop-in's calls while they hang in their syscall (issue 28's rule).
  mkdir "$dir/fuse-cancel"
  AOPEN_TEST_DIR=$dir/fuse-cancel AOPEN_PRIVATE_MOUNTS=1 AOPEN_LIBRARY=$PWD/target/release/libaopen.so \
    PYTHONPATH=python timeout 120 unshare --mount --propagation private \
    python3 -m unittest -v python/tests/test_fuse_cancel.py
else
  echo "SKIP python/tests/test_fuse.py: needs root, /dev/fuse and AOPEN_HANGFS (libfuse3-dev)"
fi
