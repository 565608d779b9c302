#!/usr/bin/env bash
# Runs examples/copy from a slow mount to a local file: from hangfs (the FUSE test
# filesystem; a 1 MiB file that opens in 300 ms and whose every read takes 50 ms in the
# kernel), mounted in a private mount namespace, where root, /dev/fuse and AOPEN_HANGFS
# allow; else from a directory whose opens the slow-open shim delays by 1 s. The example
# checks the copy byte by byte and its heartbeat itself.
# Usage: copy_test.sh SHIM.so
set -u
cd "$(dirname "$0")/.."
shim=$1
make -s build/examples/copy >/dev/null || { echo "FAIL example copy: build"; exit 1; }
dir=$(mktemp -d /tmp/aopen-copy.XXXXXX)
trap 'rm -rf "$dir"' EXIT
if [ -n "${AOPEN_HANGFS:-}" ] && [ "$(id -u)" = 0 ] && [ -w /dev/fuse ]; then
  from="hangfs (opens 300 ms, reads 50 ms each)"
  mkdir "$dir/mnt" "$dir/ctl"
  AOPEN_HANGFS=$AOPEN_HANGFS dir=$dir timeout 60 unshare --mount --propagation private bash -c '
    "$AOPEN_HANGFS" "$dir/mnt" "$dir/ctl" & daemon=$!
    for _ in $(seq 1000); do [ -e "$dir/ctl/ready" ] && break; sleep 0.01; done
    build/examples/copy "$dir/mnt/open-300+read-50/big" "$dir/dst"; rc=$?
    reads=$(od -An -t d8 -j $((4 * 8)) -N 8 "$dir/ctl/counts" | tr -d " ")
    echo "hangfs answered $reads reads"
    [ "$reads" -ge 16 ] || { echo "the copy did not read through hangfs"; rc=1; }
    kill $daemon; wait $daemon 2>/dev/null
    exit $rc' > "$dir/log" 2>&1
else
  from="a directory whose opens the slow-open shim delays 1 s (no FUSE here)"
  mkdir "$dir/slow"
  head -c $((1 << 20)) /dev/urandom > "$dir/slow/src"
  LD_PRELOAD=$shim SLOW_OPEN_PREFIX="$dir/slow/" SLOW_OPEN_MS=1000 timeout 30 \
    build/examples/copy "$dir/slow/src" "$dir/dst" > "$dir/log" 2>&1
fi
if [ $? -eq 0 ]; then
  echo "PASS example copy from $from: $(grep '^copied' "$dir/log")"
  if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    > /' "$dir/log"; fi
else
  echo "FAIL example copy from $from:"; sed 's/^/    | /' "$dir/log"; exit 1
fi
