"""Cancellation of the drop-in's calls while they really hang in their system call (issue 28),
on hangfs (c-tests/hangfs): its "dyn" directories hang and release each op at moments the
test picks (CONTROL_DIR/dyn, hangfs.h).

For a read and a write, binary and text, buffered and unbuffered: the call is cancelled
while hangfs holds it; the CancelledError arrives at once; the file's next call waits for
the hung one (the loop keeps ticking) and is itself cancellable; once hangfs answers, the
file goes on from the settled position (a read of a regular file is as if it never
happened: the next read returns the same bytes; a write hangfs took moves the position over
it), and the descriptor's offset is the built-in file's. close() of a file whose call is
still undecided returns at once.

Needs root, /dev/fuse, AOPEN_HANGFS (the daemon) and a private mount namespace; run as
test_fuse.py is (run_tests.sh, under `unshare --mount --propagation private`).
"""

import asyncio
import mmap
import os
import struct
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
import aopen.aiofiles as aiofiles  # noqa: E402
from test_fuse import DIR, HANGFS, OPS, PRIVATE, Hangfs, Heartbeat, until_waiting  # noqa: E402

PROMPT = 1.0  # seconds: "at once", generously, on a loaded 2-core machine
HELD = 0.3  # seconds a waiting call is watched to see that it keeps waiting


def big_bytes(off, n):
    """hangfs's "big" files: the byte at `off` is hangfs_byte(off) (hangfs.h)."""
    return bytes(((i * 7 + i // 4096) & 0xFF) for i in range(off, off + n))


class DynHangfs(Hangfs):
    """hangfs with its dyn controls mapped: hang(op) makes the op's next calls in "dyn*"
    directories hang; answer(op) releases the ones hanging and lets the next through."""

    def __init__(self, name):
        super().__init__(name)
        with open(os.path.join(self.ctl, "dyn"), "r+b") as f:
            self.dyn = mmap.mmap(f.fileno(), 2 * len(OPS) * 8)

    def hang(self, op):
        struct.pack_into("q", self.dyn, OPS.index(op) * 8, 0)

    def answer(self, op):
        i = OPS.index(op)
        struct.pack_into("q", self.dyn, i * 8, -1)
        gen = struct.unpack_from("q", self.dyn, (len(OPS) + i) * 8)[0]
        struct.pack_into("q", self.dyn, (len(OPS) + i) * 8, gen + 1)


@unittest.skipUnless(HANGFS and PRIVATE and DIR and os.geteuid() == 0 and os.access("/dev/fuse", os.W_OK),
                     "needs root, /dev/fuse, AOPEN_HANGFS and a private mount namespace (run_tests.sh)")
class TestCancelInSyscall(unittest.TestCase):
    def setUp(self):
        self.fs = DynHangfs(self.id().rsplit(".", 1)[1])

    def tearDown(self):
        self.fs.stop()

    async def cancel_hung(self, op, make):
        """Starts make() until `op` hangs in hangfs, cancels it: the seconds the
        CancelledError took."""
        task = asyncio.ensure_future(make())
        await until_waiting(self.fs, op)
        t0 = time.monotonic()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    async def held_then_cancelled(self, make):
        """The file's next call, started while the cancelled one hangs: it must still be
        waiting after HELD seconds, and a cancel must end it at once."""
        task = asyncio.ensure_future(make())
        await asyncio.sleep(HELD)
        self.assertFalse(task.done(), f"the next call did not wait for the hung one: {task!r:.200}")
        t0 = time.monotonic()
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            await task
        return time.monotonic() - t0

    def assert_prompt(self, what, took, took_next, worst):
        print(f"\n    {what}: cancel took {took * 1000:.1f} ms, the waiting call's cancel {took_next * 1000:.1f} ms, "
              f"worst heartbeat gap {worst * 1000:.1f} ms", file=sys.stderr)
        self.assertLess(took, PROMPT, "the hung call's CancelledError was late")
        self.assertLess(took_next, PROMPT, "the waiting call's CancelledError was late")
        self.assertLess(worst, PROMPT, "the loop stalled")

    def builtin_offset(self, path, mode, buffering, calls):
        """The descriptor's offset after the built-in file makes `calls` (hangfs answering)."""
        kw = {"encoding": "latin-1", "newline": ""} if "b" not in mode else {}
        with open(path, mode, buffering, **kw) as f:
            out = [c(f) for c in calls]
            return out, os.lseek(f.fileno(), 0, os.SEEK_CUR)

    def check_read(self, mode, buffering):
        fs = self.fs
        path = fs.path("dyn/big1")
        kw = {"encoding": "latin-1", "newline": ""} if "b" not in mode else {}
        want = big_bytes(0, 100)
        if "b" not in mode:
            want = want.decode("latin-1")

        async def main():
            beat = Heartbeat()
            f = await aiofiles.open(path, mode, buffering, **kw)
            fs.hang("read")
            took = await self.cancel_hung("read", lambda: f.read(100))
            took_next = await self.held_then_cancelled(lambda: f.read(100))
            nxt = asyncio.ensure_future(f.read(100))
            await asyncio.sleep(HELD)
            self.assertFalse(nxt.done(), "the next read did not wait for the hung one")
            fs.answer("read")
            got = await asyncio.wait_for(nxt, 10)
            told = await f.tell()
            off = os.lseek(f.fileno(), 0, os.SEEK_CUR)
            await f.close()
            beat.task.cancel()
            return took, took_next, got, told, off, beat.worst

        took, took_next, got, told, off, worst = asyncio.run(main())
        (b_got, b_told), b_off = self.builtin_offset(path, mode, buffering, [lambda g: g.read(100), lambda g: g.tell()])
        self.assert_prompt(f"{mode} buffering={buffering} read", took, took_next, worst)
        self.assertEqual(got, want, "the read after the cancelled one does not return the same bytes")
        self.assertEqual(got, b_got)
        self.assertEqual(told, b_told)
        self.assertEqual(off, b_off, "the descriptor's offset is not the built-in's")
        self.assertTrue(fs.balanced())

    def test_read_binary_buffered(self):
        self.check_read("rb", -1)

    def test_read_binary_unbuffered(self):
        self.check_read("rb", 0)

    def test_read_text(self):
        self.check_read("r", -1)

    def check_write(self, mode, buffering, size):
        fs = self.fs
        path = fs.path("dyn/w")
        kw = {"encoding": "latin-1", "newline": ""} if "b" not in mode else {}
        data = b"w" * size if "b" in mode else "w" * size

        async def main():
            beat = Heartbeat()
            f = await aiofiles.open(path, mode, buffering, **kw)
            fs.hang("write")
            async def write_through():
                await f.write(data)
                await f.flush()

            took = await self.cancel_hung("write", write_through)
            took_next = await self.held_then_cancelled(f.tell)
            nxt = asyncio.ensure_future(f.tell())
            await asyncio.sleep(HELD)
            self.assertFalse(nxt.done(), "tell() did not wait for the hung write")
            fs.answer("write")
            told = await asyncio.wait_for(nxt, 10)
            off = os.lseek(f.fileno(), 0, os.SEEK_CUR)
            await f.write(data[:1])
            await f.flush()
            told2 = await f.tell()
            off2 = os.lseek(f.fileno(), 0, os.SEEK_CUR)
            await f.close()
            beat.task.cancel()
            return took, took_next, told, off, told2, off2, beat.worst

        took, took_next, told, off, told2, off2, worst = asyncio.run(main())
        self.assert_prompt(f"{mode} buffering={buffering} write of {size}", took, took_next, worst)
        # hangfs took the whole write once it answered (its writes always succeed in full):
        # the cancelled write completed, so the position is past it, as the built-in's.
        self.assertEqual(told, size, "tell() after the cancelled write hangfs completed")
        self.assertEqual(off, size, "the descriptor's offset after the cancelled write hangfs completed")
        self.assertEqual((told2, off2), (size + 1, size + 1))
        self.assertTrue(fs.balanced())

    def test_write_binary_unbuffered(self):
        self.check_write("wb", 0, 1000)

    def test_write_binary_buffered(self):
        self.check_write("wb", -1, 65536)

    def test_write_text(self):
        self.check_write("w", -1, 65536)

    def test_close_with_an_undecided_call_returns_at_once(self):
        fs = self.fs

        async def main():
            f = await aiofiles.open(fs.path("dyn/big2"), "rb")
            fs.hang("read")
            took = await self.cancel_hung("read", lambda: f.read(100))
            t0 = time.monotonic()
            await asyncio.wait_for(f.close(), 10)
            closed = time.monotonic() - t0
            self.assertTrue(f.closed)
            fs.answer("read")
            return took, closed

        took, closed = asyncio.run(main())
        self.assertLess(took, PROMPT)
        self.assertLess(closed, PROMPT, "close() waited for the undecided read")
        self.assertTrue(self.fs.balanced(), "hangfs still has open files or waiting calls")


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(HANGFS and PRIVATE and DIR and os.geteuid() == 0 and os.access("/dev/fuse", os.W_OK),
                     "needs root, /dev/fuse, AOPEN_HANGFS and a private mount namespace (run_tests.sh)")
class TestCloseWithAHungWrite(unittest.TestCase):
    """close() while a cancelled write still hangs: it returns at once and the file is closed
    for its user; what earlier write() calls returned is written out once the hung write
    returns, and the descriptor closed then (never dropped, never closed under the call)."""

    setUp, tearDown = TestCancelInSyscall.setUp, TestCancelInSyscall.tearDown
    cancel_hung = TestCancelInSyscall.cancel_hung

    def test_close_with_a_hung_write_returns_at_once_and_writes_after(self):
        fs = self.fs

        async def main():
            f = await aiofiles.open(fs.path("dyn/w2"), "wb", buffering=8192)
            self.assertEqual(await f.write(b"a" * 5000), 5000)  # held in the buffer
            fs.hang("write")
            # The next write must write the a's out first: that write hangs, and is cancelled.
            took = await self.cancel_hung("write", lambda: f.write(b"b" * 5000))
            writes = fs.done("write")
            t0 = time.monotonic()
            await asyncio.wait_for(f.close(), 10)
            closed = time.monotonic() - t0
            self.assertTrue(f.closed)
            with self.assertRaises(ValueError):
                await f.write(b"c")
            fs.answer("write")
            self.assertTrue(await fs.settled(), "the file was not closed once the hung write returned")
            return took, closed, fs.done("write") - writes

        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            took, closed, more = asyncio.run(main())
        # The close in the background reports a failure as a RuntimeWarning: none.
        self.assertEqual([str(w.message) for w in seen if "aopen" in str(w.message)], [])
        self.assertLess(took, PROMPT)
        self.assertLess(closed, PROMPT, "close() waited for the hung write")
        # The a's (the hung write, which hangfs then took) and the b's (buffered by the
        # replayed write, which completed) reached the filesystem.
        self.assertGreaterEqual(more, 2)
