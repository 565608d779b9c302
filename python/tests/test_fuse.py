"""The asyncio integration against a real kernel filesystem that hangs: hangfs, the FUSE
test filesystem (c-tests/hangfs). A read, stat, readdir, unlink, mkdir or rename that hangs
inside the kernel must not stall the loop; cancelling or timing out its await must return at
once; and once the filesystem answers again, no descriptor or library buffer is left.

Needs root, /dev/fuse, AOPEN_HANGFS (the daemon) and a private mount namespace
(run_tests.sh runs this file under `unshare --mount --propagation private`).
"""

import asyncio
import errno
import gc
import mmap
import os
import re
import shutil
import stat as stat_module
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import aopen  # noqa: E402
import aopen.aiofiles  # noqa: E402
import aopen.os  # noqa: E402

HANGFS = os.environ.get("AOPEN_HANGFS", "")
PRIVATE = os.environ.get("AOPEN_PRIVATE_MOUNTS") == "1"
DIR = os.environ.get("AOPEN_TEST_DIR", "")
def _hangfs_ops():
    """hangfs's ops in the order of its counters: read from its header, so that the mapped
    struct never drifts from the daemon's (a hand-kept list once did)."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "c-tests", "hangfs", "hangfs.h")
    with open(header) as h:
        enum = re.search(r"enum hangfs_op \{(.*?)\}", h.read(), re.S).group(1)
    names = re.findall(r"HANGFS_(\w+)", enum)
    assert names[-1] == "OPS", names
    return [n.lower() for n in names[:-1]]


OPS = _hangfs_ops()
PROMPT = 0.5  # seconds: a cancel or timeout "at once", with room for a loaded 2-core machine


class Hangfs:
    """One hangfs mount: its daemon, and the counters it shares (hangfs.h)."""

    def __init__(self, name):
        self.mnt, self.ctl = os.path.join(DIR, name), os.path.join(DIR, name + ".ctl")
        os.mkdir(self.mnt)
        os.mkdir(self.ctl)
        self.proc = subprocess.Popen([HANGFS, self.mnt, self.ctl])
        until = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.ctl, "ready")):
            assert self.proc.poll() is None, "hangfs exited before mounting"
            assert time.monotonic() < until, "hangfs did not mount"
            time.sleep(0.002)
        with open(os.path.join(self.ctl, "counts"), "r+b") as f:
            self.counts = mmap.mmap(f.fileno(), 2 * len(OPS) * 8)

    def path(self, rel):
        return os.path.join(self.mnt, rel)

    def done(self, op):
        return struct.unpack_from("q", self.counts, OPS.index(op) * 8)[0]

    def waiting(self, op):
        return struct.unpack_from("q", self.counts, (len(OPS) + OPS.index(op)) * 8)[0]

    def release(self):
        open(os.path.join(self.ctl, "release"), "w").close()

    def balanced(self, timeout=20):
        """Waits until every open the daemon answered was released and nothing waits."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.done("open") == self.done("release") and not any(self.waiting(op) for op in OPS):
                return True
            time.sleep(0.005)
        return False

    async def settled(self, timeout=20):
        """balanced(), waiting on the loop: a file whose close() returned while a cancelled
        write still hung is closed in the background once it returns, which needs the
        loop to run."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            if self.done("open") == self.done("release") and not any(self.waiting(op) for op in OPS):
                return True
            await asyncio.sleep(0.005)
        return False

    def stop(self):
        self.release()
        self.proc.terminate()
        self.proc.wait()
        subprocess.run(["umount", "-l", self.mnt], stderr=subprocess.DEVNULL)


def count_fds():
    """Open descriptors, after collecting finished loops (which frees their contexts)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd")) - 1


async def until_waiting(fs, op, n=1, timeout=10):
    until = time.monotonic() + timeout
    while fs.waiting(op) < n:
        assert time.monotonic() < until, f"no {op} reached hangfs"
        await asyncio.sleep(0.002)


async def stat_until_blocked(fs):
    """On the configured context: uses the mount, asks for mount events, hangs a stat in the
    daemon and waits for the next event. Returns the event iterator, the hung stat's task,
    the event and the seconds from the hang to it."""
    await aopen.os.stat(fs.mnt)  # (the context has used the mount)
    events = aopen.mount_events()
    nxt = asyncio.ensure_future(events.__anext__())
    t0 = time.monotonic()
    hung = asyncio.ensure_future(aopen.os.stat(fs.path("getattr/f")))
    await until_waiting(fs, "getattr")
    blocked = await asyncio.wait_for(nxt, 5)
    return events, hung, blocked, time.monotonic() - t0


class Heartbeat:
    """Ticks every 5 ms on the loop; `worst` is the longest gap seen."""

    def __init__(self):
        self.worst, self.task = 0.0, asyncio.create_task(self.run())

    async def run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            self.worst, last = max(self.worst, now - last), now


@unittest.skipUnless(HANGFS and PRIVATE and DIR and os.geteuid() == 0 and os.access("/dev/fuse", os.W_OK),
                     "needs root, /dev/fuse, AOPEN_HANGFS and a private mount namespace (run_tests.sh)")
class TestHungFuse(unittest.TestCase):
    def setUp(self):
        self.fs = Hangfs(self.id().rsplit(".", 1)[1])
        self.base_fds = count_fds()

    def tearDown(self):
        self.fs.stop()

    def cancel_promptly(self, fs, op, make):
        """Starts `make()` until `op` hangs in the daemon, cancels it: returns the seconds
        the cancel took to reach the awaiting task."""

        async def run():
            task = asyncio.create_task(make())
            await until_waiting(fs, op)
            t0 = time.monotonic()
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            return time.monotonic() - t0

        return run()

    def test_cancelled_hung_calls_return_at_once_and_leak_nothing(self):
        fs = self.fs
        local = os.path.join(DIR, "local.bin")
        with open(local, "wb") as g:
            g.write(os.urandom(64 * 1024))

        async def main():
            beat = Heartbeat()
            took = {}
            async with aopen.aiofile(fs.path("read/f"), "rb") as f:
                took["read"] = await self.cancel_promptly(fs, "read", lambda: f.read(4096))
                # The read still hangs in the kernel with its library buffer; a second read on
                # the same file hangs beside it and is also cancelled.
                took["read2"] = await self.cancel_promptly(fs, "read", lambda: f.read(4096))
            took["stat"] = await self.cancel_promptly(fs, "getattr", lambda: aopen.os.stat(fs.path("getattr/f")))
            took["listdir"] = await self.cancel_promptly(fs, "readdir", lambda: aopen.os.listdir(fs.path("readdir")))
            took["unlink"] = await self.cancel_promptly(fs, "unlink", lambda: aopen.os.unlink(fs.path("unlink/f")))
            took["mkdir"] = await self.cancel_promptly(fs, "mkdir", lambda: aopen.os.mkdir(fs.path("mkdir/newd")))
            took["rename"] = await self.cancel_promptly(
                fs, "rename", lambda: aopen.os.rename(fs.path("rename/f"), fs.path("rename/newf")))
            async with aopen.aiofile(fs.path("write/f"), "wb") as f:
                # More than the buffer holds (the file is buffered as the built-in one is), so
                # the write reaches the filesystem.
                took["write"] = await self.cancel_promptly(fs, "write", lambda: f.write(b"x" * 65536))
            async with aopen.aiofile(fs.path("fsync/f"), "wb") as f:
                took["fsync"] = await self.cancel_promptly(fs, "fsync", f.fsync)

            # Fairness: with all of those still hung, local files read and stat at once.
            t0 = time.monotonic()
            for _ in range(50):
                async with aopen.aiofile(local, "rb") as f:
                    self.assertEqual(len(await f.read()), 64 * 1024)
                await aopen.os.stat(local)
            local_s = time.monotonic() - t0
            held = aopen.stats()["buffer_bytes"]

            fs.release()
            self.assertTrue(await fs.settled(), "hangfs still has open files or waiting calls")
            until = time.monotonic() + 10
            while aopen.stats()["buffer_bytes"] and time.monotonic() < until:
                await asyncio.sleep(0.01)
            beat.task.cancel()
            return took, local_s, held, aopen.stats()["buffer_bytes"], beat.worst

        took, local_s, held, left, worst = asyncio.run(main())
        print(f"\n    cancel took (ms): " + ", ".join(f"{k} {v * 1000:.2f}" for k, v in took.items())
              + f"; 50 local read+stat {local_s * 1000:.0f} ms; library bytes held while hung {held}, "
              f"after release {left}; worst heartbeat gap {worst * 1000:.1f} ms", file=sys.stderr)
        for call, seconds in took.items():
            self.assertLess(seconds, PROMPT, call)
        self.assertGreaterEqual(held, 2 * 4096, "the hung reads' library buffers are not counted")
        self.assertEqual(left, 0)
        self.assertLess(local_s, 5)
        self.assertLess(worst, PROMPT)
        self.assertEqual(count_fds(), self.base_fds)
        self.assertEqual(self.fs.done("open"), self.fs.done("release"))

    def test_dropin_calls_cancelled_at_once_and_leak_nothing(self):
        """aopen.aiofiles: each os call that issue 18 made a request (readlink, symlink, link,
        access, statvfs of a path and of a descriptor, sendfile), wrap()'s calls, and the
        drop-in file's open, read (binary and text), write and close, each hung in hangfs
        and cancelled: the CancelledError comes at once, the loop keeps ticking, and once the
        filesystem answers no descriptor, open file or library buffer is left."""
        fs = self.fs
        af = aopen.aiofiles

        async def main():
            beat = Heartbeat()
            took = {}
            took["readlink"] = await self.cancel_promptly(fs, "readlink", lambda: af.os.readlink(fs.path("readlink/lnk1")))
            took["symlink"] = await self.cancel_promptly(fs, "symlink", lambda: af.os.symlink("x", fs.path("symlink/new1")))
            took["link"] = await self.cancel_promptly(fs, "link", lambda: af.os.link(fs.path("plain/f"), fs.path("link/new1")))
            took["access"] = await self.cancel_promptly(fs, "access", lambda: af.os.access(fs.path("access/f"), os.R_OK))
            took["statvfs"] = await self.cancel_promptly(fs, "statfs", lambda: af.os.statvfs(fs.path("statfs/f")))
            async with af.open(fs.path("statfs/g"), "rb") as f:
                took["fstatvfs"] = await self.cancel_promptly(fs, "statfs", lambda: af.os.statvfs(f.fileno()))
            devnull = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
            try:
                async with af.open(fs.path("read/s"), "rb") as f:
                    took["sendfile"] = await self.cancel_promptly(
                        fs, "read", lambda: af.os.sendfile(devnull, f.fileno(), 0, 16))
            finally:
                os.close(devnull)
            took["wrap"] = await self.cancel_promptly(fs, "getattr", lambda: af.os.wrap(os.stat)(fs.path("getattr/w")))
            async def opened(path, mode):
                return await af.open(path, mode)

            took["open"] = await self.cancel_promptly(fs, "open", lambda: opened(fs.path("open/f"), "rb"))
            async with af.open(fs.path("read/b"), "rb") as f:
                took["read"] = await self.cancel_promptly(fs, "read", lambda: f.read(4096))
            async with af.open(fs.path("read/t"), "r") as f:
                took["read text"] = await self.cancel_promptly(fs, "read", lambda: f.readline())
            f = await af.open(fs.path("write/w"), "wb")
            await f.write(b"x" * 10)
            took["write"] = await self.cancel_promptly(fs, "write", f.flush)
            f2 = await af.open(fs.path("flush/c"), "rb")
            took["close"] = await self.cancel_promptly(fs, "flush", f2.close)
            self.assertTrue(f2.closed)

            # With all of those hung, local files open, read and stat at once.
            local = os.path.join(DIR, "local2.bin")
            t0 = time.monotonic()
            for _ in range(20):
                async with af.open(local, "wb") as g:
                    await g.write(b"y" * 1000)
                async with af.open(local, "rb") as g:
                    self.assertEqual(await g.read(), b"y" * 1000)
                await af.os.stat(local)
            local_s = time.monotonic() - t0

            fs.release()
            await f.close()  # the hung write was cancelled; the close writes what is left
            self.assertTrue(await fs.settled(), "hangfs still has open files or waiting calls")
            until = time.monotonic() + 10
            while aopen.stats()["buffer_bytes"] and time.monotonic() < until:
                await asyncio.sleep(0.01)
            beat.task.cancel()
            return took, local_s, aopen.stats()["buffer_bytes"], beat.worst

        took, local_s, left, worst = asyncio.run(main())
        print("\n    drop-in cancel took (ms): " + ", ".join(f"{k} {v * 1000:.2f}" for k, v in took.items())
              + f"; 20 local write+read+stat {local_s * 1000:.0f} ms; worst heartbeat gap {worst * 1000:.1f} ms",
              file=sys.stderr)
        for call, seconds in took.items():
            self.assertLess(seconds, PROMPT, call)
        self.assertEqual(left, 0)
        self.assertLess(local_s, 5)
        self.assertLess(worst, PROMPT)
        self.assertEqual(count_fds(), self.base_fds)
        self.assertEqual(self.fs.done("open"), self.fs.done("release"))

    def test_a_hung_read_times_out(self):
        fs = self.fs

        async def main():
            aopen.configure(timeout_ms=200)
            async with aopen.aiofile(fs.path("read/f"), "rb") as f:
                t0 = time.monotonic()
                with self.assertRaises(OSError) as e:
                    await f.read(100)
                took = time.monotonic() - t0
            fs.release()
            self.assertTrue(fs.balanced())
            return e.exception.errno, took

        err, took = asyncio.run(main())
        self.assertEqual(err, errno.ETIMEDOUT)
        self.assertGreaterEqual(took, 0.19)
        self.assertLess(took, 0.2 + PROMPT)
        self.assertEqual(count_fds(), self.base_fds)

    def test_mount_events_and_fail_fast(self):
        """aopen.mount_events() on a context configured with fail_fast: a stat hung in the
        daemon makes a "blocked" event for the mount, within the library's threshold (200
        ms) and PROMPT; meanwhile new calls on that mount raise OSError(EHOSTDOWN) at once
        and a local file's are served; once released, "recovered", and calls run again."""
        fs = self.fs
        local = os.path.join(DIR, "local.ff")
        with open(local, "wb") as g:
            g.write(b"local")

        async def main():
            aopen.configure(fail_fast=True)
            events, hung, blocked, blocked_after = await stat_until_blocked(fs)
            t1 = time.monotonic()
            errs = []
            for _ in range(100):
                try:
                    await aopen.os.stat(fs.path("f"))
                except OSError as e:
                    errs.append(e.errno)
            failing = time.monotonic() - t1
            async with aopen.aiofiles.open(local, "rb") as f:
                local_data = await f.read()
            fs.release()
            await hung
            recovered = await asyncio.wait_for(events.__anext__(), 5)
            after = await aopen.os.stat(fs.mnt)
            await events.aclose()
            self.assertTrue(await fs.settled())
            return blocked, blocked_after, errs, failing, local_data, recovered, after

        blocked, blocked_after, errs, failing, local_data, recovered, after = asyncio.run(main())
        print(f"\n    blocked event {blocked_after * 1000:.0f} ms after the hang; 100 stats failed fast in "
              f"{failing * 1000:.1f} ms", file=sys.stderr)
        self.assertEqual((blocked.kind, blocked.mount_point, blocked.stuck), ("blocked", self.fs.mnt, 1))
        self.assertTrue(blocked.fstype.startswith("fuse"), blocked.fstype)
        self.assertLess(blocked_after, 0.2 + PROMPT)
        self.assertEqual(errs, [errno.EHOSTDOWN] * 100)
        self.assertLess(failing, PROMPT)  # (each at once: no call reached the stuck mount)
        self.assertEqual(local_data, b"local")
        self.assertEqual((recovered.kind, recovered.mount_id), ("recovered", blocked.mount_id))
        self.assertTrue(stat_module.S_ISDIR(after.st_mode))
        self.assertEqual(count_fds(), self.base_fds)

    def test_blocked_ms(self):
        """configure(blocked_ms=30): a read hung in the daemon makes a "blocked" event within
        30 ms and PROMPT, its release "recovered"; a threshold out of range (5 ms) is EINVAL."""
        fs = self.fs

        async def bad():
            aopen.configure(blocked_ms=5)

        with self.assertRaises(OSError) as cm:
            asyncio.run(bad())
        self.assertEqual(cm.exception.errno, errno.EINVAL)

        async def main():
            aopen.configure(blocked_ms=30)
            events, hung, blocked, blocked_after = await stat_until_blocked(fs)
            fs.release()
            await hung
            recovered = await asyncio.wait_for(events.__anext__(), 5)
            await events.aclose()
            self.assertTrue(await fs.settled())
            return blocked, blocked_after, recovered

        blocked, blocked_after, recovered = asyncio.run(main())
        print(f"\n    blocked_ms=30: blocked event {blocked_after * 1000:.0f} ms after the hang", file=sys.stderr)
        self.assertEqual((blocked.kind, blocked.mount_point), ("blocked", fs.mnt))
        self.assertLess(blocked_after, 0.03 + PROMPT)
        self.assertEqual((recovered.kind, recovered.mount_id), ("recovered", blocked.mount_id))
        self.assertEqual(count_fds(), self.base_fds)


if __name__ == "__main__":
    if DIR:
        shutil.rmtree(DIR, ignore_errors=True)
        os.makedirs(DIR)
    unittest.main()
