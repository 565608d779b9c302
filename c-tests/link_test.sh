#!/usr/bin/env bash
# A newcomer's first program, from a fresh clone: `make`, then link a tiny program against
# the build tree as README says (-Ltarget/release -laopen with an rpath there) and run it.
# The program records the soname, libaopen.so.0, so the loader needs that name beside the
# library: `make` must have made it. The clone has its own target directory, so nothing
# built earlier in this checkout (a link made by another target) can stand in for it.
# Usage: c-tests/link_test.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/aopen-link.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL link: $*"; exit 1; }

# The committed tree, as a newcomer gets it.
git -C "$repo" rev-parse --git-dir >/dev/null 2>&1 || { echo "SKIP link: $repo is not a git checkout"; exit 0; }
git clone -q "$repo" "$tmp/aopen" || fail "git clone"
cd "$tmp/aopen"
unset CARGO_TARGET_DIR CARGO_BUILD_TARGET MAKEFLAGS MAKELEVEL
timeout 600 make > "$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make"; }

cat > app.c <<'C'
#include <aopen.h>
#include <stdio.h>
int main(void) {
    aopen_ctx *ctx;
    if (aopen_ctx_new(NULL, &ctx) != 0)
        return 1;
    printf("libaopen %s\n", aopen_version());
    aopen_ctx_free(ctx);
    return 0;
}
C
cc app.c -Iinclude -Ltarget/release -laopen -Wl,-rpath,"$PWD/target/release" -o app || fail "cc app.c"
readelf -d app | grep -q 'NEEDED.*\[libaopen\.so\.0\]' || fail "app does not record libaopen.so.0"
out=$(./app 2>&1) || { echo "    $out"; fail "./app did not start (make must leave target/release/libaopen.so.0)"; }
[ -L target/release/libaopen.so.0 ] || fail "target/release/libaopen.so.0 is not the link make makes"
echo "    $out"
echo "PASS link: make, then cc app.c -Ltarget/release -laopen -Wl,-rpath and ./app, from a fresh clone"
