"""make bench, Python section: asyncio tasks opening and closing a cached file, 64 in flight;
then tasks reading a cached 1 MiB file in a loop, 16 in flight.

    python3 benches/py_bench.py FILE [CSV]

Variants, alternating, each repeated; medians of files (or reads) per second, and ratios:
  builtin open      `with open(path)` inside the coroutine (blocks the loop: the ceiling)
  run_in_executor   the seed article's recipe: each call in the default executor
  aiofiles          `async with aiofiles.open(path)`, if aiofiles is installed
  aopen             `async with aopen(path)` (nowait fast path first, else libaopen's pool)
  aopen.aiofile     the read loop through libaopen: `await f.read(n)` on an aopen.aiofile
  aopen.aiofiles    the drop-in for aiofiles: `async with aopen.aiofiles.open(path)`, its
                    reads, and `await aopen.aiofiles.os.stat(path)` (64 in flight)
"""

import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import aopen as aopen_pkg  # noqa: E402
from aopen import aopen  # noqa: E402
import aopen.aiofiles as dropin  # noqa: E402

try:
    import aiofiles  # type: ignore
    import aiofiles.os  # type: ignore
except ImportError:
    aiofiles = None

IN_FLIGHT = 64
RUN_SECS = 0.4
RUNS = 5


async def builtin_one(path):
    with open(path, "rb"):
        pass


async def executor_one(path):
    loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(None, open, path, "rb")
    await loop.run_in_executor(None, f.close)


async def aiofiles_one(path):
    async with aiofiles.open(path, "rb"):
        pass


async def aopen_one(path):
    async with aopen(path, "rb"):
        pass


async def dropin_one(path):
    async with dropin.open(path, "rb"):
        pass


async def builtin_stat(path):
    os.stat(path)


async def executor_stat(path):
    await asyncio.get_running_loop().run_in_executor(None, os.stat, path)


async def aiofiles_stat(path):
    await aiofiles.os.stat(path)


async def dropin_stat(path):
    await dropin.os.stat(path)


async def rate(one, path, in_flight=IN_FLIGHT):
    """Calls of `one` per second by `in_flight` tasks looping for RUN_SECS (`one` returns
    how many it made)."""
    until = time.monotonic() + RUN_SECS
    done = 0

    async def task():
        nonlocal done
        while time.monotonic() < until:
            n = await one(path)  # not `done += await ...`: that reads `done` before suspending
            done += n or 1

    t0 = time.monotonic()
    await asyncio.gather(*(task() for _ in range(in_flight)))
    return done / (time.monotonic() - t0)


READ_IN_FLIGHT = 16
READ_FILE_SIZE = 1 << 20


def read_loops(chunk):
    """Coroutines reading the whole file in `chunk`-byte reads, one per variant: each
    returns the number of reads it made."""

    async def builtin(path):
        n = 0
        with open(path, "rb") as f:
            while f.read(chunk):
                n += 1
        return n

    async def executor(path):
        loop, n = asyncio.get_running_loop(), 0
        f = await loop.run_in_executor(None, open, path, "rb")
        while await loop.run_in_executor(None, f.read, chunk):
            n += 1
        await loop.run_in_executor(None, f.close)
        return n

    def with_async_open(open_):
        async def run(path):
            n = 0
            async with open_(path, "rb") as f:
                while await f.read(chunk):
                    n += 1
            return n

        return run

    variants = [("builtin open", builtin), ("run_in_executor", executor)]
    if aiofiles is not None:
        variants.append(("aiofiles", with_async_open(aiofiles.open)))
    variants.append(("aopen.aiofile", with_async_open(aopen_pkg.aiofile)))
    variants.append(("aopen.aiofiles", with_async_open(dropin.open)))
    return variants


async def compare(variants, path, in_flight):
    runs = {name: [] for name, _ in variants}
    for r in range(-1, RUNS):  # the first round warms up (threads, the library)
        for name, one in variants:
            v = await rate(one, path, in_flight)
            if r >= 0:
                runs[name].append(v)
    return runs


def report(variants, runs, unit, csv, metric, k):
    med = {name: statistics.median(v) for name, v in runs.items()}
    print(f"  {'variant':18} {unit:>10} {'x builtin':>10} {'x executor':>11}" +
          (f" {'x aiofiles':>11}" if "aiofiles" in med else ""))
    for name, _ in variants:
        print(f"  {name:18} {med[name]:10.0f} {med[name] / med['builtin open']:9.2f}x "
              f"{med[name] / med['run_in_executor']:10.2f}x" +
              (f" {med[name] / med['aiofiles']:10.2f}x" if "aiofiles" in med else ""))
    if csv:
        label = os.environ.get("BENCH_RUN", "")
        with open(csv, "a") as f:
            for name, v in runs.items():
                for i, x in enumerate(v):
                    f.write(f"{label},{metric},{name},{k},{i},{x:.4f}\n")


def with_aiofiles(variants, with_it, drop_in):
    """The builtin and executor variants, then aiofiles' (where installed), then aopen's."""
    if aiofiles is not None:
        variants.append(("aiofiles", with_it))
    return variants + drop_in


async def main(path, csv):
    variants = with_aiofiles([("builtin open", builtin_one), ("run_in_executor", executor_one)], aiofiles_one,
                             [("aopen", aopen_one), ("aopen.aiofiles", dropin_one)])
    runs = await compare(variants, path, IN_FLIGHT)
    print(f"Python asyncio, {IN_FLIGHT} tasks in flight, open+close of a cached file; "
          f"{RUNS} alternating runs of {RUN_SECS} s; medians")
    report(variants, runs, "files/s", csv, "py_files_per_s", IN_FLIGHT)

    variants = with_aiofiles([("builtin open", builtin_stat), ("run_in_executor", executor_stat)], aiofiles_stat,
                             [("aopen.aiofiles", dropin_stat)])
    runs = await compare(variants, path, IN_FLIGHT)
    print(f"\nPython asyncio os.stat of a cached file, {IN_FLIGHT} tasks in flight "
          f"('builtin open' is os.stat on the loop; aiofiles: aiofiles.os.stat); medians")
    report(variants, runs, "stats/s", csv, "py_stats_per_s", IN_FLIGHT)

    big = path + ".py-read"
    with open(big, "wb") as f:
        f.write(os.urandom(READ_FILE_SIZE))
    try:
        for chunk in (64 * 1024, 4096):
            variants = read_loops(chunk)
            runs = await compare(variants, big, READ_IN_FLIGHT)
            print(f"\nPython asyncio read loop: {READ_IN_FLIGHT} tasks each reading a cached "
                  f"{READ_FILE_SIZE >> 20} MiB file in {chunk >> 10} KiB reads; medians")
            report(variants, runs, "reads/s", csv, f"py_reads_per_s_{chunk >> 10}k", READ_IN_FLIGHT)
    finally:
        os.unlink(big)
    if aiofiles is None:
        print("  (aiofiles not installed: pip install aiofiles to compare)")

if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
