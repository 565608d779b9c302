"""Issue 31's everyday Python workloads: each async file library beside the built-in file,
driven the same way in the same process (64 tasks in flight, the built-in `open` called
inside the coroutine: it blocks the loop, and is the harness's ceiling).

    python3 benches/py_everyday.py WORKDIR [CSV] [--loop asyncio|uvloop] [--libs L,L,...]
                                   [--workloads W,W,...] [--process NAME] [--secs S] [--rounds N]
                                   [--quiet]
    python3 benches/py_everyday.py --combine CSV     (the tables of BENCH_RUN's rows in CSV)

WORKDIR gets a fresh folder of its own for the files (removed at the end). Libraries (--libs,
default all but aiofiles-x; one that cannot be imported is left out with a note):
  aopen.aiofiles   this package's drop-in for aiofiles
  aiofiles         aiofiles itself (the `aiofiles` distribution)
  aiofiles-x       the C++ reimplementation, which installs itself as `aiofiles`: a venv of its own
  anyio            anyio.open_file; anyio.Path(p).stat() and iterdir() for stat and listdir
  aiofile          aiofile.async_open (caio); it has no stat or listdir: run_in_executor there
Each workload runs for every library in turn, a warm-up round then --rounds alternating rounds
of --secs each; the medians are printed (workloads per second, and each library x the
built-in of its process) and every round appended to CSV as run,metric,variant,k,repeat,value
(run: $BENCH_RUN; metric: py_everyday_<loop>_<workload>; k: tasks in flight). --process NAME
names this process's built-in "builtin [NAME]": the column --combine divides NAME's figures
by (benches/py_everyday.sh runs aiofiles-x that way, in its own venv).
"""

import argparse
import asyncio
import importlib
import importlib.metadata
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict

IN_FLIGHT = 64
CHUNK = 64 * 1024
WRITE_SIZE = 4096
LISTDIR_ENTRIES = 100
TEXT_LINES = 1000
PEERS = ["aiofiles", "aiofiles-x", "anyio", "aiofile"]
LIBS = ["aopen.aiofiles"] + PEERS
EXECUTOR = " (executor)"  # the suffix of aiofile's stat and listdir variants


# --- the workloads, through a library's open/stat/listdir ------------------------------------

async def open_close(lib, path):
    async with lib.open(path, "rb"):
        pass


async def read_all(lib, path):
    async with lib.open(path, "rb") as f:
        await f.read()


async def read_chunks(lib, path):
    async with lib.open(path, "rb") as f:
        while await f.read(CHUNK):
            pass


async def write_4k(lib, path):
    async with lib.open(path, "wb") as f:
        await f.write(WRITE_DATA)


async def stat(lib, path):
    await lib.stat(path)


async def listdir(lib, path):
    await lib.listdir(path)


async def read_text(lib, path):
    async with lib.open(path, "r", encoding="utf-8") as f:
        await f.read()


async def readline_loop(lib, path):
    async with lib.open(path, "r", encoding="utf-8") as f:
        while await f.readline():
            pass


# --- the same with the built-in file, on the loop ----------------------------------------------

def builtin_open_close(path):
    with open(path, "rb"):
        pass


def builtin_read_all(path):
    with open(path, "rb") as f:
        f.read()


def builtin_read_chunks(path):
    with open(path, "rb") as f:
        while f.read(CHUNK):
            pass


def builtin_write_4k(path):
    with open(path, "wb") as f:
        f.write(WRITE_DATA)


def builtin_read_text(path):
    with open(path, "r", encoding="utf-8") as f:
        f.read()


def builtin_readline_loop(path):
    with open(path, "r", encoding="utf-8") as f:
        while f.readline():
            pass


WRITE_DATA = os.urandom(WRITE_SIZE)

# key, label, file (a key of make_files' result), the library workload, the built-in one
WORKLOADS = [
    ("open_close", "open + close", "4k", open_close, builtin_open_close),
    ("read_4k", "open + read() 4 KiB + close", "4k", read_all, builtin_read_all),
    ("read_64k", "open + read() 64 KiB + close", "64k", read_all, builtin_read_all),
    ("read_1m_chunks", "1 MiB in 64 KiB read(n), open+close", "1m", read_chunks, builtin_read_chunks),
    ("write_4k", "open + write() 4 KiB + close", "write", write_4k, builtin_write_4k),
    ("stat", "os.stat", "4k", stat, os.stat),
    ("listdir", f"os.listdir, {LISTDIR_ENTRIES} entries", "dir", listdir, os.listdir),
    ("text_read", "text: open + read() 4 KiB UTF-8 + close", "text", read_text, builtin_read_text),
    ("readline_loop", f"text: readline() x {TEXT_LINES} lines", "lines", readline_loop,
     builtin_readline_loop),
]
# The targets for aopen.aiofiles x the built-in (shown beside its ratio by --combine).
TARGETS = {"open_close": 0.8, "read_4k": 0.8, "read_64k": 0.8, "read_1m_chunks": 0.8, "write_4k": 0.8,
           "stat": 1.0, "listdir": 0.5, "text_read": 0.6, "readline_loop": 0.4}


def make_files(base):
    """The workloads' files in `base`: {file key: one path per task}."""
    def put(name, data):
        path = os.path.join(base, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    text = "".join(f"{i:4} héllo wörld, naïve café ☕ ∑ 日本語 — " for i in range(200))
    lines = "".join(f"line {i:4}: the quick brown fox, déjà vu ✓\n" for i in range(TEXT_LINES))
    d = os.path.join(base, "dir")
    os.mkdir(d)
    for i in range(LISTDIR_ENTRIES):
        open(os.path.join(d, f"entry-{i:03}"), "wb").close()
    os.mkdir(os.path.join(base, "w"))
    shared = {"4k": put("4k", os.urandom(4096)), "64k": put("64k", os.urandom(64 * 1024)),
              "1m": put("1m", os.urandom(1 << 20)), "dir": d,
              "text": put("text", text.encode()[:4096].decode("utf-8", "ignore").encode()),
              "lines": put("lines", lines.encode())}
    files = {k: [p] * IN_FLIGHT for k, p in shared.items()}
    files["write"] = [os.path.join(base, "w", f"task-{i:02}") for i in range(IN_FLIGHT)]
    return files


# --- the libraries ------------------------------------------------------------------------------

class Lib:
    """What a workload calls: open(path, mode, **kw) -> async context manager, stat(path),
    listdir(path); `executor` names the calls made through run_in_executor."""

    def __init__(self, name, version, open_, stat_, listdir_, executor=()):
        self.name, self.version, self.open, self.stat, self.listdir = name, version, open_, stat_, listdir_
        self.executor = executor


class _AwaitedContext:
    """`async with` over a coroutine that returns an async context manager (anyio.open_file)."""
    __slots__ = ("_coro", "_cm")

    def __init__(self, coro):
        self._coro = coro

    async def __aenter__(self):
        self._cm = await self._coro
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc):
        return await self._cm.__aexit__(*exc)


def _in_executor(fn):
    async def call(path):
        return await asyncio.get_running_loop().run_in_executor(None, fn, path)
    return call


def _aiofiles_like(name, module, dist):
    """aopen.aiofiles, aiofiles or aiofiles-x: `module` must come from distribution `dist`
    (aiofiles and aiofiles-x are both imported as `aiofiles`)."""
    version = importlib.metadata.version(dist) if dist else ""  # PackageNotFoundError: not this one
    mod = importlib.import_module(module)
    version = version or getattr(sys.modules.get("aopen"), "__version__", "")
    importlib.import_module(module + ".os")
    return Lib(name, version, mod.open, mod.os.stat, mod.os.listdir)


def load_lib(name):
    if name == "aopen.aiofiles":
        return _aiofiles_like(name, "aopen.aiofiles", None)
    if name in ("aiofiles", "aiofiles-x"):
        return _aiofiles_like(name, "aiofiles", name)
    if name == "anyio":
        import anyio

        async def listdir_(path):
            return [p async for p in anyio.Path(path).iterdir()]

        async def stat_(path):
            return await anyio.Path(path).stat()

        return Lib(name, importlib.metadata.version("anyio"),
                   lambda path, mode, **kw: _AwaitedContext(anyio.open_file(path, mode, **kw)), stat_, listdir_)
    if name == "aiofile":
        import aiofile
        return Lib(name, importlib.metadata.version("aiofile"), aiofile.async_open,
                   _in_executor(os.stat), _in_executor(os.listdir), executor=("stat", "listdir"))
    raise ImportError(f"unknown library {name!r} (known: {', '.join(LIBS)})")


# --- measuring ----------------------------------------------------------------------------------

async def workloads_per_s(run_one, paths, secs):
    """Workloads finished per second by one task per entry of `paths`, each running `run_one`
    on its own path until `secs` have passed."""
    deadline = time.monotonic() + secs
    finished = [0] * len(paths)

    async def task(i):
        while time.monotonic() < deadline:
            await run_one(paths[i])
            finished[i] += 1

    start = time.monotonic()
    await asyncio.gather(*map(task, range(len(paths))))
    return sum(finished) / (time.monotonic() - start)


def variants_of(key, lib_workload, builtin_workload, libs, builtin_name):
    """[(variant name, library name, coroutine function of a path)] for one workload."""
    async def builtin(path):
        builtin_workload(path)

    out = [(builtin_name, "builtin", builtin)]
    for lib in libs:
        name = lib.name + (EXECUTOR if key in lib.executor else "")
        out.append((name, lib.name, lambda path, lib=lib: lib_workload(lib, path)))
    return out


async def measure(libs, files, secs, rounds, builtin_name, notes, only):
    """{workload key: {variant: [rate per round]}} of the workloads whose key is in `only`."""
    results = {}
    for key, _label, file, lib_workload, builtin_workload in WORKLOADS:
        if key not in only:
            continue
        variants = variants_of(key, lib_workload, builtin_workload, libs, builtin_name)
        runs = {v: [] for v, _, _ in variants}
        for r in range(-1, rounds):  # round -1 warms up (threads, caches, the library)
            turn = variants[r % len(variants):] + variants[:r % len(variants)]
            for variant, lib_name, run_one in turn:
                if runs.get(variant) is None:
                    continue  # failed in an earlier round
                try:  # the warm-up with 8 tasks: one workload each can take seconds at 64
                    rate = await (workloads_per_s(run_one, files[file], secs) if r >= 0 else
                                  workloads_per_s(run_one, files[file][:8], min(secs, 0.1)))
                except Exception as e:  # a library's failure leaves its cell empty, never the run
                    notes.append(f"{lib_name}: {key} failed: {type(e).__name__}: {e}")
                    runs[variant] = None
                    continue
                if r >= 0:
                    runs[variant].append(rate)
        results[key] = {v: x for v, x in runs.items() if x}
    return results


# --- reporting ----------------------------------------------------------------------------------

def csv_rows(label, loop, results):
    for key, runs in results.items():
        for variant, values in runs.items():
            for i, x in enumerate(values):
                yield f"{label},py_everyday_{loop}_{key},{variant},{IN_FLIGHT},{i},{x:.4f}\n"


def read_csv(path, label):
    """{loop: {workload key: {variant: [values]}}} of run `label`'s py_everyday rows."""
    out = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    prefix = "py_everyday_"
    keys = sorted((w[0] for w in WORKLOADS), key=len, reverse=True)  # longest first: read_4k vs ..._4k
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(",")
            if len(parts) < 6 or parts[0] != label or not parts[1].startswith(prefix):
                continue
            loop_key = parts[1][len(prefix):]
            key = next((k for k in keys if loop_key.endswith("_" + k)), None)
            if key:
                out[loop_key[:-len(key) - 1]][key][",".join(parts[2:-3])].append(float(parts[-1]))
    return out


def cell(value, ratio, mark, width):
    """A table cell: workloads/s and the ratio, then a mark (or a space)."""
    text = "-" if value is None else f"{value:.0f} {ratio:4.2f}x" if ratio is not None else f"{value:.0f}"
    return f" {text:>{width}}{mark}"


def builtin_of(lib, med):
    """The built-in this library is divided by: its own process's, else this process's."""
    return med.get(f"builtin [{lib}]") or med.get("builtin")


def table(title, runs_by_key, columns, with_targets=False):
    """Prints one table: rows = workloads, a column per library: workloads/s and x builtin.
    `runs_by_key`: {workload key: {variant: [values]}}; `columns`: library names (a column
    "builtin [NAME]", NAME's process's built-in, is divided by this process's)."""
    print(title)
    widths = [max(15, len(c)) for c in columns]
    head = f"  {'workload':40} {'builtin':>9}" + "".join(f" {c:>{w}} " for c, w in zip(columns, widths))
    print(head + (f" {'target':>6} {'x best peer':>11}" if with_targets else ""))
    marks = set()
    for key, label, *_ in WORKLOADS:
        med = {v: statistics.median(x) for v, x in runs_by_key.get(key, {}).items()}
        if not med:
            continue
        line = f"  {label:40} " + (f"{med['builtin']:9.0f}" if "builtin" in med else f"{'-':>9}")
        ratios = {}
        for c, w in zip(columns, widths):
            variant = c if c in med else c + EXECUTOR if c + EXECUTOR in med else None
            base = builtin_of(c, med)
            mark = " "
            if variant and base:
                ratios[c] = med[variant] / base
                mark = "*" if variant != c else "'" if f"builtin [{c}]" in med else " "
                marks.add(mark)
            line += cell(med.get(variant), ratios.get(c), mark, w)
        if with_targets:
            peers = [ratios[p] for p in PEERS if p in ratios]
            mine = ratios.get("aopen.aiofiles")
            line += f" {TARGETS[key]:5.1f}x" + (f" {mine / max(peers):10.2f}x" if mine and peers else f" {'-':>11}")
        print(line)
    if "*" in marks:
        print("  * run_in_executor: aiofile has no stat or listdir (CSV variant 'aiofile (executor)')")
    if "'" in marks:
        print("  ' x the built-in measured in that library's own process (its venv): the builtin [...] column")


def print_tables(loop, results, libs, secs, rounds):
    cols = [lib.name for lib in libs]
    table(f"Python everyday workloads, {loop}, {IN_FLIGHT} tasks in flight; {rounds} alternating "
          f"rounds of {secs} s; medians: workloads/s, x builtin", results, cols)


def combine(csv, label):
    """The driver's tables: every process's rows of run `label`, per loop, then the ratios
    side by side."""
    data = read_csv(csv, label)
    if not data:
        print(f"(no py_everyday rows of run {label!r} in {csv})")
        return
    loops = [lp for lp in ("asyncio", "uvloop") if lp in data] + [lp for lp in data if lp not in ("asyncio", "uvloop")]
    present = {v.split(" (")[0] for lp in data.values() for runs in lp.values() for v in runs}
    cols = [c for c in LIBS if c in present]
    cols += sorted(c for c in present if c.startswith("builtin ["))  # other processes' built-ins
    for lp in loops:
        table(f"Python everyday workloads, {lp}, {IN_FLIGHT} tasks in flight (run {label}); medians: "
              "workloads/s, x builtin; target: issue 31's for aopen.aiofiles; x best peer: "
              "aopen.aiofiles' ratio / the best peer's", data[lp], cols, with_targets=True)
        print()
    if len(loops) > 1:
        print("x builtin side by side: " + " | ".join(loops))
        widths = [max(17, len(c)) for c in cols]
        print(f"  {'workload':40}" + "".join(f" {c:>{w}}" for c, w in zip(cols, widths)))
        for key, label_, *_ in WORKLOADS:
            if not any(key in data[lp] for lp in loops):
                continue
            line = f"  {label_:40}"
            for c, w in zip(cols, widths):
                parts = []
                for lp in loops:
                    med = {v: statistics.median(x) for v, x in data[lp].get(key, {}).items()}
                    v = med.get(c) or med.get(c + EXECUTOR)
                    base = builtin_of(c, med)
                    parts.append(f"{v / base:.2f}x" if v and base else "-")
                line += f" {' | '.join(parts):>{w}}"
            print(line)


# --- main ---------------------------------------------------------------------------------------

def set_loop(name):
    """Installs the event loop policy; False (with a note) if that loop cannot be had."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as e:
            print(f"(uvloop cannot be imported here ({e}): its table is left out)")
            return False
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workdir", nargs="?")
    ap.add_argument("csv", nargs="?")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    ap.add_argument("--libs", default=",".join(lib for lib in LIBS if lib != "aiofiles-x"))
    ap.add_argument("--workloads", default=",".join(w[0] for w in WORKLOADS))
    ap.add_argument("--process", default="", help="name this process's built-in 'builtin [NAME]'")
    ap.add_argument("--secs", type=float, default=0.3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quiet", action="store_true", help="notes only, no table")
    ap.add_argument("--combine", metavar="CSV", help="print the tables of $BENCH_RUN's rows in CSV")
    args = ap.parse_args()
    label = os.environ.get("BENCH_RUN", "")
    if args.combine:
        combine(args.combine, label)
        return
    if not args.workdir:
        ap.error("WORKDIR is needed")
    if not set_loop(args.loop):
        return
    libs, notes = [], []
    for name in filter(None, args.libs.split(",")):
        try:
            libs.append(load_lib(name))
        except Exception as e:  # ImportError, PackageNotFoundError, a library failing to load
            print(f"({name} cannot be imported here ({type(e).__name__}: {e}): its column is left out)")
    os.makedirs(args.workdir, exist_ok=True)
    base = tempfile.mkdtemp(prefix="py-everyday.", dir=args.workdir)
    try:
        files = make_files(base)
        builtin_name = f"builtin [{args.process}]" if args.process else "builtin"
        results = asyncio.run(measure(libs, files, args.secs, args.rounds, builtin_name, notes,
                                      set(args.workloads.split(","))))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for n in notes:
        print(f"({n}: its cell is left empty)")
    if not args.quiet:
        shown = {k: {("builtin" if v == builtin_name else v): x for v, x in r.items()} for k, r in results.items()}
        print_tables(args.loop, shown, libs, args.secs, args.rounds)
    versions = ", ".join(f"{lib.name} {lib.version}" for lib in libs if lib.version)
    loop = args.loop + (" " + importlib.metadata.version("uvloop") if args.loop == "uvloop" else "")
    print(f"  ({versions + '; ' if versions else ''}Python {sys.version.split()[0]}, {loop})")
    if args.csv:
        with open(args.csv, "a") as f:
            f.writelines(csv_rows(label, args.loop, results))


if __name__ == "__main__":
    main()
