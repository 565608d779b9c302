"""Asynchronous file calls (open, close, read, write, stat, ...) for asyncio, through libaopen.

    from aopen import aopen

    async with aopen("/mnt/slow/file", "w") as f:   # opened on a libaopen worker
        f.write("hello")                            # f is a normal Python file object
    # ...and closed on a worker too

The running loop watches libaopen's eventfd with ``loop.add_reader``: no executor threads,
one libaopen context per event loop. When libaopen's queue is full, ``aopen`` waits for room
instead of raising. Cancelling the task that awaits an open cancels the request, and no
descriptor is leaked whichever way the race with its completion goes.

``aopen.aiofiles`` is a drop-in for aiofiles (``import aopen.aiofiles as aiofiles``): its
``open`` gives files whose every call is a coroutine with the built-in file's exact results,
each read, write, fstat and close a libaopen request; ``aopen.aiofile`` is its ``open``, and
``aopen.os`` / ``aopen.ospath`` / ``aopen.tempfile`` are its ``os``, ``os.path`` and
``tempfile``. It runs under asyncio, uvloop and trio (directly or through anyio).

The library is loaded from ``$AOPEN_LIBRARY`` if set, else the one ``pip install ./python``
bundled in this package, else the installed ``libaopen.so.0``, else the build tree's
``target/release/libaopen.so``.
"""

import codecs  # noqa: F401
import functools
import os as _os  # as _os: the submodule aopen.os becomes this package's `os` attribute

from . import _abi, _loop
from ._loop import AopenError
from ._events import MountEvent, mount_events
from ._stats import blocked_mounts, stats

__all__ = ["aopen", "aiofile", "configure", "close", "stats", "blocked_mounts", "mount_events", "MountEvent",
           "AopenError"]

__version__ = _abi.VERSION


def _context():
    return _loop.current()


def configure(*, threads=0, max_threads=0, queue_depth=0, timeout_ms=0, per_mount_threads=0, fail_fast=False,
              blocked_ms=0, loop=None):
    """Creates the running loop's libaopen context with these options (0 = default).

    `fail_fast`: while a filesystem is marked blocked, new calls on it raise
    ``OSError(errno.EHOSTDOWN)`` at once instead of waiting behind its stuck calls
    (``AOPEN_OPT_FAIL_FAST``; closes still run). `blocked_ms`: how long a call sleeps in
    its syscall before its filesystem is marked blocked (0 = 200 ms; 10 to 600000, else
    ``OSError(errno.EINVAL)``), which ``mount_events()`` reports and `fail_fast` acts on.
    Call it before the loop's first ``aopen``; a loop's context cannot be reconfigured.
    Under trio, the context is the run's.
    """
    return _loop.configure(loop, threads=threads, max_threads=max_threads, queue_depth=queue_depth,
                           timeout_ms=timeout_ms, per_mount_threads=per_mount_threads, fail_fast=fail_fast,
                           blocked_ms=blocked_ms)


def close(loop=None):
    """Frees the loop's libaopen context now (it is otherwise freed with the loop).

    Pending ``aopen`` calls are cancelled; nothing they opened is leaked."""
    _loop.close(loop)


def _flags(mode):
    """open(2) flags for a Python open() mode string; ValueError for an invalid one."""
    if not isinstance(mode, str):
        raise ValueError(f"invalid mode: {mode!r}")
    return _flags_of(mode)


@functools.lru_cache(maxsize=64)
def _flags_of(mode):
    """_flags of a string. Cached: a program uses a handful of modes, and aopen() is on its
    hot path."""
    if set(mode) - set("rwxabt+") or len(set(mode)) != len(mode):
        raise ValueError(f"invalid mode: {mode!r}")
    kinds = [c for c in mode if c in "rwxa"]
    if len(kinds) != 1 or ("b" in mode and "t" in mode):
        raise ValueError(f"invalid mode: {mode!r}")
    base = {
        "r": _os.O_RDONLY,
        "w": _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC,
        "a": _os.O_WRONLY | _os.O_CREAT | _os.O_APPEND,
        "x": _os.O_WRONLY | _os.O_CREAT | _os.O_EXCL,
    }[kinds[0]]
    if "+" in mode:
        base = (base & ~_os.O_WRONLY) | _os.O_RDWR
    return base


class aopen:
    """``async with aopen(path, mode="r", ...) as f``: a normal file object, opened and closed
    asynchronously through libaopen. Arguments are those of the built-in ``open``."""

    def __init__(self, file, mode="r", buffering=-1, encoding=None, errors=None, newline=None):
        self._path = _loop.fspath(file)
        self._flags = _flags(mode) | _os.O_CLOEXEC
        self._args = (mode, buffering, encoding, errors, newline)
        self._file = None
        self._fd = -1
        self._ctx = None

    async def __aenter__(self):
        ctx = self._ctx = _context()
        fd, _ = await ctx.open_fd(self._path, self._flags, 0o666)
        try:
            # closefd=False: the descriptor is closed through libaopen in __aexit__.
            self._file = open(fd, *self._args, closefd=False)
        except BaseException:
            ctx.close_detached(fd)
            raise
        self._fd = fd
        return self._file

    async def __aexit__(self, exc_type, exc, tb):
        fd, self._fd = self._fd, -1
        try:
            self._file.close()  # flushes; leaves the descriptor open
        finally:
            # The context the file was opened through, unless it was closed meanwhile.
            ctx = self._ctx if self._ctx.ctx is not None else _context()
            await ctx.close_fd(fd)
        return False


def aiofile(file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True, opener=None):
    """``async with aiofile(path, mode="r", ...) as f`` (or ``f = await aiofile(...)``): the
    drop-in's file (``aopen.aiofiles.open``), every call a coroutine with the built-in file's
    results; ``fsync()`` and ``stat()`` besides."""
    from ._open import open as _open

    return _open(file, mode, buffering, encoding, errors, newline, closefd, opener)
