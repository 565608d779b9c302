"""make bench, Python section: asyncio tasks opening and closing a cached file, 64 in flight.

    python3 benches/py_bench.py FILE [CSV]

Variants, alternating, each repeated; medians of files per second, and ratios:
  builtin open      `with open(path)` inside the coroutine (blocks the loop: the ceiling)
  run_in_executor   the seed article's recipe: open and close each in the default executor
  aiofiles          `async with aiofiles.open(path)`, if aiofiles is installed
  aopen             `async with aopen(path)` (nowait fast path first, else libaopen's pool)
"""

import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from aopen import aopen  # noqa: E402

try:
    import aiofiles  # type: ignore
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


async def rate(one, path):
    """Files opened and closed per second by IN_FLIGHT tasks looping for RUN_SECS."""
    until = time.monotonic() + RUN_SECS
    done = 0

    async def task():
        nonlocal done
        while time.monotonic() < until:
            await one(path)
            done += 1

    t0 = time.monotonic()
    await asyncio.gather(*(task() for _ in range(IN_FLIGHT)))
    return done / (time.monotonic() - t0)


async def main(path, csv):
    variants = [("builtin open", builtin_one), ("run_in_executor", executor_one)]
    if aiofiles is not None:
        variants.append(("aiofiles", aiofiles_one))
    variants.append(("aopen", aopen_one))
    runs = {name: [] for name, _ in variants}
    for r in range(-1, RUNS):  # the first round warms up (threads, the library)
        for name, one in variants:
            v = await rate(one, path)
            if r >= 0:
                runs[name].append(v)
    med = {name: statistics.median(v) for name, v in runs.items()}
    print(f"Python asyncio, {IN_FLIGHT} tasks in flight, open+close of a cached file; "
          f"{RUNS} alternating runs of {RUN_SECS} s; medians")
    print(f"  {'variant':18} {'files/s':>10} {'x builtin':>10} {'x executor':>11}")
    for name, _ in variants:
        print(f"  {name:18} {med[name]:10.0f} {med[name] / med['builtin open']:9.2f}x "
              f"{med[name] / med['run_in_executor']:10.2f}x")
    if aiofiles is None:
        print("  (aiofiles not installed: pip install aiofiles to compare)")
    if csv:
        label = os.environ.get("BENCH_RUN", "")
        with open(csv, "a") as f:
            for name, v in runs.items():
                for i, x in enumerate(v):
                    f.write(f"{label},py_files_per_s,{name},{IN_FLIGHT},{i},{x:.4f}\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
