#!/usr/bin/env bash
# Open-source projects that depend on aiofiles, each run with its own tests twice: with aiofiles
# 25.1.0, then with every `import aiofiles[...]` resolved to the drop-in (projects/dropin/
# sitecustomize.py, loaded before any of the project's code). A project fails only where a test
# that passes with aiofiles does not pass with the drop-in.
#   aiocsv 1.4.1    CSV reader and writer over aiofiles' text files (newline=""), line by line
#                   and in chunks. Its whole suite; its sdist lacks the suite's four data files,
#                   kept in projects/aiocsv-data from its repository's v1.4.1 tag (MIT).
#   aiogram 3.31.0  Telegram bot framework: uploads read and downloads written through
#                   aiofiles.open, and a test on aiofiles' README recipe (threadpool.wrap
#                   registered for MagicMock, threadpool.sync_open patched). Its whole suite.
#   sanic 25.12.1   web server: file() and file_stream() responses and static files through
#                   aiofiles.open and aiofiles.os.stat, served on uvloop over loopback.
#                   tests/test_response.py and tests/test_static.py (the whole suite takes
#                   minutes and mostly never touches a file).
# Each project's venv, build/projects/NAME-venv, holds exactly the pins in projects/NAME.txt;
# its tests come from its sdist on the package registry (build/projects/sdists). A project whose
# venv or sdist cannot be fetched skips with a note. Logs: build/projects/logs/NAME-{aiofiles,dropin}.log.
# Usage: run_projects.sh [NAME...]   (default: all three)
#   AOPEN_PYTHONPATH (default: this repo's python/) and AOPEN_LIBRARY (default: its
#   target/release/libaopen.so) name the aopen that the drop-in runs import.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
projects=$here/projects
build=$root/build/projects
pkgpath=${AOPEN_PYTHONPATH:-$root/python}
export AOPEN_LIBRARY=${AOPEN_LIBRARY:-$root/target/release/libaopen.so}
mkdir -p "$build/sdists" "$build/logs"
work=$(mktemp -d /tmp/aopen-projects.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Sets, for project $name: ver, copy (what the runs take from the sdist), args (pytest's).
describe() {
  case $name in
    aiocsv) ver=1.4.1; copy=(tests); args=(tests) ;;
    aiogram) ver=3.31.0; copy=(tests pyproject.toml); args=(tests) ;; # pyproject: pytest's config
    sanic) ver=25.12.1; copy=(tests); args=(tests/test_response.py tests/test_static.py) ;;
    *) return 1 ;;
  esac
}

# What a project's own CI does to its test folder $1 before pytest.
prepare() {
  case $name in
    aiocsv) cp "$projects"/aiocsv-data/*.csv "$projects"/aiocsv-data/*.tsv "$1/tests/" ;;
    aiogram) "$venv/bin/pybabel" compile -f -d "$1/tests/data/locales" >/dev/null 2>&1 ;;
  esac
}

# The venv with the pins (rebuilt when they change) and the unpacked sdist; 1 with a note.
fetch() {
  venv=$build/$name-venv
  sdist=$build/sdists/$name-$ver
  if ! cmp -s "$projects/$name.txt" "$venv/.complete"; then
    rm -rf "$venv"
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q -r "$projects/$name.txt"; } \
      >"$build/logs/$name-pip.log" 2>&1 \
      || { note="pip install failed (registry unreachable?), see build/projects/logs/$name-pip.log"; return 1; }
    cp "$projects/$name.txt" "$venv/.complete"
  fi
  if [ ! -d "$sdist" ]; then
    ( cd "$build/sdists" && "$venv/bin/pip" download -q --no-binary :all: --no-deps "$name==$ver" \
        && tar xzf "$name-$ver.tar.gz" ) >>"$build/logs/$name-pip.log" 2>&1 \
      || { rm -rf "$sdist"; note="could not fetch its sdist (registry unreachable?)"; return 1; }
  fi
}

# One run of the project's tests: MODE is aiofiles or dropin; leaves $work/$name-MODE.xml.
# The folder is named after the project, as its checkout would be (sanic skips tests elsewhere).
run() {
  local mode=$1 dir=$work/$1/$name path=
  mkdir -p "$dir"
  for c in "${copy[@]}"; do cp -r "$sdist/$c" "$dir/"; done
  prepare "$dir"
  [ "$mode" = dropin ] && path=$projects/dropin:$pkgpath
  ( cd "$dir" && PYTHONPATH=$path timeout 150 "$venv/bin/python" -m pytest -q -p no:cacheprovider \
      -o junit_family=xunit2 --junitxml="$work/$name-$mode.xml" "${args[@]}" ) \
    >"$build/logs/$name-$mode.log" 2>&1
}

passed=0 failed=0 skipped=0
names=("$@")
[ $# = 0 ] && names=(aiocsv aiogram sanic)
for name in "${names[@]}"; do
  describe || { echo "FAIL $name: no such project here"; failed=$((failed + 1)); continue; }
  label=$name==$ver
  if ! fetch; then
    echo "SKIP $label: $note"; skipped=$((skipped + 1)); continue
  fi
  # The drop-in must really be what `import aiofiles` gives, or the second run proves nothing.
  if ! PYTHONPATH=$projects/dropin:$pkgpath "$venv/bin/python" -c \
      'import sys, aiofiles; sys.exit(aiofiles.open.__module__.split(".")[0] != "aopen")' \
      >"$build/logs/$name-switch.log" 2>&1; then
    echo "FAIL $label: \`import aiofiles\` does not give the drop-in:"
    sed 's/^/  /' "$build/logs/$name-switch.log"
    failed=$((failed + 1)); continue
  fi
  run aiofiles; run dropin
  python3 "$projects/compare.py" "$label" "$work/$name-aiofiles.xml" "$work/$name-dropin.xml"
  case $? in
    0) passed=$((passed + 1)) ;;
    2) skipped=$((skipped + 1)) ;;
    *) failed=$((failed + 1)) ;;
  esac
done
echo "projects: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
