#!/usr/bin/env bash
# The Python test dependencies, from the package registry into build/pyvenv (never the
# system Python): pytest, pytest-asyncio, hypothesis, uvloop, anyio, trio, and aiofiles
# (the bench's baseline); and aiofiles' 25.1.0 sdist, whose test suite runs against the
# drop-in. Prints the venv's python on success; exits 1 (with a note) where the registry
# cannot be reached, and the suites that need it skip.
set -u
cd "$(dirname "$0")/../.."
venv=build/pyvenv
if [ ! -x $venv/bin/python ] || [ ! -f $venv/.complete ]; then
  python3 -m venv $venv >&2 || { echo "SKIP: cannot make a venv" >&2; exit 1; }
  $venv/bin/pip install -q pytest pytest-asyncio hypothesis uvloop anyio trio aiofiles==25.1.0 >&2 \
    || { echo "SKIP: the package registry is unreachable (pip install failed)" >&2; exit 1; }
  touch $venv/.complete
fi
if [ ! -d build/aiofiles-sdist/aiofiles-25.1.0/tests ]; then
  mkdir -p build/aiofiles-sdist
  ( cd build/aiofiles-sdist && ../../$venv/bin/pip download -q --no-binary :all: --no-deps aiofiles==25.1.0 >&2 \
      && tar xzf aiofiles-25.1.0.tar.gz ) || echo "SKIP: could not fetch the aiofiles sdist" >&2
fi
echo "$PWD/$venv/bin/python"
