"""House checks of the aopen package, read from its source with `ast` (nothing is imported):

- no import circle among its modules, counting every import, deferred ones inside functions
  included (a deferred import hides a circle from Python, not from a reader);
- ``__init__.py`` holds only the package's public names: imports, ``__all__``/``__version__``,
  and the functions and classes ``__all__`` lists (private helpers only beside them).
"""

import ast
import os
import unittest

PKG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "aopen")


def modules():
    """{dotted name: path} of every module of the package."""
    found = {}
    for root, _dirs, files in os.walk(PKG):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(root, f), os.path.dirname(PKG))[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            found[".".join(rel)] = os.path.join(root, f)
    return found


def imports(name, path, known):
    """The package's modules that module `name` (at `path`) imports, anywhere in its body."""
    is_pkg = path.endswith("__init__.py")
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()

    def add(target):
        # `from . import os` names a submodule; `from ._abi import lib` names a module's item.
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)

    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "aopen":
                    add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[:len(base) - (node.level - 1)]
                mod = ".".join(parts + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "aopen":
                mod = node.module
            else:
                continue
            for a in node.names:
                full = f"{mod}.{a.name}"
                add(full if full in known else mod)
    return out


def cycles(graph):
    """Every import circle in `graph` ({module: set of modules}), each as a list."""
    found, state, stack = [], {}, []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                found.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def graph():
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


class House(unittest.TestCase):
    def test_no_import_circle(self):
        g = graph()
        self.assertIn("aopen.os", g)
        self.assertIn("aopen.aiofiles", g)
        self.assertEqual(cycles(g), [], "import circles (deferred imports included)")

    def test_the_check_sees_a_circle(self):
        self.assertEqual(cycles({"a": {"b"}, "b": {"a"}, "c": set()}), [["a", "b", "a"]])

    def test_init_holds_public_names(self):
        path = os.path.join(PKG, "__init__.py")
        tree = ast.parse(open(path).read(), path)
        public = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
                      and any(getattr(t, "id", "") == "__all__" for t in n.targets))
        defined = set()
        for n in tree.body:
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant):
                continue  # the docstring
            if isinstance(n, ast.Assign):
                names = {t.id for t in n.targets if isinstance(t, ast.Name)}
                self.assertTrue(names <= {"__all__", "__version__"}, f"__init__ assigns {names}")
                continue
            self.assertIsInstance(n, (ast.FunctionDef, ast.ClassDef), ast.dump(n)[:80])
            defined.add(n.name)
        self.assertEqual({d for d in defined if not d.startswith("_")} - set(public), set(),
                         "public definitions in __init__ missing from __all__")


if __name__ == "__main__":
    g = graph()
    for m in sorted(g):
        print(m, "->", ", ".join(sorted(g[m])) or "-")
    print("circles:", cycles(g) or "none")
