#!/usr/bin/env bash
# Installs libaopen into a scratch DESTDIR with PREFIX=/usr, checks the tree and the soname,
# builds a program with nothing but `pkg-config --cflags --libs aopen` and runs it, links
# one statically through `pkg-config --static`, then uninstalls and checks nothing is left.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=$(mktemp -d /tmp/aopen-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT
fail() { echo "FAIL install: $*"; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
make -s install DESTDIR="$stage" PREFIX=/usr >/dev/null
for f in "usr/lib/libaopen.so.$version" usr/lib/libaopen.so.0 usr/lib/libaopen.so usr/lib/libaopen.a \
         usr/include/aopen.h usr/lib/pkgconfig/aopen.pc; do
  [ -e "$stage/$f" ] || fail "missing $f"
done
[ "$(readlink "$stage/usr/lib/libaopen.so")" = libaopen.so.0 ] || fail "dev symlink"
[ "$(readlink "$stage/usr/lib/libaopen.so.0")" = "libaopen.so.$version" ] || fail "soname symlink"
readelf -d "$stage/usr/lib/libaopen.so.$version" | grep -q 'SONAME.*\[libaopen\.so\.0\]' || fail "soname"
grep -q '^prefix=/usr$' "$stage/usr/lib/pkgconfig/aopen.pc" || fail "pc prefix"
if [ "${VERBOSE:-0}" = 1 ]; then (cd "$stage" && find . -mindepth 1 | sort | sed 's/^/    /'); fi

export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_LIBDIR=$stage/usr/lib/pkgconfig
[ "$(pkg-config --modversion aopen)" = "$version" ] || fail "pkg-config --modversion"
cat > "$stage/prog.c" <<'C'
#include <aopen.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    aopen_ctx *ctx;
    aopen_completion c;
    if (aopen_ctx_new(NULL, &ctx) != 0 || aopen_submit(ctx, "/dev/null", O_RDONLY, 0, NULL, NULL) <= 0)
        return 1;
    if (aopen_wait(ctx, 5000) != 1 || aopen_reap(ctx, &c, 1) != 1 || c.result < 0)
        return 1;
    printf("libaopen %s opened /dev/null as fd %d\n", aopen_version(), c.result);
    close(c.result);
    aopen_ctx_free(ctx);
    return 0;
}
C
# shellcheck disable=SC2046
cc -Wall -Werror -o "$stage/prog" "$stage/prog.c" $(pkg-config --cflags --libs aopen) || fail "shared build"
readelf -d "$stage/prog" | grep -q 'NEEDED.*\[libaopen\.so\.0\]' || fail "prog does not need libaopen.so.0"
out=$(LD_LIBRARY_PATH=$stage/usr/lib "$stage/prog") || fail "shared program failed"
echo "    shared: $out"
# Static: the archive plus the .pc's Libs.private.
# shellcheck disable=SC2046
cc -Wall -Werror -o "$stage/prog-static" "$stage/prog.c" $(pkg-config --cflags aopen) \
   "$stage/usr/lib/libaopen.a" $(pkg-config --static --libs-only-l aopen | sed 's/-laopen//') || fail "static build"
readelf -d "$stage/prog-static" | grep -q 'libaopen' && fail "static program still needs libaopen.so"
out=$("$stage/prog-static") || fail "static program failed"
echo "    static: $out"

make -s uninstall DESTDIR="$stage" PREFIX=/usr >/dev/null
left=$(cd "$stage" && find usr \( -type f -o -type l \) | sort)
[ -z "$left" ] || fail "uninstall left: $left"
echo "PASS install: make install/uninstall, soname libaopen.so.0, pkg-config shared and static builds"
