#!/usr/bin/env bash
# aiofiles 25.1.0's own test suite, with `aiofiles` resolved to `aopen.aiofiles` (a conftest
# calls aopen.aiofiles.install(); the tests are unchanged). Excluded, as a test of the
# machine rather than of the API:
#   test_os.py::test_access (as root)   expects chmod 000 to deny access; root is never
#                                        denied (aiofiles fails it too as root).
# Usage: run_aiofiles_suite.sh PYTHON [LOOP]   (LOOP: asyncio or uvloop)
set -eu
py=$1
loop=${2:-asyncio}
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/build/aiofiles-sdist/aiofiles-25.1.0/tests
[ -d "$src" ] || { echo "SKIP aiofiles suite: no aiofiles sdist (registry unreachable?)"; exit 0; }
work=$(mktemp -d /tmp/aopen-aiofiles.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$src" "$work/tests"
cat > "$work/tests/conftest.py" <<PY
import sys
import pytest
import aopen.aiofiles
aopen.aiofiles.install()
if "$loop" == "uvloop":
    import uvloop
    @pytest.fixture(scope="session")
    def event_loop_policy():
        return uvloop.EventLoopPolicy()
PY
deselect=()
[ "$(id -u)" = 0 ] && deselect+=(--deselect tests/test_os.py::test_access)
cd "$work"
PYTHONPATH=$root/python timeout 300 "$py" -m pytest -q -p no:cacheprovider -o asyncio_mode=auto \
  -o asyncio_default_fixture_loop_scope=function "${deselect[@]}" tests
