#!/usr/bin/env bash
# Runs each C test binary with the slow-open shim preloaded and a per-test timeout.
# Exit codes: 0 pass, 77 skip, anything else (or a timeout) fail.
# Each test gets a fresh directory in AOPEN_TEST_DIR; opens under $AOPEN_TEST_DIR/slow/
# are slowed by the shim (SLOW_OPEN_PREFIX), everything else is not.
# TEST_WRAPPER, if set, prefixes each test's command (make check-valgrind sets it).
# Usage: run.sh SHIM.so TEST...
set -u
shim=$1; shift
timeout_s=${TEST_TIMEOUT:-120}
pass=0 fail=0 skip=0 failed=()
for t in "$@"; do
  name=$(basename "$t")
  dir=$(mktemp -d "/tmp/aopen-test-$name.XXXXXX")
  mkdir -p "$dir/slow"
  start=$EPOCHREALTIME
  AOPEN_TEST_DIR=$dir SLOW_OPEN_PREFIX=$dir/slow/ SLOW_OPEN_MS=${SLOW_OPEN_MS:-1000} \
    LD_PRELOAD=$shim timeout -k 5 "$timeout_s" ${TEST_WRAPPER:-} "$t" >"$dir.log" 2>&1
  rc=$?
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
  case $rc in
    0)  pass=$((pass+1)); printf 'PASS %-28s %6.2fs\n' "$name" "$secs" ;;
    77) skip=$((skip+1)); printf 'SKIP %-28s %s\n' "$name" "$(tail -n1 "$dir.log")" ;;
    124|137) fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-28s timed out after %ss\n' "$name" "$timeout_s" ;;
    *)  fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-28s exit %d\n' "$name" "$rc" ;;
  esac
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then sed 's/^/    | /' "$dir.log"; fi
  if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    > /' "$dir.log"; fi
  rm -rf "$dir" "$dir.log"
done
if [ "$fail" -gt 0 ]; then echo "failed: ${failed[*]}"; fi
if [ "$skip" -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
[ "$fail" -eq 0 ]
