"""Tests of the asyncio integration, run by `make test` with the slow-open shim preloaded.

AOPEN_TEST_DIR is a scratch directory; opens under its "slow/" subdirectory are delayed by
SLOW_OPEN_MS (the shim matches the path string, so "<dir>/./slow/x" reaches the same file
without the delay, which the tests use to check contents quickly).
"""

import asyncio
import errno
import gc
import os
import pathlib
import subprocess
import sys
import time
import unittest

if not os.environ.get("AOPEN_TEST_INSTALLED"):  # else the installed package (install_test.sh)
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import aopen  # noqa: E402
import aopen._raw  # noqa: E402
import aopen.os  # noqa: E402
from aopen import aopen as aopen_cm  # noqa: E402

DIR = os.environ.get("AOPEN_TEST_DIR", "")
DELAY = int(os.environ.get("SLOW_OPEN_MS", "0")) / 1000
SHIM = "slow_open" in os.environ.get("LD_PRELOAD", "")


def slow(name):
    return os.path.join(DIR, "slow", name)


def unslowed(name):
    return os.path.join(DIR, ".", "slow", name)


def count_fds():
    """Open descriptors, after collecting finished loops (which frees their contexts)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd")) - 1


def wait_fds(n, timeout=5.0):
    """Waits up to `timeout` s for count_fds() to fall to `n` (a descriptor the library owes
    a close is closed on a worker, a moment later); returns count_fds()."""
    until = time.monotonic() + timeout
    while count_fds() > n and time.monotonic() < until:
        time.sleep(0.005)
    return count_fds()


async def fds_fall_to(n, timeout=5.0):
    """wait_fds on the loop."""
    until = time.monotonic() + timeout
    while count_fds() > n and time.monotonic() < until:
        await asyncio.sleep(0.005)
    return count_fds()


async def settled(done=lambda s: True, timeout=DELAY + 10):
    """Waits until nothing runs or waits in this loop's context (abandoned syscalls and owed
    closes included) and `done(aopen.stats())` holds, or `timeout` s pass: a wait for the
    state, not a sleep that bets on how long a slow open and its close take."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        s = aopen.stats()
        if s["running"] == 0 and s["queued"] == 0 and done(s):
            return
        await asyncio.sleep(0.01)


@unittest.skipUnless(SHIM and DIR and DELAY >= 0.5, "needs the slow_open shim, AOPEN_TEST_DIR, SLOW_OPEN_MS >= 500")
class TestAopen(unittest.TestCase):
    def test_article_test_drive(self):
        """Four files opened (each delayed), written and closed while a heartbeat ticks:
        about one delay in all, not four, and the heartbeat never stalls."""
        beats = []

        async def heartbeat():
            while True:
                await asyncio.sleep(0.1)
                beats.append(time.monotonic())
                print(f"HEARTBEAT {len(beats)}", flush=True)

        async def write_file(i):
            async with aopen_cm(slow(f"article{i}.txt"), "w") as f:
                print(f"opened file {i}", flush=True)
                f.write(f"file {i} through libaopen\n")
            print(f"closed file {i}", flush=True)

        async def main():
            hb = asyncio.create_task(heartbeat())
            t0 = time.monotonic()
            await asyncio.gather(*(write_file(i) for i in range(4)))
            took = time.monotonic() - t0
            hb.cancel()
            return t0, took

        t0, took = asyncio.run(main())
        print(f"4 files in {took:.2f} s with a {DELAY:.1f} s delay each; {len(beats)} heartbeats")
        self.assertGreaterEqual(took, DELAY * 0.95)
        self.assertLess(took, DELAY * 1.8, "the four opens did not overlap")
        gaps = [b - a for a, b in zip([t0] + beats, beats)]
        self.assertGreaterEqual(len(beats), int(DELAY / 0.1) - 2)
        self.assertLess(max(gaps), 0.3, "the heartbeat stalled: the loop was blocked")
        for i in range(4):
            with open(unslowed(f"article{i}.txt")) as f:
                self.assertEqual(f.read(), f"file {i} through libaopen\n")

    def test_modes_and_errors(self):
        async def main():
            p = os.path.join(DIR, "modes.txt")
            async with aopen_cm(p, "w", encoding="utf-8") as f:
                f.write("héllo\n")
            async with aopen_cm(p, "a") as f:
                f.write("more\n")
            async with aopen_cm(p, "rb") as f:
                self.assertEqual(f.read(), "héllo\nmore\n".encode())
            async with aopen_cm(p, "r+") as f:
                f.write("H")
            async with aopen_cm(p) as f:
                self.assertEqual(f.read(), "Héllo\nmore\n")
                self.assertFalse(os.get_inheritable(f.fileno()))
            with self.assertRaises(FileNotFoundError):
                async with aopen_cm(os.path.join(DIR, "missing")):
                    pass
            with self.assertRaises(FileExistsError):
                async with aopen_cm(p, "x"):
                    pass
            for bad in ("rw", "z", "rbt", "rr", ""):
                with self.assertRaises(ValueError):
                    aopen_cm(p, bad)

        base = count_fds()
        asyncio.run(main())
        self.assertEqual(count_fds(), base)

    def test_cancelling_the_awaiting_task_leaks_nothing(self):
        async def main():
            make = os.path.join(DIR, "slow", "cancel.txt")
            with open(unslowed("cancel.txt"), "w"):
                pass
            task = asyncio.create_task(aopen_cm(make, "r").__aenter__())
            await asyncio.sleep(0.1)
            task.cancel()
            t0 = time.monotonic()
            with self.assertRaises(asyncio.CancelledError):
                await task
            self.assertLess(time.monotonic() - t0, DELAY / 2, "cancel waited for the open")
            fds_in_loop = count_fds()
            await settled()  # the abandoned open returns; libaopen closes it
            self.assertEqual(await fds_fall_to(fds_in_loop), fds_in_loop)

        base = count_fds()
        asyncio.run(main())
        self.assertEqual(count_fds(), base)

    def test_owed_closes_run_on_workers_not_the_loop(self):
        async def main():
            slow = os.path.join(DIR, "slow", "owed.txt")
            fast = unslowed("owed-fast.txt")
            for p in (unslowed("owed.txt"), fast):
                with open(p, "w"):
                    pass
            before = aopen.stats()["owed_closes"]
            # A task cancelled while its open runs: the late descriptor is owed a close,
            # run by a libaopen worker when the open returns.
            task = asyncio.create_task(aopen_cm(slow, "r").__aenter__())
            await asyncio.sleep(0.1)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            await settled(lambda s: s["owed_closes"] > before)
            late = aopen.stats()["owed_closes"] - before
            # The package's own owed closes (a descriptor nobody will receive) go the same
            # way: to a worker, never os.close on the loop thread.
            fd = os.open(fast, os.O_RDONLY)
            aopen._loop.current().close_detached(fd)
            await settled(lambda s: s["owed_closes"] > before + late)
            return late, aopen.stats()["owed_closes"] - before

        base = count_fds()
        late, owed = asyncio.run(main())
        self.assertEqual(late, 1, "the late descriptor went to a worker")
        self.assertEqual(owed, 2, "the detached descriptor went to a worker")
        self.assertEqual(count_fds(), base)

    def test_back_pressure_waits_instead_of_raising(self):
        n = 6

        async def one(i):
            async with aopen_cm(slow(f"bp{i}.txt"), "w") as f:
                f.write(str(i))

        async def main():
            aopen.configure(queue_depth=2)
            t0 = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.monotonic() - t0

        base = count_fds()
        took = asyncio.run(main())
        print(f"{n} opens through a queue of depth 2: {took:.2f} s")
        # At most 2 in flight, each open taking DELAY: at least n/2 delays.
        self.assertGreaterEqual(took, DELAY * n / 2 * 0.95)
        for i in range(n):
            with open(unslowed(f"bp{i}.txt")) as f:
                self.assertEqual(f.read(), str(i))
        self.assertEqual(count_fds(), base)


    def test_close_frees_the_context_and_cancels_waiters(self):
        async def main():
            task = asyncio.create_task(aopen_cm(slow("closing.txt"), "w").__aenter__())
            await asyncio.sleep(0.1)
            aopen.close()
            with self.assertRaises(asyncio.CancelledError):
                await task
            # A new context serves the loop afterwards.
            async with aopen_cm(os.path.join(DIR, "after-close.txt"), "w") as f:
                f.write("ok")

        base = count_fds()
        asyncio.run(main())
        time.sleep(DELAY + 0.2)  # the abandoned open returns and is closed by its worker
        self.assertEqual(wait_fds(base), base)

    def test_stats_and_blocked_mounts(self):
        """Four slow opens with a per-mount share of 2: two run, two wait for the share, and
        the test directory's mount is listed as blocked; the counters follow."""

        async def main():
            aopen.configure(max_threads=4, per_mount_threads=2)
            tasks = [asyncio.create_task(aopen_cm(slow(f"stats{i}.txt"), "w").__aenter__()) for i in range(4)]
            await asyncio.sleep(DELAY / 2)
            s = aopen.stats()
            self.assertEqual((s["submitted"], s["running"], s["queued_over_share"]), (4, 2, 2))
            self.assertEqual(s["per_mount_threads"], 2)
            mounts = aopen.blocked_mounts(min_blocked_ms=int(DELAY * 1000 / 4))
            self.assertEqual(len(mounts), 1)
            self.assertTrue(DIR.startswith(mounts[0]["mount_point"]), mounts)
            self.assertEqual((mounts[0]["running"], mounts[0]["queued"]), (2, 2))
            for f in await asyncio.gather(*tasks):
                f.close()
            s = aopen.stats()
            self.assertEqual((s["delivered"], s["running"], s["queued"]), (4, 0, 0))
            self.assertEqual(sum(s["service_us"]), 4)
            self.assertGreaterEqual(sum(s["service_us"][18:]), 4, "each open took about DELAY (>= 0.26 s)")
            self.assertEqual(aopen.blocked_mounts(0), [])

        asyncio.run(main())

    def test_fast_path_without_an_interposer(self):
        """Without the shim, a cached local file opens and closes on the loop thread itself
        (aopen_open_nowait / aopen_close_nowait): nothing is submitted to the pool."""
        path = unslowed("fast.txt")
        with open(path, "w") as f:
            f.write("hello")
        os.stat(path)
        script = (
            "import asyncio, sys, aopen\n"
            "async def main():\n"
            "    async with aopen.aopen(sys.argv[1]) as f:\n"
            "        data = f.read()\n"
            "    print(data, aopen.stats()['submitted'])\n"
            "asyncio.run(main())\n"
        )
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        out = subprocess.run([sys.executable, "-c", script, path], env=env, capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.split(), ["hello", "0"])


@unittest.skipUnless(DIR, "needs AOPEN_TEST_DIR")
class TestOs(unittest.TestCase):
    def test_stat_on_the_loop_thread_is_os_stat(self):
        """A stat the library makes on the loop thread (aopen_stat_nowait: cached, local)
        is os.stat's result, every field (float and ns times, dev, rdev, blksize) equal, and
        its errors os.stat's; no request is made for it."""
        d = os.path.join(DIR, "stat-here.d")
        os.makedirs(d, exist_ok=True)
        f, link, loop = os.path.join(d, "f"), os.path.join(d, "link"), os.path.join(d, "loop")
        with open(f, "w") as fh:
            fh.write("x" * 100)
        os.utime(f, ns=(1_234_567_891_987_654_321, 987_654_321_123_456_789))
        for target, name in (("f", link), ("loop", loop)):
            if not os.path.lexists(name):
                os.symlink(target, name)
        fields = [n for n in dir(os.stat_result) if n.startswith("st_")]

        async def main():
            paths = [f, d, link, "/dev/null", f.encode(), pathlib.Path(f)]
            # Two walks a moment apart leave each symlink an atime the next walk need not
            # update (a walk that would is not made from the caches alone).
            for _ in range(2):
                for p in paths + [loop]:
                    try:
                        os.stat(p)
                    except OSError:
                        pass
                await asyncio.sleep(0.05)
            before = aopen.stats()["submitted"]
            for p in paths:
                for follow in (True, False):
                    want, got = os.stat(p, follow_symlinks=follow), await aopen.os.stat(p, follow_symlinks=follow)
                    self.assertEqual(got, want, p)
                    self.assertEqual([getattr(got, n) for n in fields], [getattr(want, n) for n in fields], p)
                self.assertEqual(await aopen.os.lstat(p), os.lstat(p))
            for p, err in ((os.path.join(d, "missing"), FileNotFoundError), (f + "/x", NotADirectoryError)):
                for _ in range(2):  # the first lookup of a missing name may be a request
                    with self.assertRaises(err) as e:
                        await aopen.os.stat(p)
                    self.assertEqual(e.exception.filename, p)
            with self.assertRaises(OSError) as e:
                await aopen.os.stat(loop)
            self.assertEqual(e.exception.errno, errno.ELOOP)
            return aopen.stats()["submitted"] - before

        self.assertLessEqual(asyncio.run(main()), 1)  # (a missing name's first lookup)

    def test_calls_match_the_os_module(self):
        async def main():
            d = os.path.join(DIR, "os.d")
            if os.path.isdir(d):
                for n in os.listdir(d):
                    os.unlink(os.path.join(d, n))
                os.rmdir(d)
            await aopen.os.mkdir(d, 0o750)
            self.assertEqual(os.stat(d).st_mode & 0o777, 0o750 & ~current_umask())
            a, b, link = os.path.join(d, "a"), os.path.join(d, "b"), os.path.join(d, "link")
            with open(a, "w") as f:
                f.write("hello")
            os.symlink(a, link)
            want, got = os.stat(a), await aopen.os.stat(a)
            for field in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_size", "st_mtime_ns", "st_blocks"):
                self.assertEqual(getattr(got, field), getattr(want, field), field)
            self.assertEqual((await aopen.os.stat(link)).st_ino, want.st_ino)
            self.assertEqual((await aopen.os.lstat(link)).st_ino, os.lstat(link).st_ino)
            self.assertTrue(await aopen.os.exists(a))
            self.assertTrue(await aopen.os.isfile(a))
            self.assertFalse(await aopen.os.isdir(a))
            self.assertTrue(await aopen.os.isdir(d))
            self.assertEqual(await aopen.os.getsize(a), 5)
            await aopen.os.rename(a, b)
            self.assertFalse(await aopen.os.exists(a))
            with open(a, "w"):
                pass
            await aopen.os.replace(a, b)
            self.assertEqual(os.path.getsize(b), 0)
            with self.assertRaises(FileNotFoundError) as e:
                await aopen.os.stat(a)
            self.assertEqual(e.exception.filename, a)
            with self.assertRaises(FileExistsError):
                await aopen.os.mkdir(d)
            with self.assertRaises(OSError):
                await aopen.os.rmdir(d)  # not empty
            await aopen.os.remove(b)
            await aopen.os.unlink(link)
            await aopen.os.rmdir(d)
            self.assertFalse(os.path.exists(d))

        asyncio.run(main())

    def test_an_embedded_nul_is_refused_as_the_os_module_does(self):
        # C would see only the path before the NUL: "f\0x" must not reach "f".
        import aopen.aiofiles as af

        f = os.path.join(DIR, "nul")
        with open(f, "w"):
            pass

        async def main():
            calls = [lambda: af.open(f + "\0x", "rb"), lambda: af.open(os.fsencode(f) + b"\0", "r"),
                     lambda: af.os.stat(f + "\0x"), lambda: af.os.unlink(f + "\0x"),
                     lambda: af.os.rename(f + "\0x", f + "2"), lambda: af.os.readlink(f + "\0x"),
                     lambda: af.os.wrap(os.stat)(f + "\0x")]
            for call in calls:
                with self.assertRaisesRegex(ValueError, "embedded null"):
                    await call()
            with self.assertRaisesRegex(ValueError, "invalid mode"):  # the mode first, as open()
                await af.open(f + "\0", "rbb")

        asyncio.run(main())
        self.assertTrue(os.path.exists(f))
        os.unlink(f)

    def test_listdir_and_scandir_match_the_os_module(self):
        d = os.path.join(DIR, "ls.d")
        subprocess.run(["rm", "-rf", d], check=True)
        os.mkdir(d)
        names = [f"file-{i:05d}-{'x' * 40}" for i in range(3000)]  # several 64 KiB getdents
        for n in names:
            open(os.path.join(d, n), "w").close()
        os.mkdir(os.path.join(d, "sub"))
        os.symlink("sub", os.path.join(d, "to-sub"))
        os.symlink(names[0], os.path.join(d, "to-file"))
        os.symlink("missing", os.path.join(d, "dangling"))
        base = count_fds()

        async def main():
            self.assertEqual(await aopen.os.listdir(d), os.listdir(d))  # same directory order
            self.assertEqual(await aopen.os.listdir(os.fsencode(d)), os.listdir(os.fsencode(d)))
            with await aopen.os.scandir(d) as it:
                got = {e.name: e for e in it}
            want = {e.name: e for e in os.scandir(d)}
            self.assertEqual(sorted(got), sorted(want))
            for name, w in want.items():
                g = got[name]
                self.assertEqual(g.path, w.path)
                self.assertEqual(g.inode(), w.inode(), name)
                self.assertEqual(g.is_symlink(), w.is_symlink(), name)
                for follow in (True, False):
                    self.assertEqual(g.is_dir(follow_symlinks=follow), w.is_dir(follow_symlinks=follow), name)
                    self.assertEqual(g.is_file(follow_symlinks=follow), w.is_file(follow_symlinks=follow), name)
            self.assertEqual((await got["to-file"].stat()).st_ino, os.stat(os.path.join(d, names[0])).st_ino)
            self.assertEqual((await got["to-file"].stat(follow_symlinks=False)).st_ino,
                             os.lstat(os.path.join(d, "to-file")).st_ino)
            self.assertEqual(os.fspath(got["sub"]), os.path.join(d, "sub"))
            for bad, exc in [(os.path.join(d, "missing"), FileNotFoundError),
                             (os.path.join(d, names[0]), NotADirectoryError)]:
                with self.assertRaises(exc) as e:
                    await aopen.os.listdir(bad)
                self.assertEqual(e.exception.filename, bad)
            self.assertEqual(aopen.stats()["buffer_bytes"], 0)

        asyncio.run(main())
        self.assertEqual(count_fds(), base)
        subprocess.run(["rm", "-rf", d], check=True)

    @unittest.skipUnless(SHIM and DELAY >= 0.5, "needs the slow_open shim")
    def test_cancelling_a_call_cancels_the_request(self):
        async def main():
            aopen.configure(threads=1, max_threads=1, per_mount_threads=1)
            with open(unslowed("pin"), "w"):
                pass
            pin = asyncio.create_task(aopen_cm(slow("pin")).__aenter__())  # holds the one worker
            await asyncio.sleep(0.1)
            target = os.path.join(DIR, "never.d")
            task = asyncio.create_task(aopen.os.mkdir(target))
            await asyncio.sleep(0.05)
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            f = await pin
            f.close()
            await asyncio.sleep(0.2)
            self.assertFalse(os.path.exists(target), "a cancelled queued mkdir ran")

        asyncio.run(main())


@unittest.skipUnless(DIR, "needs AOPEN_TEST_DIR")
class TestAiofile(unittest.TestCase):
    def test_text_and_binary_io_match_open(self):
        path = os.path.join(DIR, "aiofile.txt")

        async def main():
            async with aopen.aiofile(path, "w", encoding="utf-8") as f:
                self.assertEqual(await f.write("héllo\n"), 6)
                await f.writelines(["two\n", "three"])
                await f.flush()
                await f.fsync()
                self.assertEqual(await f.tell(), len("héllo\ntwo\nthree".encode()))
            with open(path, encoding="utf-8") as g:
                self.assertEqual(g.read(), "héllo\ntwo\nthree")
            async with aopen.aiofile(path, encoding="utf-8") as f:
                self.assertEqual(await f.readline(), "héllo\n")
                self.assertEqual([line async for line in f], ["two\n", "three"])
                self.assertEqual(await f.readline(), "")
                await f.seek(0)
                self.assertEqual(await f.read(3), "hél")
                self.assertEqual(await f.read(), "lo\ntwo\nthree")
                self.assertEqual((await f.stat()).st_size, os.path.getsize(path))
            async with aopen.aiofile(path, "a") as f:
                await f.write("!\n")
            async with aopen.aiofile(path, "rb") as f:
                data = await f.read()
                self.assertEqual(data, "héllo\ntwo\nthree!\n".encode())
                await f.seek(1)
                self.assertEqual(await f.tell(), 1)
                self.assertEqual(await f.read(2), "é".encode())
            async with aopen.aiofile(path, "r+b") as f:
                await f.seek(0)
                await f.write(b"H")
                self.assertEqual(await f.truncate(5), 5)
            with open(path, "rb") as g:
                self.assertEqual(g.read(), "Héll".encode())  # 5 bytes
            with open(path, "wb") as g:
                g.write(b"a\r\nb\rc\n")
            async with aopen.aiofile(path) as f:  # universal newlines, as open()
                self.assertEqual(await f.read(), "a\nb\nc\n")
            with open(path, newline="") as g:
                want = list(g)
            async with aopen.aiofile(path, newline="") as f:
                self.assertEqual([line async for line in f], want)  # ["a\r\n", "b\r", "c\n"]
            with self.assertRaises(FileNotFoundError):
                async with aopen.aiofile(os.path.join(DIR, "missing")):
                    pass
            async with aopen.aiofile(path, "rb") as f:
                with self.assertRaises(OSError):
                    await f.write(b"x")  # opened read-only
            self.assertEqual(aopen.stats()["buffer_bytes"], 0)

        asyncio.run(main())

    def test_read_n_never_returns_more_than_n(self):
        """read(n) returns exactly what the built-in file's read(n) returns, over random sizes
        and positions on both the fast path and requests; and a library count past the
        buffer (the over-long read bug) raises EIO instead of moving the position too far."""
        import random

        path = os.path.join(DIR, "aiofile.counts")
        blob = os.urandom(65536)
        with open(path, "wb") as g:
            g.write(blob)
        seed = random.randrange(1 << 30)
        rnd = random.Random(seed)

        async def main():
            async with aopen.aiofile(path, "rb") as f:
                with open(path, "rb") as g:
                    for _ in range(300):
                        pos, n = rnd.randrange(70000), rnd.randrange(1, 16385)
                        await f.seek(pos)
                        g.seek(pos)
                        got = await f.read(n)
                        self.assertLessEqual(len(got), n, f"seed {seed}")
                        self.assertEqual(got, g.read(n), f"seed {seed}: read({n}) at {pos}")
            real = aopen._abi.lib

            class Lying:
                def __getattr__(self, name):
                    return getattr(real, name)

                def aopen_read_nowait(self, ctx, fd, buf, n, off):
                    real.aopen_read_nowait(ctx, fd, buf, n, off)
                    return n + 1000

            # (Through the library's reads: a file the fast path opened is read with
            # preadv2 directly, which no library count can lie about.)
            aopen._raw.lib, direct, aopen._raw._preadv2 = Lying(), aopen._raw._preadv2, None
            try:
                async with aopen.aiofile(path, "rb") as f:
                    with self.assertRaises(OSError) as e:
                        await f.read(10)
                    self.assertEqual(e.exception.errno, errno.EIO)
                    self.assertEqual(await f.tell(), 0)
            finally:
                aopen._raw.lib, aopen._raw._preadv2 = real, direct

        asyncio.run(main())

    def test_cached_reads_take_the_fast_path_and_still_yield(self):
        """A cached local file is read on the loop thread (aopen_read_nowait: no request),
        yet a task reading 8 MiB lets the others run at least every MiB."""
        path = os.path.join(DIR, "aiofile.cached")
        blob = os.urandom(8 << 20)
        with open(path, "wb") as g:
            g.write(blob)

        async def main():
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0)

            t = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            async with aopen.aiofile(path, "rb") as f:
                before = aopen.stats()["submitted"]
                ticks = 0
                got = await f.read()
                submitted = aopen.stats()["submitted"] - before
            t.cancel()
            return got, submitted, ticks

        got, submitted, ticks = asyncio.run(main())
        self.assertEqual(got, blob)
        self.assertEqual(submitted, 0, "cached reads went to the pool")
        self.assertGreaterEqual(ticks, 7, "the reading task starved the loop")

    def test_fifo_reads_and_writes_at_its_own_position(self):
        """A FIFO cannot pread (ESPIPE): aiofile reads and writes it at its position, and a
        writer waiting in its open pairs with the reader."""
        import threading

        path = os.path.join(DIR, "aiofile.fifo")
        if os.path.exists(path):
            os.unlink(path)
        os.mkfifo(path)

        def writer():
            with open(path, "wb") as w:
                w.write(b"line one\nline two\n")

        t = threading.Thread(target=writer)
        t.start()

        async def main():
            async with aopen.aiofile(path, "rb") as f:
                return await f.read()

        self.assertEqual(asyncio.run(main()), b"line one\nline two\n")
        t.join()

        got = []

        def read_all():
            with open(path, "rb") as r:
                got.append(r.read())

        reader = threading.Thread(target=read_all)
        reader.start()

        async def write():
            async with aopen.aiofile(path, "wb") as f:
                await f.write(b"back the other way")

        asyncio.run(write())
        reader.join()
        self.assertEqual(got, [b"back the other way"])

    def test_large_read_spans_chunks(self):
        path = os.path.join(DIR, "aiofile.bin")
        blob = os.urandom(300_000)
        with open(path, "wb") as g:
            g.write(blob)

        async def main():
            async with aopen.aiofile(path, "rb") as f:
                self.assertEqual(await f.read(), blob)
                await f.seek(100_000)
                self.assertEqual(await f.read(10), blob[100_000:100_010])

        asyncio.run(main())


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


class TestLoading(unittest.TestCase):
    def test_version_and_invalid_mode_need_no_loop(self):
        self.assertRegex(aopen.__version__, r"^\d+\.\d+\.\d+$")
        with self.assertRaises(ValueError):
            aopen_cm("x", "q")


if __name__ == "__main__":
    unittest.main()
