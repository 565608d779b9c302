"""The drop-in beside the built-in file and aiofiles, outside the op-sequence property tests:
aiofiles' module layout and seams (every import projects make, the naive
``sys.modules["aiofiles"]`` switch, ``install()``, aiofiles' README test recipe), error types
and messages against the built-in file over a matrix of misuse, a non-blocking FIFO,
``newlines``, ``filename2`` of two-path calls, the ResourceWarning of an unclosed file, and
``aiofiles.os.wrap``'s metadata. Run with pytest (python/run_tests.sh)."""

import asyncio
import contextlib
import gc
import os
import subprocess
import sys
import tempfile
import textwrap
import warnings

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import aopen.aiofiles as aiofiles  # noqa: E402

IMPORTS = """
import asyncio, os, sys, tempfile
import aopen.aiofiles
{switch}
import aiofiles, aiofiles.os, aiofiles.ospath, aiofiles.base, aiofiles.threadpool
import aiofiles.threadpool.text, aiofiles.threadpool.binary, aiofiles.threadpool.utils
import aiofiles.tempfile, aiofiles.tempfile.temptypes
from aiofiles.threadpool.text import AsyncTextIOWrapper
from aiofiles.threadpool.binary import AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO
from aiofiles.threadpool.binary import AsyncIndirectBufferedIOBase
from aiofiles.base import AsyncBase, AiofilesContextManager, AsyncIndirectBase
from aiofiles.tempfile.temptypes import AsyncSpooledTemporaryFile, AsyncTemporaryDirectory
from aiofiles.threadpool import sync_open
from aiofiles.threadpool.utils import delegate_to_executor, proxy_method_directly
assert aiofiles.os is aopen.aiofiles.os is sys.modules["aopen.os"]
assert aiofiles.threadpool is sys.modules["aopen.aiofiles.threadpool"]
assert sys.modules["aiofiles.threadpool.binary"] is sys.modules["aopen.aiofiles.threadpool.binary"]
from unittest import mock
d = tempfile.mkdtemp()

async def main():
    async with aiofiles.open(os.path.join(d, "f"), "w") as f:
        assert isinstance(f, AsyncTextIOWrapper) and isinstance(f, AsyncBase)
        await f.write("hi")
    async with aiofiles.open(os.path.join(d, "f"), "rb") as f:
        assert isinstance(f, AsyncBufferedReader)
        assert await f.read() == b"hi"
    assert isinstance(aiofiles.open(os.path.join(d, "f")), AiofilesContextManager)
    assert await aiofiles.os.path.exists(d)
    # aiofiles' README recipe for tests
    mock_file = mock.MagicMock()
    aiofiles.threadpool.wrap.register(mock.MagicMock)(
        lambda *args, **kwargs: aiofiles.threadpool.AsyncBufferedIOBase(*args, **kwargs))
    with mock.patch("aiofiles.threadpool.sync_open", return_value=mock_file) as mock_open:
        async with aiofiles.open("filename", "w") as f:
            await f.write("data")
        mock_file.write.assert_called_once_with("data")
        mock_open.assert_called_once()
    async with aiofiles.open(os.path.join(d, "f"), "rb") as f:  # unpatched again
        assert await f.read() == b"hi"
    print("imports ok")

asyncio.run(main())
"""


@pytest.mark.parametrize("switch", ['sys.modules["aiofiles"] = aopen.aiofiles', "aopen.aiofiles.install()",
                                    "aopen.aiofiles.install(); aopen.aiofiles.install()"])
def test_imports_and_seams(switch):
    """Each switch, in a fresh interpreter: every aiofiles module and name projects import,
    one module object per name, and aiofiles' README mock recipe intercepts the open."""
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    out = subprocess.run([sys.executable, "-c", IMPORTS.format(switch=switch)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "imports ok" in out.stdout, out.stdout + out.stderr


def test_install_replaces_an_imported_aiofiles():
    """install() after the real aiofiles was imported: later imports get the drop-in."""
    pytest.importorskip("aiofiles")
    code = textwrap.dedent("""
        import sys, aiofiles, aiofiles.os
        assert "aopen" not in aiofiles.__name__
        import aopen.aiofiles
        aopen.aiofiles.install()
        import aiofiles, aiofiles.os
        assert aiofiles is aopen.aiofiles and aiofiles.os is aopen.aiofiles.os
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=os.path.join(HERE, ".."))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stdout + out.stderr


def outcome(fn):
    try:
        return ("ok", repr(fn()))
    except Exception as e:
        return (type(e).__name__, str(e))


async def aoutcome(coro_fn):
    try:
        return ("ok", repr(await coro_fn()))
    except Exception as e:
        return (type(e).__name__, str(e))


MISUSE = [
    ("rb", "write", (b"x",)), ("r", "write", ("x",)), ("wb", "read", (1,)), ("w", "read", ()),
    ("rb", "seek", (0, 7)), ("r", "seek", (0, 7)), ("r", "seek", (1, 1)), ("r", "seek", (-1,)),
    ("rb", "seek", (-1,)), ("r", "write", (b"x",)), ("w", "write", (b"x",)), ("wb", "write", ("x",)),
    ("rb", "readline", ("x",)), ("r", "read", ("x",)), ("rb", "read", ("x",)), ("rb", "truncate", ()),
    ("r", "truncate", ()), ("rb", "peek", ("x",)), ("rb", "readinto", (b"xx",)), ("r", "readline", (1.5,)),
    ("rb", "read1", (None,)), ("r+b", "peek", (None,)), ("wb", "readline", ()), ("ab", "read", ()),
    ("r", "readline", (None,)), ("rb", "readline", (None,)), ("w", "readline", ()), ("r+", "seek", (0, 3)),
]


@pytest.mark.parametrize("mode,meth,args", MISUSE)
def test_misuse_raises_what_the_builtin_raises(tmp_path, mode, meth, args):
    """Type and message of the exception (or the result), as the built-in file's."""
    p = tmp_path / "f"
    p.write_bytes(b"hello\nworld\n")
    with open(p, mode) as g:
        want = outcome(lambda: getattr(g, meth)(*args))
    p.write_bytes(b"hello\nworld\n")

    async def main():
        async with aiofiles.open(p, mode) as f:
            return await aoutcome(lambda: getattr(f, meth)(*args))

    assert asyncio.run(main()) == want


@pytest.mark.parametrize("mode", ["rb", "r", "wb", "w", "r+b", "r+"])
def test_calls_on_a_closed_file_raise_what_the_builtin_raises(tmp_path, mode):
    p = tmp_path / "f"
    p.write_bytes(b"hello\n")
    g = open(p, mode)
    g.close()
    data = "x" if "b" not in mode else b"x"
    calls = [("read", ()), ("write", (data,)), ("tell", ()), ("seek", (0,)), ("flush", ()), ("readline", ()),
             ("truncate", ()), ("readlines", ())]

    async def main():
        f = await aiofiles.open(p, mode)
        await f.close()
        return [await aoutcome(lambda: getattr(f, m)(*a)) for m, a in calls]

    assert asyncio.run(main()) == [outcome(lambda: getattr(g, m)(*a)) for m, a in calls]


def test_nonblocking_fifo_reads_as_the_builtin(tmp_path):
    """An O_NONBLOCK FIFO with no writer's data: read(n) and read() give None, readline
    b'' (FileIO's None on EAGAIN), binary and text."""
    p = str(tmp_path / "fifo")
    os.mkfifo(p)

    def opener(path, flags):
        return os.open(path, flags | os.O_NONBLOCK)

    cases = [("rb", "read", (10,)), ("rb", "read", ()), ("rb", "readline", ()), ("rb", "read1", (5,)),
             ("rb", "peek", (1,)), ("r", "read", (10,)), ("r", "read", ()), ("r", "readline", ())]
    for mode, meth, args in cases:
        with open(p, mode, opener=opener) as g:
            want = outcome(lambda: getattr(g, meth)(*args))

        async def main():
            async with aiofiles.open(p, mode, opener=opener) as f:
                return await aoutcome(lambda: getattr(f, meth)(*args))

        assert asyncio.run(main()) == want, (mode, meth, args)


@pytest.mark.parametrize("newline", [None, "", "\n", "\r", "\r\n"])
def test_newlines_as_the_builtin(tmp_path, newline):
    p = tmp_path / "f"
    p.write_bytes(b"a\r\nb\nc\rd")
    with open(p, "r", newline=newline) as g:
        before = g.newlines
        g.read()
        want = (before, g.newlines)

    async def main():
        async with aiofiles.open(p, "r", newline=newline) as f:
            before = f.newlines
            await f.read()
            return (before, f.newlines)

    assert asyncio.run(main()) == want


def test_newlines_survive_an_operation_that_goes_to_the_pool(tmp_path):
    """``newlines`` is what the decoder saw in every read so far, also after an operation
    that met a call it had to hand to the pool (a read of over 1 MiB here): the io stack is
    then restored from a snapshot and the operation run again, and the decoder's copy must
    keep the newline kinds seen before (the C decoder's state leaves them out)."""
    p = tmp_path / "f"
    p.write_bytes(b"a\r\n" + b"b\n" * 600000)
    with open(p, newline=None) as g:
        want = [g.readline(), g.newlines]
        g.read()
        want.append(g.newlines)

    async def main():
        async with aiofiles.open(p, newline=None) as f:
            got = [await f.readline(), f.newlines]
            await f.read()
            return got + [f.newlines]

    assert asyncio.run(main()) == want


def test_two_path_errors_carry_filename2(tmp_path):
    a, b = str(tmp_path / "missing"), str(tmp_path / "x" / "y")
    for name, sync in (("rename", os.rename), ("replace", os.replace), ("link", os.link),
                       ("renames", os.renames)):
        with pytest.raises(OSError) as want:
            sync(a, b)

        async def main():
            await getattr(aiofiles.os, name)(a, b)

        with pytest.raises(OSError) as got:
            asyncio.run(main())
        assert (type(got.value), got.value.errno, got.value.filename, got.value.filename2) == \
            (type(want.value), want.value.errno, want.value.filename, want.value.filename2), name
    os.symlink("t", str(tmp_path / "s"))
    with pytest.raises(OSError) as want:
        os.symlink("t", str(tmp_path / "s"))
    with pytest.raises(OSError) as got:
        asyncio.run(aiofiles.os.symlink("t", str(tmp_path / "s")))
    assert (got.value.errno, got.value.filename, got.value.filename2) == \
        (want.value.errno, want.value.filename, want.value.filename2)


@pytest.mark.parametrize("mode,read", [("rb", True), ("r", True), ("rb", False), ("wb", False), ("w", True)])
def test_an_unclosed_file_warns(tmp_path, mode, read):
    """ResourceWarning when an unclosed file is collected, whether or not it was used."""
    p = tmp_path / "f"
    p.write_bytes(b"data\n")

    async def main():
        f = await aiofiles.open(p, mode)
        if read:
            await (f.read() if "r" in mode else f.write("x"))
        del f
        gc.collect()

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        asyncio.run(main())
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "unclosed file" in str(w.message) for w in seen), \
        [str(w.message) for w in seen]


def test_os_wrap_keeps_the_function_metadata():
    w = aiofiles.os.wrap(os.getcwd)
    assert (w.__name__, w.__qualname__, w.__wrapped__, w.__doc__) == \
        (os.getcwd.__name__, os.getcwd.__qualname__, os.getcwd, os.getcwd.__doc__)
    assert asyncio.run(w()) == os.getcwd()


def test_closefd_false_leaves_the_offset_where_the_builtin_does(tmp_path):
    """Issue 28's first reproduction: the flush at close moves the shared descriptor."""
    results = []
    for use_aopen in (False, True):
        p = str(tmp_path / f"f{use_aopen}")
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC)

        async def main():
            async with aiofiles.open(fd, "wb", closefd=False) as f:
                await f.write(b"header;")

        if use_aopen:
            asyncio.run(main())
        else:
            with open(fd, "wb", closefd=False) as f:
                f.write(b"header;")
        os.write(fd, b"body")
        os.close(fd)
        with open(p, "rb") as g:
            results.append(g.read())
    assert results == [b"header;body", b"header;body"]


@pytest.mark.parametrize("mode", ["w+", "w+b", "r+b"])
def test_seek_after_the_offset_moved_behind_the_file(tmp_path, mode):
    """os.write on fileno() moves the offset; a seek back to where the file last left it
    must still reach the kernel (aiofiles' test_sendfile_file, reduced)."""
    results = []
    for use_aopen in (False, True):
        p = tmp_path / f"f{use_aopen}"
        p.write_bytes(b"")
        data = b"0123456789"

        async def main():
            async with aiofiles.open(p, mode) as f:
                os.write(f.fileno(), data)
                await f.seek(0)
                return await f.read(), os.lseek(f.fileno(), 0, os.SEEK_CUR)

        if use_aopen:
            results.append(asyncio.run(main()))
        else:
            with open(p, mode) as f:
                os.write(f.fileno(), data)
                f.seek(0)
                results.append((f.read(), os.lseek(f.fileno(), 0, os.SEEK_CUR)))
    assert results[0] == results[1]


@pytest.mark.parametrize("newline", [None, "", "\n", "\r\n", "\r"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_text_readline_of_a_cached_file_stays_on_the_loop_thread(tmp_path, monkeypatch, newline, encoding):
    """A readline() loop over a cached text file of many chunks: the lines, tell() and the
    offset are the built-in file's. Where a chunk's b"\\n" ends a line (an ASCII-superset
    encoding, newline None, "" or "\\n"), each next chunk is read on the loop thread: the
    loop makes at most two operations (the file's short last chunk and its end), not one per
    chunk; elsewhere every chunk is an operation (``Runner._run``), as before."""
    from aopen import _raw
    path = str(tmp_path / "lines")
    text = "".join(f"line {i:4}: d\u00e9j\u00e0 vu {'x' * (i % 37)}\r\n" if i % 5 == 0 else f"line {i:4}\n"
                   for i in range(6000))
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)
    with open(path, encoding=encoding, newline=newline) as f:
        want = []
        while line := f.readline():
            want.append(line)
        want_tell = f.tell()
    runs = []
    real_run = _raw.Runner._run

    async def counted(self, fn, args):
        runs.append(getattr(fn, "__name__", fn))
        return await real_run(self, fn, args)

    async def main():
        async with aiofiles.open(path, encoding=encoding, newline=newline) as f:
            await f.readline()  # (the first chunk: an operation, as any first read)
            runs.clear()
            got = []
            while line := await f.readline():
                got.append(line)
            return got, len(runs), await f.tell(), os.lseek(f.fileno(), 0, os.SEEK_CUR)

    monkeypatch.setattr(_raw.Runner, "_run", counted)
    got, operations, told, offset = asyncio.run(main())
    assert [want[0]] + got == want
    assert told == want_tell and offset == os.path.getsize(path)
    chunks = os.path.getsize(path) // 8192
    assert chunks >= 8
    if encoding == "utf-8" and newline in (None, "", "\n"):
        assert operations <= 2, operations
    else:
        assert operations >= chunks - 1, (operations, chunks)


@pytest.mark.parametrize("then", ["tell", "seek", "read", "readlines", "write", "buffer_close", "buffer_detach", "close",
                                  "newlines", "async_for", "fileno_read", "stat_cancelled_under_tell"])
def test_lines_handed_out_ahead_leave_the_file_as_the_builtin(tmp_path, then):
    """readline() hands out the lines of a decoded chunk without touching the file
    (``AsyncTextIOWrapper._ready``); after some of them, any other call sees the file as the
    built-in's readline() would have left it (a held buffer closed by the caller included)."""
    path = str(tmp_path / "lines")

    def make():
        with open(path, "w", newline="") as f:
            f.write("".join(f"line {i}\r\n" if i % 7 == 0 else f"line {i} \u00e9\n" for i in range(300)))

    def builtin():
        make()
        f = open(path, "r+")
        try:
            lines = [f.readline() for _ in range(5)]
            return lines + [act_sync(f)]
        finally:
            with contextlib.suppress(ValueError):  # (a detached buffer's)
                f.close()

    def act_sync(f):
        try:
            if then == "tell":
                return f.tell()
            if then == "seek":
                return f.seek(f.tell()), f.readline(), f.tell()
            if then == "read":
                return f.read(17), f.readline()
            if then == "readlines":
                return f.readlines()[:3]
            if then == "write":
                return f.write("X\n"), f.tell(), f.readline()
            if then == "buffer_close":
                f.buffer.close()
                return f.readline()
            if then == "buffer_detach":
                raw = f.buffer.detach()
                try:
                    return f.readline()
                finally:
                    raw.close()
            if then == "stat_cancelled_under_tell":
                return f.tell(), f.readline(), f.read(10)
            if then == "close":
                f.close()
                return f.readline()
            if then == "newlines":
                return f.newlines, f.readline()
            if then == "async_for":
                return list(f)[:4]
            if then == "fileno_read":
                return os.read(f.fileno(), 5), f.readline()
        except Exception as e:
            return type(e).__name__, str(e)

    async def act(f):
        try:
            if then == "tell":
                return await f.tell()
            if then == "seek":
                return await f.seek(await f.tell()), await f.readline(), await f.tell()
            if then == "read":
                return await f.read(17), await f.readline()
            if then == "readlines":
                return (await f.readlines())[:3]
            if then == "write":
                return await f.write("X\n"), await f.tell(), await f.readline()
            if then == "buffer_close":
                held.close()  # (fetched before the lines were taken over)
                return await f.readline()
            if then == "buffer_detach":
                raw = held.detach()
                try:
                    return await f.readline()
                finally:
                    raw.close()
            if then == "stat_cancelled_under_tell":
                # An fstat (an operation that reaches the file by the stack, not by _file)
                # cancelled while a tell() waits behind it: its restore of the stack must
                # not undo the lines handed out.
                stat = asyncio.create_task(f.stat())
                tell = asyncio.create_task(f.tell())
                await asyncio.sleep(0)
                stat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stat
                return await tell, await f.readline(), await f.read(10)
            if then == "close":
                await f.close()
                return await f.readline()
            if then == "newlines":
                return f.newlines, await f.readline()
            if then == "async_for":
                return [line async for line in f][:4]
            if then == "fileno_read":
                return os.read(f.fileno(), 5), await f.readline()
        except Exception as e:
            return type(e).__name__, str(e)

    held = None

    async def main():
        make()
        nonlocal held
        f = await aiofiles.open(path, "r+")
        held = f.buffer
        try:
            lines = [await f.readline() for _ in range(5)]
            assert f._ready, "the lines were not taken over: the test tests nothing"
            return lines + [await act(f)]
        finally:
            with contextlib.suppress(ValueError, AttributeError):  # (a detached buffer's)
                if not f.closed:
                    await f.close()

    assert asyncio.run(main()) == builtin()


@pytest.mark.parametrize("mode", ["rb", "r+b", "wb", "ab", "a+b", "r", "r+", "w+", "a"])
@pytest.mark.parametrize("buffering", [-1, 0, 1, 7])
def test_the_raw_layer_holds_nothing_mutable(tmp_path, mode, buffering):
    """After every kind of call, the raw layer's attributes hold no bytearray and no codec:
    the stack's snapshots copy none of its values (``_raw.Stack.freeze``)."""
    if buffering == 0 and "b" not in mode:
        pytest.skip("text needs a buffer")
    if buffering == 1 and "b" in mode:
        buffering = -1  # (line buffering is text's; binary warns)
    path = str(tmp_path / "f")
    with open(path, "wb") as g:
        g.write(b"some\nlines\nof text\n" * 50)

    async def main():
        seen = []
        async with aiofiles.open(path, mode, buffering=buffering) as f:
            raw = f._stack.raw
            data = b"xy\n" if "b" in mode else "xy\n"
            calls = [("write", (data,)), ("flush", ()), ("seek", (0,)), ("read", (5,)), ("readline", ()),
                     ("tell", ()), ("read", ()), ("truncate", (10,)), ("write", (data * 2000,))]
            for name, args in calls:
                try:
                    await getattr(f, name)(*args)
                except (OSError, ValueError):  # (io.UnsupportedOperation: the mode's)
                    pass
                seen += [(name, k) for k, v in raw.__dict__.items()
                         if type(v) is bytearray or k in ("_decoder", "_encoder")]
        return seen

    assert asyncio.run(main()) == []


@pytest.mark.parametrize("how", ["read", "read_n", "text", "readline"])
def test_fast_reads_of_pages_not_cached_read_through_the_library(how):
    """The loop thread's reads (read(), read(n) of whole buffers, a text read(), readline)
    of a file whose pages left the page cache (POSIX_FADV_DONTNEED, on a disk filesystem:
    tmpfs keeps them): RWF_NOWAIT refuses them, and the library's pool reads them; the
    bytes, tell() and the descriptor's offset are the built-in file's. Half the file is
    read first (cached), then the rest evicted, so the fast path meets both."""
    size = 1 << 20
    d = tempfile.mkdtemp(dir=os.path.join(HERE, "..", "..", "build"))
    path = os.path.join(d, "evicted")
    data = b"".join(b"line %07d of the evicted file\n" % i for i in range(size // 30))
    with open(path, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())

    def evict():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                os.preadv(fd, [bytearray(4096)], len(data) - 4096, os.RWF_NOWAIT)
                return False  # still cached (a filesystem that keeps its pages)
            except BlockingIOError:
                return True
        finally:
            os.close(fd)

    async def main():
        text = how in ("text", "readline")
        f = await aiofiles.open(path, "r" if text else "rb", **({"encoding": "ascii"} if text else {}))
        half = 8 * 65536 if not text else 8192  # (whole buffers: read(n)'s fast path)
        first = await f.read(half) if how != "readline" else "".join([await f.readline() for _ in range(300)])
        if not evict():
            await f.close()
            return None
        if how == "read_n":
            got, rest = [], True
            while rest:
                rest = await f.read(65536)
                got.append(rest)
            rest = b"".join(got)
        elif how == "readline":
            lines = []
            while True:
                line = await f.readline()
                if not line:
                    break
                lines.append(line)
            rest = "".join(lines)
        else:
            rest = await f.read()
        told = await f.tell()
        offset = os.lseek(f.fileno(), 0, os.SEEK_CUR)
        await f.close()
        whole = (first + rest).encode("ascii") if text else first + rest
        return whole, told, offset

    try:
        r = asyncio.run(main())
        if r is None:
            pytest.skip("the page cache kept the file's pages (POSIX_FADV_DONTNEED is advice)")
        whole, told, offset = r
        assert whole == data, (len(whole), len(data))
        assert told == len(data) and offset == len(data), (told, offset)
    finally:
        os.unlink(path)
        os.rmdir(d)
