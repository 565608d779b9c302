"""``open()``: the built-in ``open``'s arguments, checks and choice of io classes, with the
open, fstat and every later call made through libaopen; ``wrap()`` and the stdio files.
"""

import asyncio
import builtins
import errno
import io
import os
import stat as _stat
import sys
import warnings
from collections.abc import Awaitable
from contextlib import AbstractAsyncContextManager
from functools import singledispatch

import _pyio

from . import _loop
from ._binary import (AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO, AsyncIndirectBufferedIOBase,
                      BufferedRandom, BufferedReader, BufferedWriter)
from ._abi import STATX_BRIEF, lib
from ._loop import _FSENC, _FSERR, _open_nowait_statx, oserror
from ._raw import Raw, Stack, fstat
from ._text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper, TextIOWrapper


class ContextManager(Awaitable, AbstractAsyncContextManager):
    """What ``open`` returns, as aiofiles': ``f = await open(...)`` or
    ``async with open(...) as f`` (which closes it)."""

    __slots__ = ("_coro", "_obj")

    def __init__(self, coro):
        self._coro = coro
        self._obj = None

    def __await__(self):
        if self._obj is None:
            self._obj = yield from self._coro.__await__()
        return self._obj

    async def __aenter__(self):
        return await self

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        try:
            await self._obj.close()
        finally:
            self._obj = None


class _OpenContextManager(ContextManager):
    """What ``open`` returns: its arguments, opened when awaited or entered, on the loop
    thread without suspending where ``_open_here`` can (no coroutine is made for that), else
    by ``_open``; and closed on exit the same way (``_close_here``), else by ``close()``."""

    __slots__ = ("_args",)

    def __init__(self, args):
        self._args = args
        self._coro = self._obj = None

    def __await__(self):
        if self._obj is None:
            f = _open_here(*self._args)
            if f is None or f is _TRIED:
                f = yield from _open(*self._args, nowait=f is None).__await__()
            self._obj = f
        return self._obj

    async def __aenter__(self):
        if self._obj is None:
            f = _open_here(*self._args)
            self._obj = f if f is not None and f is not _TRIED else await _open(*self._args, nowait=f is None)
        return self._obj

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        obj, self._obj = self._obj, None
        if not obj._close_here():
            await obj.close()


def open(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
         opener=None, *, loop=None, executor=None):
    """The built-in ``open``, asynchronous: every argument means what it means there. `loop`
    and `executor` are accepted for aiofiles' signature and ignored (the running loop's
    libaopen context does the work).

    The seam aiofiles' tests patch: while ``aopen.aiofiles.threadpool.sync_open`` is not the
    built-in ``open`` (``mock.patch("aiofiles.threadpool.sync_open", ...)``), the file is
    ``sync_open(file, mode=..., ...)``, called on libaopen's pool, given to ``wrap()``."""
    tp = sys.modules.get("aopen.aiofiles.threadpool")
    if tp is not None and tp.sync_open is not _builtin_open:
        return ContextManager(_open_through(tp, file, mode, buffering, encoding, errors, newline, closefd, opener,
                                            loop, executor))
    return _OpenContextManager((file, mode, buffering, encoding, errors, newline, closefd, opener))


_builtin_open = builtins.open


async def _open_through(tp, file, mode, buffering, encoding, errors, newline, closefd, opener, loop, executor):
    """aiofiles' own open: the patched ``sync_open`` off the loop, then ``wrap()``."""
    sync_open = tp.sync_open
    f = await _loop.current().run_blocking(
        lambda: sync_open(file, mode=mode, buffering=buffering, encoding=encoding, errors=errors,
                          newline=newline, closefd=closefd, opener=opener),
        path=file if isinstance(file, (str, bytes, os.PathLike)) else None)
    return tp.wrap(f, loop=loop, executor=executor)


def _flags(mode):
    """FileIO's open(2) flags for a raw mode ("r", "w+", ...): O_CLOEXEC as the built-in."""
    if "x" in mode:
        flags = os.O_EXCL | os.O_CREAT
    elif "r" in mode:
        flags = 0
    elif "w" in mode:
        flags = os.O_CREAT | os.O_TRUNC
    else:
        flags = os.O_APPEND | os.O_CREAT
    if "+" in mode:
        flags |= os.O_RDWR
    elif "r" in mode:
        flags |= os.O_RDONLY
    else:
        flags |= os.O_WRONLY
    return flags | os.O_CLOEXEC


def _check_args(file, mode, buffering, encoding, errors, newline):
    """The built-in open's argument checks, in its order and with its messages."""
    if not isinstance(file, int):
        file = os.fspath(file)
    if not isinstance(file, (str, bytes, int)):
        raise TypeError("invalid file: %r" % file)
    if not isinstance(mode, str):
        raise TypeError("open() argument 'mode' must be str, not %s" % type(mode).__name__)
    if not isinstance(buffering, int):
        raise TypeError("'%s' object cannot be interpreted as an integer" % type(buffering).__name__)
    if encoding is not None and not isinstance(encoding, str):
        raise TypeError("open() argument 'encoding' must be str or None, not %s" % type(encoding).__name__)
    if errors is not None and not isinstance(errors, str):
        raise TypeError("open() argument 'errors' must be str or None, not %s" % type(errors).__name__)
    modes = set(mode)
    if modes - set("axrwb+t") or len(mode) > len(modes):
        raise ValueError("invalid mode: '%s'" % mode)
    creating, reading, writing, appending = "x" in modes, "r" in modes, "w" in modes, "a" in modes
    text, binary = "t" in modes, "b" in modes
    if text and binary:
        raise ValueError("can't have text and binary mode at once")
    if creating + reading + writing + appending > 1:
        raise ValueError("must have exactly one of create/read/write/append mode")
    if not (creating or reading or writing or appending):
        raise ValueError("Must have exactly one of create/read/write/append mode and at most one plus")
    if binary and encoding is not None:
        raise ValueError("binary mode doesn't take an encoding argument")
    if binary and errors is not None:
        raise ValueError("binary mode doesn't take an errors argument")
    if binary and newline is not None:
        raise ValueError("binary mode doesn't take a newline argument")
    if newline is not None and not isinstance(newline, str):
        raise TypeError("open() argument 'newline' must be str or None, not %s" % type(newline).__name__)
    if newline not in (None, "", "\n", "\r", "\r\n"):
        raise ValueError("illegal newline value: %s" % newline)
    if binary and buffering == 1:
        warnings.warn("line buffering (buffering=1) isn't supported in binary mode, the default "
                      "buffer size will be used", RuntimeWarning, 4)
    if buffering == 0 and not binary:
        raise ValueError("can't have unbuffered text I/O")
    if encoding is not None:
        import codecs

        codecs.lookup(encoding)  # LookupError before anything is opened, as the built-in
    raw_mode = ("x" if creating else "") + ("r" if reading else "") + ("w" if writing else "") + \
        ("a" if appending else "") + ("+" if "+" in modes else "")
    return file, raw_mode, binary


# (mode, buffering, encoding, errors, newline) -> (raw_mode, binary, flags) for calls whose
# checks passed, with a str or bytes path (the checks depend on nothing else; each of the
# three is None or a str; buffering 1, which warns in binary mode, is never kept).
_checked = {}


def _checked_key(mode, buffering, encoding, errors, newline):
    """The key of ``_checked`` for these arguments, or None where they are not kept (types
    the checks would turn down, or that could not be a key)."""
    if type(mode) is not str or type(buffering) is not int:
        return None
    for a in (encoding, errors, newline):
        if a is not None and type(a) is not str:
            return None
    return mode, buffering, encoding, errors, newline


_TRIED = object()  # _open_here's answer for an open it tried, that must wait: a request


def _open_here(file, mode, buffering, encoding, errors, newline, closefd, opener):
    """The common case, opened on the loop thread without suspending: arguments seen before
    (their checks passed), a str path, a cached local file (aopen_open_nowait_statx, which
    also gives what an fstat would). The file, or _TRIED (the open must be a request), or None (not
    tried: ``_open`` does everything)."""
    if opener is not None or closefd is not True or type(file) is not str:
        return None
    known = _checked.get(_checked_key(mode, buffering, encoding, errors, newline))
    if known is None or "\0" in file:
        return None
    ctx = _loop.current()
    if ctx.ctx is None or _open_nowait_statx is None:  # (a library from before it)
        return None
    raw_mode, binary, flags = known
    fd = _open_nowait_statx(ctx.ctx, file.encode(_FSENC, _FSERR), flags, 0o666, ctx.statx_ref)
    if fd < 0:
        if fd != -errno.EAGAIN:
            raise oserror(-fd, file)
        return _TRIED
    # The library's look at the descriptor it opened: its fstat, without a second syscall.
    blksize, st_mode, size = STATX_BRIEF(ctx.statx)
    return _opened(ctx, fd, st_mode, size, blksize, True, file, raw_mode, closefd, mode, buffering, encoding,
                   errors, newline, binary, local=True)


async def _open(file, mode, buffering, encoding, errors, newline, closefd, opener, nowait=True):
    """The built-in open's work, each system call through libaopen (`nowait`: try the open
    on the loop thread first)."""
    key = _checked_key(mode, buffering, encoding, errors, newline)
    known = _checked.get(key) if key is not None and type(file) is str else None
    if known is not None:
        raw_mode, binary, flags = known
    else:
        file, raw_mode, binary = _check_args(file, mode, buffering, encoding, errors, newline)
        flags = _flags(raw_mode)
        if key is not None and buffering != 1 and len(_checked) < 64:
            _checked[key] = (raw_mode, binary, flags)
    ctx = _loop.current()
    owned = False
    fast = False
    if isinstance(file, int):
        if isinstance(file, bool):
            warnings.warn("bool is used as a file descriptor", RuntimeWarning, 3)
        fd = file
        if fd < 0:
            raise ValueError("negative file descriptor")
    else:
        if not closefd:
            raise ValueError("Cannot use closefd=False with file name")
        if opener is None:
            fd, fast = await ctx.open_fd(_loop.fspath(file), flags, 0o666, nowait)
        else:
            fd = await ctx.run_blocking(lambda: opener(file, flags), path=file)
            if not isinstance(fd, int):
                raise TypeError("expected integer from opener")
            if fd < 0:
                raise ValueError("opener returned %d" % fd)
        owned = True
    try:
        # The library judged a fast-path open local and cached: its fstat never waits.
        st = os.fstat(fd) if fast else await fstat(ctx, fd)
    except BaseException:
        if owned:
            ctx.close_detached(fd)
        raise
    return _opened(ctx, fd, st.st_mode, st.st_size, st.st_blksize, owned, file, raw_mode, closefd, mode, buffering,
                   encoding, errors, newline, binary, local=fast)


def _opened(ctx, fd, st_mode, size, blksize, owned, file, raw_mode, closefd, mode, buffering, encoding, errors,
            newline, binary, local=False):
    """The file over `fd`, whose fstat gave `st_mode`, `size` and `blksize`: what FileIO
    checks and sets at open, then the io classes. An fd we opened (`owned`) is closed on a
    worker if that fails. `local`: the library's fast path opened it (a regular file or a
    directory on a local filesystem, with the open's flags: see ``_raw._pread_nowait``)."""
    try:
        fmt = _stat.S_IFMT(st_mode)
        if fmt == _stat.S_IFDIR:
            raise IsADirectoryError(21, os.strerror(21), file)
        seekable, tty, pos = True, False, 0
        if fmt != _stat.S_IFREG and fmt != _stat.S_IFBLK:
            # Pipes, sockets, character devices: lseek(SEEK_CUR) and isatty ask the kernel
            # (the driver), never a filesystem.
            try:
                os.lseek(fd, 0, os.SEEK_CUR)
            except OSError:
                seekable = False
            tty = fmt == _stat.S_IFCHR and os.isatty(fd)
        if seekable:
            if "a" in raw_mode:
                # The built-in seeks an appending file to its end, the descriptor's position
                # included (SEEK_SET: never reaches the filesystem, unlike SEEK_END on FUSE).
                pos = size
                os.lseek(fd, pos, os.SEEK_SET)
            elif not owned:
                pos = os.lseek(fd, 0, os.SEEK_CUR)
        raw = Raw(ctx, fd, file, raw_mode, closefd, blksize, pos, seekable, tty)
        raw._local = local and owned and fmt == _stat.S_IFREG
        return _build(raw, mode, buffering, encoding, errors, newline, binary)
    except BaseException:
        if owned:
            ctx.close_detached(fd)
        raise


def _build(raw, mode, buffering, encoding, errors, newline, binary):
    """The io classes the built-in open picks for these arguments, over `raw`."""
    line_buffering = False
    if buffering == 1 or buffering < 0 and raw._tty:
        buffering = -1
        line_buffering = True
    if buffering < 0:
        buffering = raw._blksize
    if buffering == 0:
        return AsyncFileIO.native(raw, Stack(raw))
    if binary:
        # The buffer is made on first use (AsyncBase.lazy); the checks its constructor makes
        # on the raw file cannot fail here.
        if "+" in mode:
            return AsyncBufferedReader.lazy(raw, lambda r: BufferedRandom(r, buffering))
        if "w" in mode or "a" in mode or "x" in mode:
            return AsyncBufferedIOBase.lazy(raw, lambda r: BufferedWriter(r, buffering))
        f = AsyncBufferedReader.lazy(raw, lambda r: BufferedReader(r, buffering))
        f._fast_size = buffering
        return f
    if "+" in mode:
        buffer = BufferedRandom(raw, buffering)
    elif "w" in mode or "a" in mode or "x" in mode:
        buffer = BufferedWriter(raw, buffering)
    else:
        buffer = BufferedReader(raw, buffering)
    encoding = _pyio.text_encoding(encoding)
    text = TextIOWrapper(buffer, encoding, errors, newline, line_buffering)
    text.mode = mode
    return AsyncTextIOWrapper.native(text, Stack(raw, buffer, text))


# --- wrap(): a synchronous file object, each call on the library's pool -----------------


@singledispatch
def wrap(file, *, loop=None, executor=None):
    """An async file object around a synchronous one (aiofiles' ``threadpool.wrap``): each
    of its methods runs on libaopen's pool."""
    raise TypeError(f"Unsupported io type: {file}.")


@wrap.register(io.TextIOBase)
def _(file, *, loop=None, executor=None):
    return AsyncTextIOWrapper(file, loop=loop, executor=executor)


@wrap.register(io.BufferedWriter)
@wrap.register(io.BufferedIOBase)
def _(file, *, loop=None, executor=None):
    return AsyncBufferedIOBase(file, loop=loop, executor=executor)


@wrap.register(io.BufferedReader)
@wrap.register(io.BufferedRandom)
def _(file, *, loop=None, executor=None):
    return AsyncBufferedReader(file, loop=loop, executor=executor)


@wrap.register(io.FileIO)
def _(file, *, loop=None, executor=None):
    return AsyncFileIO(file, loop=loop, executor=executor)


stdin = AsyncTextIndirectIOWrapper("sys.stdin", None, None, indirect=lambda: sys.stdin)
stdout = AsyncTextIndirectIOWrapper("sys.stdout", None, None, indirect=lambda: sys.stdout)
stderr = AsyncTextIndirectIOWrapper("sys.stderr", None, None, indirect=lambda: sys.stderr)
stdin_bytes = AsyncIndirectBufferedIOBase("sys.stdin.buffer", None, None, indirect=lambda: sys.stdin.buffer)
stdout_bytes = AsyncIndirectBufferedIOBase("sys.stdout.buffer", None, None, indirect=lambda: sys.stdout.buffer)
stderr_bytes = AsyncIndirectBufferedIOBase("sys.stderr.buffer", None, None, indirect=lambda: sys.stderr.buffer)
