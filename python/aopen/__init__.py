"""Asynchronous file calls (open, close, read, write, stat, ...) for asyncio, through libaopen.

    from aopen import aopen

    async with aopen("/mnt/slow/file", "w") as f:   # opened on a libaopen worker
        f.write("hello")                            # f is a normal Python file object
    # ...and closed on a worker too

The running loop watches libaopen's eventfd with ``loop.add_reader``: no executor threads,
one libaopen context per event loop. When libaopen's queue is full, ``aopen`` waits for room
instead of raising. Cancelling the task that awaits an open cancels the request, and no
descriptor is leaked whichever way the race with its completion goes.

``aopen.aiofile(path, mode)`` yields a file whose reads and writes are libaopen requests too,
and ``aopen.os`` has the file-system calls of ``aiofiles.os`` (stat, unlink, mkdir, rename,
...), each one libaopen request.

The library is loaded from ``$AOPEN_LIBRARY`` if set, else the one ``pip install ./python``
bundled in this package, else the installed ``libaopen.so.0``, else the build tree's
``target/release/libaopen.so``.
"""

import asyncio
import codecs
import ctypes
import errno
import functools
import io
import locale
import re
import os as _os  # as _os: the submodule aopen.os becomes this package's `os` attribute
import weakref
from pathlib import Path

__all__ = ["aopen", "aiofile", "configure", "close", "stats", "blocked_mounts", "AopenError"]

_OP_OPEN = 1
_OP_CLOSE = 2
_REAP_BATCH = 64


class _Options(ctypes.Structure):
    _fields_ = [
        ("threads", ctypes.c_uint32),
        ("max_threads", ctypes.c_uint32),
        ("queue_depth", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("eventfd", ctypes.c_int32),
        ("per_mount_threads", ctypes.c_uint32),
        ("buffer_budget_kib", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 4),
    ]


_HIST_BUCKETS = 32
_STATS_COUNTERS = ["submitted", "delivered", "cancelled", "timed_out"]
_STATS_GAUGES = [
    "queued", "queued_over_share", "running", "threads", "idle_threads", "abandoned_threads",
    "peak_threads", "mounts", "per_mount_threads", "process_abandoned_threads",
    "process_abandoned_cap", "blocked_running",
]


class _Stats(ctypes.Structure):
    _fields_ = (
        [(n, ctypes.c_uint64) for n in _STATS_COUNTERS]
        + [(n, ctypes.c_uint32) for n in _STATS_GAUGES]
        + [
            ("queue_wait_us", ctypes.c_uint64 * _HIST_BUCKETS),
            ("service_us", ctypes.c_uint64 * _HIST_BUCKETS),
            ("owed_closes", ctypes.c_uint64),
            ("inline_completions", ctypes.c_uint64),
            ("buffer_bytes", ctypes.c_uint64),
            ("abandoned_buffer_bytes", ctypes.c_uint64),
            ("reserved", ctypes.c_uint64 * 4),
        ]
    )


class _MountStats(ctypes.Structure):
    _fields_ = [
        ("mount_point", ctypes.c_char_p),
        ("fstype", ctypes.c_char_p),
        ("mount_id", ctypes.c_uint64),
        ("oldest_ms", ctypes.c_uint64),
        ("queued", ctypes.c_uint32),
        ("running", ctypes.c_uint32),
        ("abandoned", ctypes.c_uint32),
        ("blocked", ctypes.c_uint32),
    ]


_MOUNT_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(_MountStats), ctypes.c_void_p)


class _Completion(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("user_data", ctypes.c_void_p),
        ("result", ctypes.c_int32),
        ("op", ctypes.c_uint32),
    ]


class AopenError(OSError):
    """libaopen refused a call (the errno is in ``.errno``)."""


def _load():
    candidates = []
    if _os.environ.get("AOPEN_LIBRARY"):
        candidates.append(_os.environ["AOPEN_LIBRARY"])
    # The library `pip install` bundled (aopen/_libaopen.<abi>.so), then a system one.
    candidates.extend(sorted(str(p) for p in Path(__file__).resolve().parent.glob("_libaopen*.so")))
    candidates.append("libaopen.so.0")
    candidates.append(str(Path(__file__).resolve().parents[2] / "target" / "release" / "libaopen.so"))
    errors = []
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as e:
            errors.append(f"{name}: {e}")
    else:
        raise ImportError("cannot load libaopen; tried " + "; ".join(errors))
    ctx_p = ctypes.c_void_p
    lib.aopen_ctx_new.argtypes = [ctypes.POINTER(_Options), ctypes.POINTER(ctx_p)]
    lib.aopen_ctx_new.restype = ctypes.c_int
    lib.aopen_ctx_free.argtypes = [ctx_p]
    lib.aopen_ctx_free.restype = None
    lib.aopen_ctx_fd.argtypes = [ctx_p]
    lib.aopen_ctx_fd.restype = ctypes.c_int
    lib.aopen_submit.argtypes = [ctx_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p, ctypes.c_void_p]
    lib.aopen_submit.restype = ctypes.c_int64
    lib.aclose_submit.argtypes = [ctx_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
    lib.aclose_submit.restype = ctypes.c_int64
    lib.aopen_open_nowait.argtypes = [ctx_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
    lib.aopen_open_nowait.restype = ctypes.c_int
    lib.aopen_read_nowait.argtypes = [ctx_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64]
    lib.aopen_read_nowait.restype = ctypes.c_int
    lib.aopen_close_nowait.argtypes = [ctx_p, ctypes.c_int]
    lib.aopen_close_nowait.restype = ctypes.c_int
    lib.aclose_detach.argtypes = [ctx_p, ctypes.c_int]
    lib.aclose_detach.restype = ctypes.c_int
    lib.aopen_reap.argtypes = [ctx_p, ctypes.POINTER(_Completion), ctypes.c_uint]
    lib.aopen_reap.restype = ctypes.c_int
    lib.aopen_cancel.argtypes = [ctx_p, ctypes.c_uint64]
    lib.aopen_cancel.restype = ctypes.c_int
    lib.aopen_stats.argtypes = [ctx_p, ctypes.POINTER(_Stats)]
    lib.aopen_stats.restype = ctypes.c_int
    lib.aopen_stats_mounts.argtypes = [ctx_p, ctypes.c_uint32, _MOUNT_CB, ctypes.c_void_p]
    lib.aopen_stats_mounts.restype = ctypes.c_int
    for name, args in [
        ("aopen_unlink_submit", [ctypes.c_char_p, ctypes.c_int]),
        ("aopen_mkdir_submit", [ctypes.c_char_p, ctypes.c_uint32]),
        ("aopen_rename_submit", [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]),
        ("aopen_stat_submit", [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]),
        ("aopen_fstat_submit", [ctypes.c_int, ctypes.c_uint, ctypes.c_void_p]),
        ("aopen_read_submit", [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64]),
        ("aopen_write_submit", [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int64]),
        ("aopen_fsync_submit", [ctypes.c_int, ctypes.c_uint]),
        ("aopen_ftruncate_submit", [ctypes.c_int, ctypes.c_int64]),
        ("aopen_getdents_submit", [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]),
    ]:
        fn = getattr(lib, name)
        fn.argtypes = [ctx_p] + args + [ctypes.c_void_p, ctypes.c_void_p]
        fn.restype = ctypes.c_int64
    lib.aopen_version.argtypes = []
    lib.aopen_version.restype = ctypes.c_char_p
    return lib


_lib = _load()
__version__ = _lib.aopen_version().decode()


def _check(rc, what):
    if rc < 0:
        raise AopenError(-rc, f"{what}: {_os.strerror(-rc)}")
    return rc


class _LoopContext:
    """One libaopen context serving one event loop."""

    def __init__(self, loop, options):
        # No reference to the loop is kept: this object is the loop's value in a
        # WeakKeyDictionary, and the loop's finalizer frees the context.
        ctx = ctypes.c_void_p()
        _check(_lib.aopen_ctx_new(ctypes.byref(options), ctypes.byref(ctx)), "aopen_ctx_new")
        self.ctx = ctx
        self.fd = _lib.aopen_ctx_fd(ctx)
        self.waiting = {}  # request id -> future for its completion; absent: nobody awaits it
        # request id -> memory libaopen writes when it delivers that completion (a stat's
        # buffer): kept alive until then, even if its awaiter was cancelled.
        self.kept = {}
        # Submitters waiting for room in a full queue. Plain futures, dropped once resolved:
        # an asyncio.Event would bind itself to the loop and keep it (and us) alive.
        self.room_waiters = []
        self.buf = (_Completion * _REAP_BATCH)()
        loop.add_reader(self.fd, self._on_readable)
        # Freed by close(), or when the loop is garbage-collected; a worker still stuck in a
        # syscall then cleans up after itself.
        self._finalizer = weakref.finalize(loop, _lib.aopen_ctx_free, ctx)

    def close(self, loop):
        loop.remove_reader(self.fd)
        self._finalizer()  # aopen_ctx_free: closes every undelivered descriptor
        self.ctx = None  # from here on nothing may call into the freed context
        waiting, self.waiting = self.waiting, {}
        self.kept = {}  # aopen_ctx_free delivers nothing more, so writes nothing more
        for fut in list(waiting.values()) + self.room_waiters:
            fut.cancel()
        self.room_waiters = []

    def _on_readable(self):
        while True:
            n = _lib.aopen_reap(self.ctx, self.buf, _REAP_BATCH)
            if n <= 0:
                break
            for c in self.buf[:n]:
                self._deliver(c.id, c.op, c.result)
            waiters, self.room_waiters = self.room_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _deliver(self, rid, op, result):
        self.kept.pop(rid, None)  # aopen_reap has copied into it already
        fut = self.waiting.pop(rid, None)
        if fut is None or fut.done():
            if op == _OP_OPEN and result >= 0:
                self.close_detached(result)  # nobody will receive it
            return
        fut.set_result(result)

    def close_detached(self, fd):
        """Closes `fd` on a libaopen worker, never on the loop thread: close(2) can hang in
        the filesystem's flush (NFS, FUSE) for as long as its server is gone."""
        if self.ctx is not None and _lib.aclose_detach(self.ctx, fd) == 0:
            return
        _os.close(fd)  # only once the context is gone, when no worker is left to do it

    async def _submit(self, call):
        """Submits, waiting for room while libaopen's queue is full (back pressure)."""
        while True:
            if self.ctx is None:
                raise AopenError(errno.ESHUTDOWN, "the loop's libaopen context was closed")
            rid = call()
            if rid != -errno.EAGAIN:
                return _check(rid, "submit")
            room = asyncio.get_running_loop().create_future()
            self.room_waiters.append(room)
            await room

    async def open_fd(self, path, flags, mode):
        # The fast path first: a cached open on a local filesystem completes right here and
        # never suspends; anything that could wait goes to the pool.
        if self.ctx is not None:
            fd = _lib.aopen_open_nowait(self.ctx, path, flags, mode)
            if fd >= 0:
                return fd
            if fd != -errno.EAGAIN:
                raise OSError(-fd, _os.strerror(-fd), _os.fsdecode(path))
        rid = await self._submit(lambda: _lib.aopen_submit(self.ctx, path, flags, mode, None, None))
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        try:
            result = await fut
        except asyncio.CancelledError:
            self._abandon(rid, fut)
            raise
        if result < 0:
            raise OSError(-result, _os.strerror(-result), _os.fsdecode(path))
        return result

    async def call(self, submit, path=None, keep=None):
        """Submits a call that opens nothing (`submit()` returns its id) and returns its
        result; raises OSError for -errno. `keep` is memory libaopen writes on delivery."""
        rid = await self._submit(submit)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        if keep is not None:
            self.kept[rid] = keep
        try:
            result = await fut
        except asyncio.CancelledError:
            self._abandon(rid, fut, opens=False)  # `keep` lives until the delivery
            raise
        if result < 0:
            raise OSError(-result, _os.strerror(-result), *([_os.fsdecode(path)] if path is not None else []))
        return result

    def _abandon(self, rid, fut, opens=True):
        """The awaiter of request `rid` was cancelled: cancels the request, or, if it was
        delivered already (`fut` has its result), closes the descriptor an open returned."""
        if fut.done() and not fut.cancelled():
            # Completed, but the task was cancelled before it resumed: hand the fd back.
            if opens and fut.result() >= 0:
                self.close_detached(fut.result())
            return
        self.waiting.pop(rid, None)
        if self.ctx is None:
            return  # closed: aopen_ctx_free already took care of the request
        # 0: delivered later as -ECANCELED (libaopen closes a late fd). Otherwise it is
        # already queued for delivery; either way _deliver finds no awaiter and closes any fd.
        _lib.aopen_cancel(self.ctx, rid)

    async def close_fd(self, fd):
        if self.ctx is not None:
            rc = _lib.aopen_close_nowait(self.ctx, fd)
            if rc != -errno.EAGAIN:  # closed here (a local file), or the close's own error
                if rc < 0:
                    raise OSError(-rc, _os.strerror(-rc))
                return
        rid = await self._submit(lambda: _lib.aclose_submit(self.ctx, fd, None, None))
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        # The close goes ahead even if this task is cancelled: the fd is no longer ours.
        result = await asyncio.shield(fut)
        if result < 0:
            raise OSError(-result, _os.strerror(-result))


_contexts = weakref.WeakKeyDictionary()


def configure(*, threads=0, max_threads=0, queue_depth=0, timeout_ms=0, per_mount_threads=0, loop=None):
    """Creates the running loop's libaopen context with these options (0 = default).

    Call it before the loop's first ``aopen``; a loop's context cannot be reconfigured.
    """
    loop = loop or asyncio.get_running_loop()
    if loop in _contexts:
        raise RuntimeError("this loop already has a libaopen context")
    o = _Options(
        threads=threads,
        max_threads=max_threads,
        queue_depth=queue_depth,
        timeout_ms=timeout_ms,
        per_mount_threads=per_mount_threads,
    )
    _contexts[loop] = ctx = _LoopContext(loop, o)
    return ctx


def close(loop=None):
    """Frees the loop's libaopen context now (it is otherwise freed with the loop).

    Pending ``aopen`` calls are cancelled; nothing they opened is leaked."""
    loop = loop or asyncio.get_running_loop()
    ctx = _contexts.pop(loop, None)
    if ctx is not None:
        ctx.close(loop)


def stats(loop=None):
    """The loop's context's ``aopen_stats`` as a dict: counters, gauges, and the two
    histograms (``queue_wait_us``, ``service_us``) as lists of log2-microsecond buckets."""
    ctx = _context_of(loop)
    s = _Stats()
    _check(_lib.aopen_stats(ctx.ctx, ctypes.byref(s)), "aopen_stats")
    out = {n: getattr(s, n) for n in _STATS_COUNTERS + _STATS_GAUGES + ["owed_closes", "inline_completions", "buffer_bytes", "abandoned_buffer_bytes"]}
    out["queue_wait_us"] = list(s.queue_wait_us)
    out["service_us"] = list(s.service_us)
    return out


def blocked_mounts(min_blocked_ms=1000, loop=None):
    """The mounts with requests queued or in a syscall for at least ``min_blocked_ms``,
    oldest first, as dicts (``aopen_stats_mounts``)."""
    ctx = _context_of(loop)
    found = []

    def one(m, _user):
        m = m.contents
        found.append({
            "mount_point": (m.mount_point or b"").decode(errors="replace"),
            "fstype": (m.fstype or b"").decode(errors="replace"),
            "mount_id": m.mount_id,
            "oldest_ms": m.oldest_ms,
            "queued": m.queued,
            "running": m.running,
            "abandoned": m.abandoned,
            "blocked": m.blocked,
        })

    _check(_lib.aopen_stats_mounts(ctx.ctx, min_blocked_ms, _MOUNT_CB(one), None), "aopen_stats_mounts")
    return found


def _context_of(loop):
    loop = loop or asyncio.get_running_loop()
    ctx = _contexts.get(loop)
    return ctx if ctx is not None else configure(loop=loop)


def _context():
    loop = asyncio.get_running_loop()
    ctx = _contexts.get(loop)
    return ctx if ctx is not None else configure(loop=loop)


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
        self._path = _os.fsencode(file)
        self._flags = _flags(mode)
        self._args = (mode, buffering, encoding, errors, newline)
        self._file = None
        self._fd = -1
        self._ctx = None

    async def __aenter__(self):
        ctx = self._ctx = _context()
        fd = await ctx.open_fd(self._path, self._flags, 0o666)
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


_LINE_END = re.compile("\r\n|\r|\n")


class aiofile:
    """``async with aiofile(path, mode="r", ...) as f``: a file whose I/O goes through libaopen.

    ``await f.read(n)``, ``readline``, ``async for line in f``, ``await f.write(data)``,
    ``writelines``, ``flush``, ``fsync``, ``truncate``, ``stat`` and ``close``: each read,
    write, fsync, truncate and stat is a libaopen request, so none blocks the loop, and
    cancelling the awaiting task cancels it. Text and binary modes behave as ``open()``'s, with
    ``encoding``, ``errors`` and ``newline`` (``newline`` None or "" on reads: universal
    newlines, translated or not; writes write "\n" as given). ``seek`` and ``tell`` do no
    I/O, so ``seek`` takes whence 0 or 1 only; in text mode they count bytes and are exact
    only where nothing is read ahead (at the start, or after a write or seek). Data the page
    cache holds for a local file is read on the loop thread (``aopen_read_nowait``) without
    suspending, yielding to the loop after each MiB.
    """

    _CHUNK = 64 * 1024
    _YIELD_EVERY = 1 << 20  # bytes read without suspending before yielding to the loop

    def __init__(self, file, mode="r", buffering=-1, encoding=None, errors=None, newline=None):
        self._path = _os.fsencode(file)
        self._flags = _flags(mode)
        self._binary = "b" in mode
        self._append = "a" in mode
        self._readable = "r" in mode or "+" in mode
        self._writable = not ("r" in mode and "+" not in mode)
        if self._binary and (encoding or errors or newline is not None):
            raise ValueError("binary mode takes no encoding, errors or newline")
        self._encoding = encoding or locale.getpreferredencoding(False)
        self._errors = errors or "strict"
        self._newline = newline
        self.closed = True
        self._fd = -1

    async def __aenter__(self):
        self._ctx = _context()
        self._fd = await self._ctx.open_fd(self._path, self._flags, 0o666)
        self.closed = False
        self._pos = 0  # file offset of the next byte read or written (ahead of any buffer)
        self._rbuf = b"" if self._binary else ""  # read ahead, not yet returned
        self._eof = False
        self._unyielded = 0
        self._stream = False  # not seekable (pread says ESPIPE): I/O at the file position
        if not self._binary:
            dec = codecs.getincrementaldecoder(self._encoding)(self._errors)
            if self._newline is None or self._newline == "":
                dec = io.IncrementalNewlineDecoder(dec, translate=self._newline is None)
            self._decoder = dec
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close()
        return False

    def _check_open(self):
        if self.closed:
            raise ValueError("I/O operation on closed file")

    async def _pread(self, n):
        """Up to n bytes at the file position: from the page cache on the loop thread where
        the kernel can without waiting (``aopen_read_nowait``, a local file), else a libaopen
        read into library memory, copied into this buffer on delivery."""
        buf = ctypes.create_string_buffer(n)
        ctx, fd, off = self._ctx, self._fd, -1 if self._stream else self._pos
        got = _lib.aopen_read_nowait(ctx.ctx, fd, buf, n, off) if ctx.ctx is not None else -errno.EAGAIN
        if got >= 0:
            # Served without suspending, like a buffered stream's read; yield to the loop now
            # and then, so that reading a large cached file never starves its other tasks.
            self._unyielded += got
            if self._unyielded >= self._YIELD_EVERY:
                self._unyielded = 0
                await asyncio.sleep(0)
        elif got == -errno.EAGAIN:
            submit = lambda: _lib.aopen_read_submit(ctx.ctx, fd, buf, n, off, None, None)
            try:
                got = await ctx.call(submit, self._path, keep=buf)
            except OSError as e:
                if e.errno != errno.ESPIPE or self._stream:
                    raise
                self._stream = True  # a FIFO or device: read and write at its own position
                return await self._pread(n)
        else:
            raise OSError(-got, _os.strerror(-got), _os.fsdecode(self._path))
        if got > n:  # never trust a count past the buffer: it would move the position too
            raise OSError(errno.EIO, f"libaopen reported {got} bytes read for a read of {n}", _os.fsdecode(self._path))
        self._pos += got
        return buf.raw[:got]

    async def _fill(self):
        """Reads one more chunk into the read-ahead; False at end of file."""
        data = await self._pread(self._CHUNK)
        if self._binary:
            self._rbuf += data
        else:
            self._rbuf += self._decoder.decode(data, final=not data)
        if not data:
            self._eof = True
        return bool(data)

    async def read(self, n=-1):
        self._check_open()
        if not self._readable:
            raise io.UnsupportedOperation("not readable")
        while (n is None or n < 0 or len(self._rbuf) < n) and not self._eof:
            await self._fill()
        if n is None or n < 0:
            out, self._rbuf = self._rbuf, self._rbuf[:0]
        else:
            out, self._rbuf = self._rbuf[:n], self._rbuf[n:]
        return out

    def _line_end(self):
        """Where the first line in the read-ahead ends, or -1 if that needs more data."""
        buf = self._rbuf
        if self._binary or self._newline is None:  # None: "\r" and "\r\n" were translated
            i = buf.find(b"\n" if self._binary else "\n")
            return i + 1 if i >= 0 else -1
        if self._newline == "":  # any of "\r\n", "\r", "\n" ends a line, kept as is
            m = _LINE_END.search(buf)
            if m is None or (m.group() == "\r" and m.end() == len(buf) and not self._eof):
                return -1
            return m.end()
        i = buf.find(self._newline)
        return i + len(self._newline) if i >= 0 else -1

    async def readline(self):
        self._check_open()
        while True:
            end = self._line_end()
            if end >= 0:
                out, self._rbuf = self._rbuf[:end], self._rbuf[end:]
                return out
            if self._eof or not await self._fill():
                end = self._line_end()
                end = len(self._rbuf) if end < 0 else end
                out, self._rbuf = self._rbuf[:end], self._rbuf[end:]
                return out

    def __aiter__(self):
        return self

    async def __anext__(self):
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line

    async def write(self, data):
        self._check_open()
        if not self._writable:
            raise io.UnsupportedOperation("not writable")
        raw = data if self._binary else data.encode(self._encoding, self._errors)
        if not self._binary and self._newline not in (None, "", "\n"):
            raw = data.replace("\n", self._newline).encode(self._encoding, self._errors)
        self._drop_readahead()
        ctx, fd, done = self._ctx, self._fd, 0
        while done < len(raw):
            chunk = bytes(raw[done:])
            off = -1 if self._append or self._stream else self._pos
            try:
                n = await ctx.call(lambda: _lib.aopen_write_submit(ctx.ctx, fd, chunk, len(chunk), off, None, None), self._path)
            except OSError as e:
                if e.errno != errno.ESPIPE or self._stream:
                    raise
                self._stream = True  # a FIFO or device: see _pread
                continue
            if n == 0:
                raise OSError(errno.EIO, "write wrote nothing", _os.fsdecode(self._path))
            done += n
            if not self._append:
                self._pos += n
        return len(data)

    async def writelines(self, lines):
        for line in lines:
            await self.write(line)

    async def flush(self):
        """Nothing is buffered for writing: every write is a request of its own."""
        self._check_open()

    async def fsync(self):
        self._check_open()
        ctx, fd = self._ctx, self._fd
        await ctx.call(lambda: _lib.aopen_fsync_submit(ctx.ctx, fd, 0, None, None), self._path)

    async def truncate(self, size=None):
        self._check_open()
        size = self.tell() if size is None else size
        ctx, fd = self._ctx, self._fd
        await ctx.call(lambda: _lib.aopen_ftruncate_submit(ctx.ctx, fd, size, None, None), self._path)
        return size

    async def stat(self):
        from .os import _Statx, _STATX_BASIC_STATS, _stat_result

        self._check_open()
        ctx, fd, buf = self._ctx, self._fd, _Statx()
        await ctx.call(
            lambda: _lib.aopen_fstat_submit(ctx.ctx, fd, _STATX_BASIC_STATS, ctypes.byref(buf), None, None),
            self._path,
            keep=buf,
        )
        return _stat_result(buf)

    def _drop_readahead(self):
        if self._rbuf:
            if self._binary:
                self._pos -= len(self._rbuf)
            else:
                self._pos -= len(self._rbuf.encode(self._encoding, self._errors))
            self._rbuf = self._rbuf[:0]
        self._eof = False
        if not self._binary:
            self._decoder.reset()

    def tell(self):
        self._check_open()
        if self._binary:
            return self._pos - len(self._rbuf)
        return self._pos - len(self._rbuf.encode(self._encoding, self._errors))

    def seek(self, offset, whence=0):
        self._check_open()
        if whence == 1:
            offset += self.tell()
        elif whence != 0:
            raise io.UnsupportedOperation("seek does no I/O: whence must be 0 or 1")
        self._rbuf = self._rbuf[:0]
        self._eof = False
        if not self._binary:
            self._decoder.reset()
        self._pos = offset
        return offset

    async def close(self):
        if self.closed:
            return
        self.closed = True
        ctx = self._ctx if self._ctx.ctx is not None else _context()
        await ctx.close_fd(self._fd)
