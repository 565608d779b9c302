#!/usr/bin/env python3
"""The import graph of src/, and a check that it has no circle.

Reads every src/**/*.rs, finds the paths it names (`crate::a::b`, `super::x`, and a child
module's own name, as in `use child::Item`), in `use` lines and in code alike, comments
left out, and resolves each to the module that defines it. Then:

- folder level: one node per top-level module of the crate (`ffi`, `queue`, `sys`, ...); an
  edge A -> B when a file of A names something of B. Any circle fails (exit 1).
- file level: one node per file; an edge when a file names something of another, except
  between a module and its own ancestors (a child using its parent's items, or a parent
  re-exporting its child's, is one room). Circles are printed; with --strict-files they
  fail too.

Usage: tools/import_graph.py [--src src] [--strict-files] [--quiet] [--self-test]. `make lint`
runs it, after --self-test (a made-up crate with a circle that the check must catch).
"""

import argparse
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)::\{")
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOCAL_USE = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?use\s+([A-Za-z_][A-Za-z0-9_]*)::")


def module_path(rel):
    """src-relative file path -> module path tuple ('' file names lib.rs/mod.rs drop out)."""
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("lib", "mod"):
        parts = parts[:-1]
    return tuple(parts)


def strip_comments(text):
    """The code without `//` comments and `/* */` blocks (strings are not parsed: the crate
    keeps no `crate::` inside a string literal)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


def group_heads(code, start):
    """The first identifier of each comma-separated entry of the `{...}` opening at `start`,
    at depth one."""
    depth, heads, entry = 0, [], ""
    for ch in code[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        if depth == 1 and ch == ",":
            heads.append(entry)
            entry = ""
        elif depth >= 1:
            entry += ch
    heads.append(entry)
    out = []
    for e in heads:
        m = IDENT.search(e)
        if m:
            out.append([m.group(0)] + [x for x in re.findall(r"::([A-Za-z_][A-Za-z0-9_]*)", e)])
    return out


def resolve(kind, rest, mod):
    """The absolute path (tuple) named by `kind::rest...` written in module `mod`."""
    if kind == "crate":
        return tuple(rest)
    here = list(mod)
    if kind == "super":
        here = here[:-1]
    while rest and rest[0] == "super":
        here = here[:-1]
        rest = rest[1:]
    return tuple(here) + tuple(rest)


def defining(path, modules):
    """The longest prefix of `path` that is a module of the crate."""
    for n in range(len(path), 0, -1):
        if path[:n] in modules:
            return path[:n]
    return None


def build(src):
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, n), src)
                files[module_path(rel)] = rel
    modules = set(files)
    edges = {}  # (from module, to module) -> example path
    for mod, rel in files.items():
        code = strip_comments(open(os.path.join(src, rel), encoding="utf-8").read())
        named = []
        for m in PATH.finditer(code):
            named.append((m.group(1), m.group(2).split("::")[1:]))
        for m in GROUP.finditer(code):
            for head in group_heads(code, m.end() - 1):
                named.append((m.group(1), head))
        for line in code.split("\n"):
            m = LOCAL_USE.match(line)
            if m and mod + (m.group(1),) in modules:
                named.append(("self", [m.group(1)]))
        for kind, rest in named:
            target = defining(resolve(kind, rest, mod), modules)
            if target is not None and target != mod and target != ():
                edges.setdefault((mod, target), "::".join([kind] + list(rest)))
    return files, edges


def cycles(nodes, succ):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(succ.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def self_test():
    """The check finds a folder circle through `use crate::{..}`, `super::` and inline paths,
    and ignores comments: 0 when it does."""
    import tempfile

    tree = {
        "lib.rs": "mod a;\nmod b;\nmod c;\n",
        "a/mod.rs": "mod x;\n",
        "a/x.rs": "use crate::{b::Thing, c};\n",
        "b.rs": "pub(crate) struct Thing;\n/// crate::a::Never\nfn f() { super::c::g(); }\n",
        "c.rs": "pub(crate) fn g() { let _ = crate::a::x::h; }\n",
    }
    with tempfile.TemporaryDirectory() as d:
        for rel, text in tree.items():
            os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
            open(os.path.join(d, rel), "w").write(text)
        files, edges = build(d)
    folder = {}
    for (a, b) in edges:
        if a and b and a[0] != b[0]:
            folder.setdefault(a[0], set()).add(b[0])
    want = {"a": {"b", "c"}, "b": {"c"}, "c": {"a"}}
    ok = folder == want and cycles(set(want), folder) == [["a", "b", "c"]]
    if not ok:
        print(f"import_graph self-test failed: {folder}", file=sys.stderr)
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"))
    ap.add_argument("--strict-files", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    files, edges = build(args.src)

    folder = {}
    for (a, b), example in edges.items():
        if a and b and a[0] != b[0]:
            folder.setdefault(a[0], {}).setdefault(b[0], example)
    tops = {m[0] for m in files if m}
    if not args.quiet:
        print("folder-level imports (A -> modules A uses):")
        for a in sorted(tops):
            print(f"  {a:8} -> {', '.join(sorted(folder.get(a, {}))) or '-'}")
    bad = cycles(tops, folder)
    for c in bad:
        pairs = [f"{a} -> {b} ({folder[a][b]})" for a in c for b in c if b in folder.get(a, {})]
        print(f"FOLDER CIRCLE: {' <-> '.join(c)}: " + "; ".join(pairs), file=sys.stderr)

    def related(a, b):
        return a[: len(b)] == b or b[: len(a)] == a

    fsucc = {}
    for (a, b) in edges:
        if not related(a, b):
            fsucc.setdefault(a, set()).add(b)
    fbad = cycles(set(files), fsucc)
    for c in fbad:
        names = [files[m] for m in c]
        pairs = [f"{files[a]} -> {files[b]}" for a in c for b in c if b in fsucc.get(a, ())]
        print(f"file circle: {' <-> '.join(names)}: " + "; ".join(pairs), file=sys.stderr)
    if not args.quiet:
        print(f"{len(files)} files, {len(edges)} file edges; folder circles: {len(bad)}, "
              f"file circles (outside a module's own ancestry): {len(fbad)}")
    return 1 if bad or (fbad and args.strict_files) else 0


if __name__ == "__main__":
    sys.exit(main())
