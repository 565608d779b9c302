"""The drop-in under anyio, on its asyncio backend and on trio (each run in its own event
loop): files, os calls, and a cancelled call that hangs (opening a FIFO that has no writer
blocks its worker in open(2)): the cancel comes at once, the loop goes on, and once the
open returns the library closes the descriptor nobody is waiting for.

Needs anyio and trio (python/tests/setup_venv.sh puts them into build/pyvenv); skips
without them.
"""

import gc
import os
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import aopen.aiofiles as aiofiles  # noqa: E402

try:
    import anyio
except ImportError:  # pragma: no cover
    anyio = None
try:
    import trio  # noqa: F401
except ImportError:  # pragma: no cover
    trio = None

PROMPT = 0.5  # seconds, with room for a loaded 2-core machine


def open_fds():
    """Open descriptors, after collecting finished loops (which frees their contexts)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def exercise(d):
    """Files and os calls, as a program would make them; returns what it saw."""
    path = os.path.join(d, "f.txt")
    async with aiofiles.open(path, "w", encoding="utf-16") as f:
        await f.write("héllo\nwörld\n")
    async with aiofiles.open(path, "r", encoding="utf-16") as f:
        first = await f.readline()
        cookie = await f.tell()
        rest = await f.read()
        await f.seek(cookie)
        again = await f.read()
        lines = []
    async with aiofiles.open(path, "r", encoding="utf-16") as f:
        async for line in f:
            lines.append(line)
    async with aiofiles.open(os.path.join(d, "b.bin"), "wb+") as f:
        await f.write(b"0123456789")
        await f.seek(3)
        chunk = await f.read(4)
    st = await aiofiles.os.stat(path)
    await aiofiles.os.rename(path, path + ".2")
    names = sorted(await aiofiles.os.listdir(d))
    exists = await aiofiles.os.path.exists(path)
    return first, rest, again, lines, chunk, st.st_size, names, exists


def expected(d):
    path = os.path.join(d, "x.txt")
    with open(path, "w", encoding="utf-16") as f:
        f.write("héllo\nwörld\n")
    with open(path, "r", encoding="utf-16") as f:
        first = f.readline()
        cookie = f.tell()
        rest = f.read()
        f.seek(cookie)
        again = f.read()
    with open(path, "r", encoding="utf-16") as f:
        lines = list(f)
    size = os.stat(path).st_size
    os.unlink(path)
    return first, rest, again, lines, b"3456", size, ["b.bin", "f.txt.2"], False


async def cancel_hung_open(d):
    """Opens a FIFO with no writer (its open blocks in a worker), cancels it from a
    deadline, and returns (seconds the cancel took, the longest gap of a 5 ms ticker)."""
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    worst = 0.0

    async def ticker():
        nonlocal worst
        last = time.monotonic()
        while True:
            await anyio.sleep(0.005)
            now = time.monotonic()
            worst, last = max(worst, now - last), now

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        t0 = time.monotonic()
        with anyio.move_on_after(0.2) as scope:
            await aiofiles.open(fifo, "rb")
        took = time.monotonic() - t0 - 0.2
        assert scope.cancelled_caught, "the hung open was not cancelled"
        # Let the worker's open(2) return: the library closes the descriptor it got.
        w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(w)
        await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    return took, worst


@unittest.skipIf(anyio is None, "anyio is not installed (python/tests/setup_venv.sh installs it into build/pyvenv)")
class TestAnyio(unittest.TestCase):
    def run_on(self, backend):
        with tempfile.TemporaryDirectory() as d:
            want = expected(d)
            got = anyio.run(exercise, d, backend=backend)
            self.assertEqual(got, want)
        with tempfile.TemporaryDirectory() as d:
            before = open_fds()
            took, worst = anyio.run(cancel_hung_open, d, backend=backend)
            self.assertLess(took, PROMPT)
            self.assertLess(worst, PROMPT)
            self.assertEqual(open_fds(), before)

    def test_asyncio_backend(self):
        self.run_on("asyncio")

    @unittest.skipIf(trio is None, "trio is not installed (python/tests/setup_venv.sh installs it into build/pyvenv)")
    def test_trio_backend(self):
        self.run_on("trio")


if __name__ == "__main__":
    unittest.main()
