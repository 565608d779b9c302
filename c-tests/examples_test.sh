#!/usr/bin/env bash
# Builds and runs each example (NAME:PKG, PKG empty for none) with the slow-open shim
# delaying every open under its directory by 1 s. A loop library pkg-config cannot find is
# skipped with a note; an example that fails or stalls its timer fails the run.
# Usage: examples_test.sh SHIM.so NAME:PKG...
set -u
cd "$(dirname "$0")/.."
shim=$1; shift
status=0
for spec in "$@"; do
  name=${spec%%:*} pkg=${spec#*:}
  if [ -n "$pkg" ] && ! pkg-config --exists "$pkg"; then
    echo "SKIP example $name: pkg-config cannot find $pkg (install its -dev package)"
    continue
  fi
  make -s "build/examples/$name" >/dev/null || { echo "FAIL example $name: build"; status=1; continue; }
  dir=$(mktemp -d "/tmp/aopen-example-$name.XXXXXX")
  if LD_PRELOAD=$shim SLOW_OPEN_PREFIX="$dir/" SLOW_OPEN_MS=1000 timeout 30 "build/examples/$name" "$dir" \
       >"$dir.log" 2>&1; then
    echo "PASS example $name: $(tail -n1 "$dir.log")"
    if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    > /' "$dir.log"; fi
  else
    echo "FAIL example $name:"; sed 's/^/    | /' "$dir.log"; status=1
  fi
  rm -rf "$dir" "$dir.log"
done
exit $status
