#!/usr/bin/env python3
"""Every code block in the docs compiles or runs (make check-snippets).

    tools/check_snippets.py --lib target/release/libaopen.so README.md docs/*.md

- A ```c block that defines main() is compiled and linked against the library
  (`cc -Iinclude ... -laopen`), with warnings as errors; one without main() is compiled
  with -fsyntax-only.
- A ```c block after an HTML comment `<!-- fragment -->` is a piece of a function: its
  lines at the outer level that start with `static` or `#` stay at file scope, the rest
  becomes the body of a function. `pkg=NAME` in that comment, or in `<!-- pkg=NAME -->`
  before a complete block, compiles it with pkg-config's flags for NAME, and skips it with
  a note where pkg-config does not find NAME.
- A ```python block runs with PYTHONPATH=python and AOPEN_LIBRARY=LIB, in a fresh temp
  directory (its working directory), under a timeout; top-level `await` is allowed (the
  block then runs in asyncio.run). `<!-- requires aopen.aiofiles.install -->` before a
  block skips it, with a note, while that name is not there yet.
- README.md is at most 250 lines, and every relative link in the files given resolves to
  a file (and an `#anchor` to a heading of it).

Blocks of other languages (sh, text, roff) are not checked. Exit 0 when nothing failed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_MAX_LINES = 250
PY_TIMEOUT = 60
C_PRELUDE = "#define _GNU_SOURCE\n"
C_FLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
           "-Wno-unused-variable", "-Wno-unused-function", "-Wno-unused-but-set-variable"]
PY_RUNNER = r"""
import ast, asyncio, sys, types
src = open(sys.argv[1]).read()
code = compile(src, sys.argv[2], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
g = {"__name__": "__main__"}
r = eval(code, g)
if isinstance(r, types.CoroutineType):
    asyncio.run(r)
"""


def blocks(path):
    """(language, first line number, code, the HTML comment just before the fence or '')."""
    out, lang, code, start, note, last_comment = [], None, [], 0, "", ""
    with open(path) as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        if lang is None:
            m = re.match(r"^```(\w*)\s*$", line)
            if m:
                lang, code, start, note = m.group(1), [], n + 1, last_comment
                continue
            s = line.strip()
            if s.startswith("<!--") and s.endswith("-->"):
                last_comment = s[4:-3].strip()
            elif s:
                last_comment = ""
        elif line.startswith("```"):
            out.append((lang, start, "\n".join(code) + "\n", note))
            lang, last_comment = None, ""
        else:
            code.append(line)
    return out


def wrap_fragment(code):
    """A fragment's outer-level `static`/`#` parts at file scope, the rest in a function."""
    top, body, depth, in_top = [], [], 0, False
    for line in code.split("\n"):
        s = line.strip()
        if depth == 0 and not in_top and (s.startswith("static ") or s.startswith("#")):
            in_top = True
        (top if in_top else body).append(line)
        depth += line.count("{") - line.count("}")
        if in_top and depth == 0 and (s.endswith(";") or s.endswith("}") or s.startswith("#")):
            in_top = False
    return "\n".join(top) + "\n\nvoid aopen_snippet(void) {\n" + "\n".join(body) + "\n}\n"


def pkg_flags(note):
    m = re.search(r"pkg=([\w.+-]+)", note)
    if not m:
        return [], None
    name = m.group(1)
    r = subprocess.run(["pkg-config", "--cflags", "--libs", name], capture_output=True, text=True)
    if r.returncode:
        return None, name
    return r.stdout.split(), name


def check_c(code, note, lib, tmp, label):
    flags, pkg = pkg_flags(note)
    if flags is None:
        return "skip", f"pkg-config finds no {pkg}"
    fragment = note.startswith("fragment")
    src = C_PRELUDE + ("#include <aopen.h>\n" + wrap_fragment(code) if fragment else code)
    cfile = os.path.join(tmp, "snippet.c")
    with open(cfile, "w") as f:
        f.write(src)
    cc = os.environ.get("CC", "cc")
    base = [cc, *C_FLAGS, "-I" + os.path.join(ROOT, "include"), cfile]
    if re.search(r"\bint\s+main\s*\(", src):
        libdir = os.path.dirname(lib)
        cmd = base + ["-o", os.path.join(tmp, "snippet"), "-L" + libdir, "-laopen",
                      "-Wl,-rpath," + libdir, "-lpthread", *flags]
        how = "linked"
    else:
        cmd = base + ["-fsyntax-only", *[f for f in flags if not f.startswith("-l")]]
        how = "compiled"
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        return "fail", (r.stderr.strip() + "\n--- the code as compiled:\n" + src)
    return "pass", how + (f" with {pkg}" if pkg else "")


def check_python(code, note, lib, tmp, label):
    m = re.match(r"requires\s+([\w.]+)", note)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"), AOPEN_LIBRARY=lib,
               PYTHONDONTWRITEBYTECODE="1")
    if m:
        mod, _, attr = m.group(1).rpartition(".")
        probe = f"import {mod}; assert hasattr({mod}, {attr!r})"
        if subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True).returncode:
            return "skip", f"{m.group(1)} is not there yet"
    pyfile = os.path.join(tmp, "snippet.py")
    runner = os.path.join(tmp, "run_snippet.py")
    with open(pyfile, "w") as f:
        f.write(code)
    with open(runner, "w") as f:
        f.write(PY_RUNNER)
    try:
        r = subprocess.run([sys.executable, runner, pyfile, label], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=PY_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "fail", f"timed out after {PY_TIMEOUT} s"
    if r.returncode:
        return "fail", f"exit {r.returncode}\n" + (r.stdout + r.stderr).strip()
    return "pass", "ran"


def slug(heading):
    """GitHub's anchor for a heading."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def check_links(path):
    problems = []
    text = open(path).read()
    text_wo_code = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text_wo_code):
        if re.match(r"^[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
        if not os.path.exists(dest):
            problems.append(f"{path}: link to {target}: no such file")
            continue
        if anchor and dest.endswith(".md"):
            heads = {slug(h) for h in re.findall(r"^#+\s+(.*)$", open(dest).read(), flags=re.M)}
            if anchor not in heads:
                problems.append(f"{path}: link to {target}: no such heading")
    return problems


def main(argv):
    args = argv[1:]
    lib = os.path.join(ROOT, "target/release/libaopen.so")
    if args[:1] == ["--lib"]:
        lib, args = os.path.abspath(args[1]), args[2:]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    counts = {"pass": 0, "fail": 0, "skip": 0}
    failures = []
    for path in args:
        if os.path.basename(path) == "README.md":
            n = len(open(path).read().splitlines())
            if n > README_MAX_LINES:
                failures.append(f"{path}: {n} lines, more than {README_MAX_LINES}")
        failures += check_links(path)
        for lang, line, code, note in blocks(path):
            check = {"c": check_c, "python": check_python}.get(lang)
            if not check:
                continue
            label = f"{path}:{line}"
            with tempfile.TemporaryDirectory(prefix="aopen-snippet.") as tmp:
                status, detail = check(code, note, lib, tmp, label)
            counts[status] += 1
            if status == "fail":
                failures.append(f"{label} ({lang}):\n{detail}")
            else:
                print(f"{status.upper()} {label} ({lang}): {detail}")
    for f in failures:
        print(f"FAIL {f}")
    print(f"check-snippets: {counts['pass']} passed, {len(failures)} failed, "
          f"{counts['skip']} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
