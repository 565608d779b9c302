#!/usr/bin/env bash
# Runs the asyncio integration's tests with the slow-open shim preloaded into python3.
# Usage: python/run_tests.sh SHIM.so
set -eu
cd "$(dirname "$0")/.."
shim=$1
dir=$(mktemp -d /tmp/aopen-python.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/slow"
AOPEN_TEST_DIR=$dir SLOW_OPEN_PREFIX=$dir/slow/ SLOW_OPEN_MS=500 LD_PRELOAD=$shim \
  AOPEN_LIBRARY=$PWD/target/release/libaopen.so PYTHONPATH=python \
  timeout 120 python3 -m unittest -v python/tests/test_aopen.py
