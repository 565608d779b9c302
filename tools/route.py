#!/usr/bin/env python3
"""The route of one request through src/, file by file: `make route` (or python3 tools/route.py).

Builds the library's debug build and tools/route.c against it, runs that program under gdb
with a breakpoint on every function of the crate that gdb lists (`info functions ^aopen::`,
kept to files under src/), and logs each hit's source file and thread, in order. route.c does
an open of a cached file, its close and a read on a pool of one worker with the fast path off
(AOPEN_OPT_NO_INLINE), each between calls to route_mark(), which say whose hits follow.

For each request it prints two legs, the files in order with consecutive repeats merged, how
many distinct files each touches (and in how many rooms: a folder of src/, or a top-level
module), and how many times it re-enters a file it had left:
- to the syscall: the submit on the loop's thread, then the worker from its wake-up to the
  syscall's wrapper in src/sys/ (the first sys/ hit after the worker enters src/op/);
- back: the worker from the syscall's return to the eventfd's write (src/sys/eventfd.rs),
  which makes the completion visible to the loop, then the loop's aopen_reap.
The worker's hits after the eventfd write (looking for its next request, parking) are no
request's route and are left out; other threads' (the watchdog's) are counted on a line of
their own. The loop reports each delivery to the table without the lock, and whoever takes
the lock next takes the report in: route.c has that done before each request (aopen_stats),
so no leg carries another request's report, and none shows its own.

A hit is a function's entry, so a return into a file is not seen: "re-enters" counts calls
into a file the route had left. Under gdb everything is slower, so caches bounded in time (an
absolute path's attribution, kept a second; the mount table, polled at most every
millisecond) miss where a running program would hit them: the route shows attribution's
whole walk. Evidence, not a test: it is not part of `make test`. Needs
gdb (with its Python) and the build tools `make` uses. `--log FILE` reports on a log written
before instead of running anything; `--keep` leaves the log in build/route/.
"""

import json
import os
import subprocess
import sys

try:
    import gdb  # noqa: F401 (present only when gdb runs this file)
except ImportError:
    gdb = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "build", "route")
LOG = os.path.join(OUT, "hits.jsonl")
REQUESTS = ("open", "close", "read")


# ---------------------------------------------------------------------------------------
# Inside gdb: the recorder.

def record():
    """Runs route.c to its "end" mark, logging every hit (gdb stops nowhere else)."""
    log = open(os.environ["ROUTE_LOG"], "w")
    state = {"what": None, "armed": False}

    def write(kind, **kw):
        th = gdb.selected_thread()
        kw.update(kind=kind, thread=th.num, name=th.name or "")
        log.write(json.dumps(kw) + "\n")

    class Mark(gdb.Breakpoint):
        def stop(self):
            what = gdb.parse_and_eval("what").string()
            state["what"] = what
            write("mark", what=what)
            # Stops twice: at the first mark, to set the library's breakpoints (none may be
            # added from here), and at the end.
            return what == "end" or not state["armed"]

    class Hit(gdb.Breakpoint):
        def stop(self):
            if state["what"] is not None:
                frame = gdb.selected_frame()
                sal = frame.find_sal()
                path = sal.symtab.filename if sal.symtab else "?"
                write("hit", file=path, func=frame.name() or "?", line=sal.line)
            return False

    gdb.execute("set pagination off")
    gdb.execute("set confirm off")
    gdb.execute("set print thread-events off")
    Mark("route_mark", internal=True)
    gdb.execute("run", to_string=True)
    listing = gdb.execute("info functions ^aopen::", to_string=True)
    spots, current = set(), None
    for line in listing.splitlines():
        if line.startswith("File "):
            current = line[5:].rstrip(":")
            current = current if current.startswith("src/") else None
        elif current and line[:1].isdigit() and ":" in line:
            spots.add((current, int(line.split(":", 1)[0])))
    for path, line in sorted(spots):
        Hit(f"{path}:{line}", internal=True)
    state["armed"] = True
    log.write(json.dumps({"kind": "armed", "breakpoints": len(spots)}) + "\n")
    gdb.execute("continue", to_string=True)
    log.close()
    gdb.execute("kill")


# ---------------------------------------------------------------------------------------
# Outside gdb: building, running, reporting.

def short(path):
    return path[4:] if path.startswith("src/") else path


def collapse(files):
    out = []
    for f in files:
        if not out or out[-1] != f:
            out.append(f)
    return out


def reentries(route):
    seen, n = set(), 0
    for f in route:
        n += f in seen
        seen.add(f)
    return n


def first(hits, pred, start=0):
    return next((i for i in range(start, len(hits)) if pred(hits[i])), None)


def legs(events, req):
    """The two legs of request `req`: lists of (thread label, [files])."""
    stretch = None
    loop_submit, loop_take, worker = [], [], []
    for e in events:
        if e["kind"] == "mark":
            stretch = e["what"]
            continue
        if e["kind"] != "hit" or stretch is None or not stretch.startswith(req + ":"):
            continue
        if e["name"].startswith("aopen-worker"):
            worker.append(e)
        elif e["name"].startswith("aopen-"):
            continue  # the watchdog: counted in other()
        elif stretch == req + ":submit":
            loop_submit.append(e)
        elif stretch == req + ":loop":
            loop_take.append(e)
    notes = []
    in_op = first(worker, lambda h: h["file"].startswith("src/op/"))
    sys_at = first(worker, lambda h: h["file"].startswith("src/sys/"), in_op or 0)
    if sys_at is None:
        notes.append("no syscall wrapper (src/sys/) seen on the worker")
        sys_at = len(worker) - 1
    back_at = first(worker, lambda h: not h["file"].startswith("src/sys/"), sys_at)
    back_at = len(worker) if back_at is None else back_at
    door = first(worker, lambda h: h["file"] == "src/sys/eventfd.rs", back_at)
    if door is None:
        notes.append("no eventfd write seen on the worker: its back leg runs to its last hit")
        door = len(worker) - 1
    files = lambda hs: [short(h["file"]) for h in hs]  # noqa: E731
    there = [("loop", files(loop_submit)), ("worker", files(worker[:back_at]))]
    back = [("worker", files(worker[back_at:door + 1])), ("loop", files(loop_take))]
    return there, back, notes


def other(events):
    """Hits on threads that carry no request, and the worker's after each eventfd write."""
    n, threads = 0, {}
    for e in events:
        if e["kind"] == "hit" and e["name"].startswith("aopen-") and not e["name"].startswith("aopen-worker"):
            n += 1
            threads[e["name"]] = threads.get(e["name"], 0) + 1
    return n, threads


def room(f):
    """A file's room: its top folder under src/, or a top-level module (context.rs and
    context/ are one room)."""
    return f.split("/")[0].removesuffix(".rs")


def show_leg(title, parts):
    whole = collapse([f for _, fs in parts for f in fs])
    rooms = list(dict.fromkeys(room(f) for f in whole))
    print(f"  {title}: {len(set(whole))} files in {len(rooms)} rooms ({' '.join(rooms)}), "
          f"{reentries(whole)} re-entries, {len(whole)} hops")
    for label, fs in parts:
        route = collapse(fs)
        print(f"    {label:6} ({len(set(route))} files, {reentries(route)} re-entries): " + " > ".join(route))
    return whole


def report(path):
    events = [json.loads(line) for line in open(path)]
    armed = next((e for e in events if e["kind"] == "armed"), None)
    if armed is None or not any(e["kind"] == "mark" and e["what"] == "end" for e in events):
        sys.exit(f"route: the run did not reach its end (see {path})")
    print(f"route: {armed['breakpoints']} breakpoints on the crate's functions in src/; "
          "'>' is a call into another file, repeats merged")
    for req in REQUESTS:
        there, back, notes = legs(events, req)
        print(f"{req}:")
        a = show_leg("to the syscall", there)
        b = show_leg("back", back)
        both = a + b
        print(f"  both ways: {len(set(both))} files")
        for n in notes:
            print(f"  note: {n}")
    n, threads = other(events)
    names = ", ".join(f"{k} {v}" for k, v in sorted(threads.items())) or "none"
    print(f"not counted: {n} hits on other threads ({names})")


def run(cmd, **kw):
    r = subprocess.run(cmd, cwd=ROOT, **kw)
    if r.returncode != 0:
        sys.exit(f"route: {' '.join(cmd)} failed ({r.returncode})")
    return r


def build():
    os.makedirs(OUT, exist_ok=True)
    run([os.environ.get("CARGO", "cargo"), "build", "--lib", "--quiet"])
    lib = os.path.join(ROOT, "target", "debug")
    major = next(line.split('"')[1].split(".")[0] for line in open(os.path.join(ROOT, "Cargo.toml"))
                 if line.startswith("version"))
    link = os.path.join(lib, f"libaopen.so.{major}")
    if not os.path.lexists(link):
        os.symlink("libaopen.so", link)
    exe = os.path.join(OUT, "route")
    cc = os.environ.get("CC", "cc")
    run([cc, "-g", "-O0", "-Wall", "-Wextra", "-Werror", "-Iinclude", "-o", exe, "tools/route.c",
         f"-L{lib}", "-laopen", f"-Wl,-rpath,{lib}", "-lpthread"])
    return exe


def main():
    args = sys.argv[1:]
    if "--log" in args:
        return report(args[args.index("--log") + 1])
    exe = build()
    env = dict(os.environ, ROUTE_LOG=LOG)
    if os.path.exists(LOG):
        os.remove(LOG)
    try:
        r = subprocess.run([os.environ.get("GDB", "gdb"), "-q", "-batch", "-nx", "-x", os.path.abspath(__file__), exe],
                           cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except FileNotFoundError:
        sys.exit("route: needs gdb (with its Python), e.g. apt-get install gdb")
    if r.returncode != 0 or not os.path.exists(LOG):
        print(r.stdout)
        sys.exit(f"route: gdb failed ({r.returncode})")
    report(LOG)
    if "--keep" not in args:
        os.remove(LOG)


if gdb is not None:
    record()
elif __name__ == "__main__":
    main()
