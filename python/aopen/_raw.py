"""The raw file and the runner that drives the io stack above it without blocking.

A file object here is the io module's own stack: ``Raw`` (the FileIO layer, a descriptor
whose system calls go through libaopen), under ``BufferedReader`` / ``BufferedWriter`` /
``BufferedRandom`` and ``TextIOWrapper`` (the pure-Python implementations from ``_pyio``,
the reference for the C ones, adjusted in ``_binary`` / ``_text`` where C differs). Their
code is synchronous, so each async method runs the synchronous method in *attempts*:

- Every system call ``Raw`` makes (read, write, truncate, fstat, close, ...) is an entry of
  the operation's log, executed exactly once, in program order.
- An attempt replays the entries already in the log. The first call that is not, either
  completes on the loop thread without waiting (a cached read, ``aopen_read_nowait``; a
  local close, ``aopen_close_nowait``) and is logged, or raises ``_Miss``.
- On ``_Miss`` the runner restores the stack to its state before the operation (a copy of
  each object's attributes, codecs included), awaits the call as a libaopen request, logs
  its result and starts the next attempt, which replays up to there and goes on.

So the io classes see exactly the system calls and results the built-in file would, and
their results, positions, exceptions and the file's contents are the built-in file's.

Positions. ``Raw`` is FileIO: the descriptor's offset is its position. An operation that
uses the position reads the descriptor's offset first (``lseek(SEEK_CUR)``, which never
reaches a filesystem; an entry of its log, ``offset``, so a call served from the buffers
makes no system call), reads and writes at it with ``pread``/``pwrite`` (``pos``), and
leaves the descriptor's offset where the built-in file would (``lseek(SEEK_SET)``), also
after a close with ``closefd=False``; so ``os.read``/``os.write``/``os.lseek`` on ``fileno()`` interleave with
its calls as with the built-in file. In append mode and on a stream (a FIFO, a tty) the
kernel's offset moves by itself (``write(2)``/``read(2)`` at -1).

Cancellation (the rule, the same for every call, text and binary, buffered or not): a
cancelled call leaves the file as if it either never happened or completed, whichever the
kernel did, never a mix. What a cancelled operation's calls did in the kernel decides:

- Calls with no effect the file can see (a ``pread``, an ``fstat``): none of them counts;
  the stack is restored, and the next read returns the same bytes.
- Calls with an effect (a write, a truncate, a close, a read from a stream) are waited for,
  never abandoned: the ``CancelledError`` is raised at once, and the request goes on
  (``_Pending``). When it completes, the stack is replayed through every effect the kernel
  made, and the operation ends at the first call it did not make: the position moves over
  exactly what the kernel wrote, like a short write (the buffered layer writes out what it
  held before it writes a caller's data past its buffer, so what it still holds is earlier
  calls'). Bytes read from a stream are kept (``Raw._pushback``) for the next read.
- Until then the file's next call waits for that outcome (without blocking the loop, and
  itself cancellable). ``close()`` does not wait: the file is closed for its user at once,
  and its close runs in the background once the kernel decided (writing out what earlier
  calls left buffered, then closing the descriptor); with closefd=False it waits, as the
  descriptor's offset is then the caller's.
"""

import copy
import ctypes
import errno
import io
import os
import stat as _stat
import warnings

import _pyio

from ._abi import Statx, STATX_BASIC_STATS, lib, stat_result
from ._loop import oserror

_MAX_IO = 0x7FFFF000  # what Linux moves in one read or write at most
_YIELD_EVERY = 1 << 20  # bytes read on the loop thread before the runner yields to the loop
_STREAM_CHUNK = 64 * 1024  # a stream's readall, per read(2)


class _Miss(BaseException):
    """A system call the attempt needs and the log does not have (never escapes a runner)."""

    __slots__ = ("call",)

    def __init__(self, call):
        super().__init__()
        self.call = call


class _Interrupted(BaseException):
    """Raised at the first call the kernel did not make, when a cancelled operation is
    replayed through the calls it did make (never escapes a runner). ``consumed``: how many
    bytes of the ``write()`` it stopped the buffered layer took (``_binary._c_write``), so
    that the text layer keeps the rest pending (``_text.TextIOWrapper._writeflush``)."""

    consumed = 0


def c_readlines(self, hint=None):
    """C's IOBase.readlines: lines until their total length is past `hint` (_pyio stops
    once it reaches it, one line sooner, and so before an iteration's EOF that C's makes)."""
    hint = -1 if hint is None else hint.__index__()
    if hint <= 0:
        return list(self)
    lines, length = [], 0
    for line in self:
        lines.append(line)
        length += len(line)
        if length > hint:
            break
    return lines


class Raw(_pyio.RawIOBase):
    """``io.FileIO``'s behaviour over a descriptor whose calls are libaopen requests.

    Its attributes hold no bytearray and no codec: ``Stack.freeze`` and ``Stack.restore``
    copy none of its values (test_dropin checks it after every kind of call)."""

    def __init__(self, ctx, fd, name, mode, closefd, blksize, pos, seekable, tty):
        self._ctx = ctx
        self._fd = fd
        self.name = name
        self._created = "x" in mode
        self._appending = "a" in mode
        self._readable = "r" in mode or "+" in mode
        self._writable = not ("r" in mode and "+" not in mode)
        self._closefd = closefd
        self._blksize = blksize if blksize > 1 else io.DEFAULT_BUFFER_SIZE
        self._seekable = seekable
        self._tty = tty
        self.pos = pos  # the file position (seekable files; see the property)
        self._synced = pos  # the descriptor's offset as last read or set, None: unknown
        self._log = None  # the running operation's calls: [(call, ok, result)]; None: none
        self._next = 0  # the attempt's index into _log
        self._interrupt = False
        self._missed = None  # the call the attempt missed on, while the miss unwinds
        self._inline_bytes = 0
        self._pushback = b""  # a stream's bytes a cancelled read took from the kernel

    _local = False  # opened by the library's fast path: see _pread_nowait
    _memory = False  # and on tmpfs or ramfs (found at the first read RWF_NOWAIT refused)
    _memory_asked = False  # (or by a first write: _lives_in_memory)
    _in_fast_path = False  # a text readline on the loop thread that must make no call runs

    # --- the position ----------------------------------------------------------------

    _stale = False  # an operation started: the descriptor's offset is the position

    @property
    def pos(self):
        """FileIO's position, which is the descriptor's offset: read from it on first use in
        an operation (``lseek(SEEK_CUR)``, which never reaches a filesystem), so that an
        operation served from the buffers makes no system call."""
        if self._stale:
            # A call of the operation's log like the others, so that every attempt (and a
            # replay after a cancel) sees the offset the first one read.
            self._stale = False
            self._pos = self._synced = self._sys("offset")
        return self._pos

    @pos.setter
    def pos(self, value):
        self._stale = False
        self._pos = value

    # --- the system calls -------------------------------------------------------------

    def _sys(self, *call):
        log = self._log
        if log is None:  # outside any operation: a finalizer, or a detached layer's use
            if self._in_fast_path:
                raise AssertionError(f"aopen: a fast path made a system call: {call[:2]}")
            ok, result = _perform_blocking(self, call)
        else:
            i = self._next
            if self._missed is not None:
                # Code run while a miss unwinds (a `finally:` closing the raw layer) makes
                # no call: the attempt is over, and its state is about to be restored.
                raise _Miss(self._missed)
            if i < len(log):
                logged, ok, result = log[i]
                if logged != call:
                    raise AssertionError(f"aopen: replay diverged: {call[:2]} where {logged[:2]} was made")
            else:
                if self._interrupt:
                    raise _Interrupted()
                done = _inline(self, call)
                if done is None:
                    self._missed = call
                    raise _Miss(call)
                ok, result = done
                log.append((call, ok, result))
            self._next = i + 1
        if not ok:
            raise result
        return result

    # --- FileIO's interface ------------------------------------------------------------

    def _checkClosed(self, msg=None):
        if self.closed:
            raise ValueError("I/O operation on closed file" if msg is None else msg)  # FileIO's

    def _checkReadable(self, msg=None):
        if not self._readable:
            raise io.UnsupportedOperation("File not open for reading")

    def _checkWritable(self, msg=None):
        if not self._writable:
            raise io.UnsupportedOperation("File not open for writing")

    def readable(self):
        self._checkClosed()
        return self._readable

    def writable(self):
        self._checkClosed()
        return self._writable

    def seekable(self):
        self._checkClosed()
        return self._seekable

    def isatty(self):
        self._checkClosed()
        return self._tty

    def fileno(self):
        self._checkClosed()
        return self._fd

    @property
    def closefd(self):
        return self._closefd

    @property
    def mode(self):
        if self._created:
            return "xb+" if self._readable else "xb"
        if self._appending:
            return "ab+" if self._readable else "ab"
        if self._readable:
            return "rb+" if self._writable else "rb"
        return "wb"

    def __repr__(self):
        name = f"{self.__class__.__module__}.{self.__class__.__qualname__}"
        if self.closed:
            return f"<{name} [closed]>"
        return f"<{name} name={self.name!r} mode={self.mode!r} closefd={self._closefd!r}>"

    def __getstate__(self):
        raise TypeError(f"cannot pickle {self.__class__.__name__!r} object")

    def read(self, size=-1):
        self._checkClosed()
        self._checkReadable()
        if size is None or size < 0:
            return self.readall()
        if not self._seekable:
            if self._pushback:
                data, self._pushback = self._pushback[:size], self._pushback[size:]
                return data
            try:
                return self._sys("read", -1, min(size, _MAX_IO))
            except BlockingIOError:
                return None  # a non-blocking descriptor with nothing to read, as FileIO
        data = self._sys("read", self.pos, min(size, _MAX_IO))
        self.pos += len(data)
        return data

    def readall(self):
        self._checkClosed()
        self._checkReadable()
        if not self._seekable:
            # A stream: read(2) until its end, each read an entry of its own (what it takes
            # from the kernel is kept if the operation is cancelled).
            out = bytearray(self._pushback)
            self._pushback = b""
            while True:
                try:
                    data = self._sys("read", -1, _STREAM_CHUNK)
                except BlockingIOError:
                    return bytes(out) if out else None
                if not data:
                    return bytes(out)
                out += data
        data = self._sys("readall", self.pos)
        self.pos += len(data)
        return data

    def readinto(self, b):
        m = memoryview(b).cast("B")
        data = self.read(len(m))
        if data is None:
            return None
        n = len(data)
        m[:n] = data
        return n

    def write(self, b):
        self._checkClosed()
        self._checkWritable()
        data = bytes(memoryview(b)[:_MAX_IO])
        if self._appending or not self._seekable:
            try:
                done = self._sys("write", -1, data)
            except BlockingIOError:
                return None  # a non-blocking descriptor with no room, as FileIO
            if done is None:
                return None
            n, pos = done
            if pos is not None:
                self.pos = pos
            return n
        done = self._sys("write", self.pos, data)
        if done is None:
            return None
        self.pos += done[0]
        return done[0]

    def seek(self, pos, whence=0):
        if isinstance(pos, float):
            raise TypeError("an integer is required")
        pos = pos.__index__()
        self._checkClosed()
        if not self._seekable:
            raise oserror(errno.ESPIPE)
        if whence == 0:
            new = pos
        elif whence == 1:
            new = self.pos + pos
        elif whence == 2:
            new = self._sys("fstat").st_size + pos
        elif whence in (getattr(os, "SEEK_DATA", -1), getattr(os, "SEEK_HOLE", -1)):
            new = self._sys("lseek", pos, whence)
        else:
            raise oserror(errno.EINVAL)
        if new < 0:
            raise oserror(errno.EINVAL)
        self.pos = new
        return new

    def tell(self):
        self._checkClosed()
        if not self._seekable:
            raise oserror(errno.ESPIPE)
        return self.pos

    def truncate(self, size=None):
        self._checkClosed()
        self._checkWritable()
        if size is None:
            size = self.tell()
        self._sys("truncate", size.__index__())
        return size

    # The lines a text file over this one hands out ahead (``AsyncTextIOWrapper._ready``):
    # emptied by a close, after which the text file's position can no longer be seen, so
    # that none is handed out from a closed file.
    _ready_lines = None

    def _drop_ready_lines(self):
        lines, self._ready_lines = self._ready_lines, None
        if lines is not None:
            lines.clear()

    def close(self):
        self._drop_ready_lines()
        if not self.closed:
            if self._closefd:
                try:
                    self._sys("close")
                except (_Miss, _Interrupted):
                    raise  # not made (yet): the descriptor is still open
                except BaseException:
                    super().close()  # close(2) failed: the descriptor is released anyway
                    raise
            super().close()

    def __del__(self):
        if self._fd >= 0 and self._closefd and not self.closed:
            self._dealloc_warn(self)
            try:
                self.close()
            except Exception:
                pass  # as C's finalizer outside dev mode: the descriptor is released anyway

    def _dealloc_warn(self, source):
        """FileIO's: the ResourceWarning for an unclosed file, naming `source` (the object
        the user held: a buffered or text layer finalized over this one warns through it)."""
        if self._fd >= 0 and self._closefd and not self.closed:
            warnings.warn(f"unclosed file {source!r}", ResourceWarning, stacklevel=2, source=source)

    readlines = c_readlines


def _inline(raw, call):
    """(ok, result) for a call that completes on the loop thread without waiting, or None."""
    kind = call[0]
    if kind == "offset":  # lseek(SEEK_CUR): in the kernel, never a filesystem's
        return True, _kernel_pos(raw._fd) or 0
    ctx = raw._ctx
    if ctx.ctx is None:
        return None
    if kind == "read" and call[1] >= 0:
        _, off, n = call
        data = _pread_nowait(raw, n, off)
        if type(data) is int:
            return None if data == -errno.EAGAIN else (False, _nowait_error(data, n))
        got = len(data)
        if got < n and got > 0:
            return None  # only part of it is cached: the rest is a request
        raw._inline_bytes += got
        return True, data
    if kind == "write" and raw._local and len(call[2]) <= _YIELD_EVERY and _lives_in_memory(raw):
        # A write to a file whose data lives in memory (tmpfs, ramfs) reads and writes no
        # device, as the plain reads of such files: made here, counted with the reads so the
        # runner lets the loop run now and then.
        _, off, data = call
        try:
            n = os.pwrite(raw._fd, data, off) if off >= 0 else os.write(raw._fd, data)
        except OSError as e:
            return False, e
        raw._inline_bytes += n
        return True, (n, None if off >= 0 else _kernel_pos(raw._fd))
    if kind == "close":
        rc = lib.aopen_close_nowait(ctx.ctx, raw._fd)
        if rc == -errno.EAGAIN:
            return None
        return (True, None) if rc >= 0 else (False, oserror(-rc))
    return None


# A read straight into a new bytes object (PyBytes_FromStringAndSize(NULL, n): writable
# until it is shared) with preadv2(RWF_NOWAIT), for a descriptor this package opened through
# the library's fast path (``Raw._local``: a regular file on a filesystem of the library's
# local list, opened without O_DIRECT): one system call and no copy, where the library's
# aopen_read_nowait, which must judge any descriptor, makes three (statx, F_GETFL, the
# read) and reads into a buffer to copy from. RWF_NOWAIT alone makes it safe on such a
# file: the kernel fails it with EAGAIN rather than wait for the disk.
class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_char_p), ("len", ctypes.c_size_t)]  # (bytes: its own buffer)


try:
    _new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
    _new_bytes.restype, _new_bytes.argtypes = ctypes.py_object, (ctypes.c_void_p, ctypes.c_ssize_t)
    _preadv2 = ctypes.CDLL(None, use_errno=True).preadv2
    _preadv2.restype = ctypes.c_ssize_t
    _preadv2.argtypes = (ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_int, ctypes.c_int64, ctypes.c_int)
    _RWF_NOWAIT = os.RWF_NOWAIT
except (AttributeError, OSError):  # (no pythonapi, no preadv2: the library's reads serve)
    _preadv2 = None


# tmpfs and ramfs (statfs f_type): their files' data lives in memory, and tmpfs refuses
# RWF_NOWAIT (EOPNOTSUPP); the library reads them with a plain pread (fs::in_memory), and so
# does _pread_nowait, with os.pread (one syscall, into the bytes it returns).
_IN_MEMORY = (0x01021994, 0x858458F6)


def _lives_in_memory(raw):
    """Whether `raw`'s file (a ``_local`` one) is on tmpfs or ramfs: known from a read that
    found it (``_memory``), else asked once (fstatfs)."""
    if not raw._memory and raw._memory_asked is False:
        raw._memory_asked = True
        raw._memory = _in_memory(raw._fd)
    return raw._memory


def _in_memory(fd):
    """Whether `fd`'s file is on tmpfs or ramfs (fstatfs, which asks no server: only a
    ``_local`` file's descriptor is asked)."""
    buf = ctypes.create_string_buffer(256)  # struct statfs, f_type its first field (a long)
    if _fstatfs is None or _fstatfs(fd, buf) != 0:
        return False
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF in _IN_MEMORY


try:
    _fstatfs = ctypes.CDLL(None, use_errno=True).fstatfs
    _fstatfs.restype, _fstatfs.argtypes = ctypes.c_int, (ctypes.c_int, ctypes.c_void_p)
except (AttributeError, OSError):
    _fstatfs = None


def _pread_nowait(raw, n, off):
    """aopen_read_nowait's answer for `raw`'s descriptor (bytes, or -errno; `off` -1: at
    the offset, advancing it), made directly where the descriptor is ``_local``."""
    if raw._local:
        if raw._memory:
            try:
                return os.pread(raw._fd, n, off) if off >= 0 else os.read(raw._fd, n)
            except OSError:
                raw._local = False  # (anything unexpected: the library judges)
                return -errno.EAGAIN
        if _preadv2 is not None:
            b = _new_bytes(None, n)
            got = _preadv2(raw._fd, _Iovec(b, n), 1, off, _RWF_NOWAIT)
            if got >= 0:
                return b if got == n else b[:got]
            err = ctypes.get_errno()
            if err == errno.EOPNOTSUPP and _in_memory(raw._fd):
                raw._memory = True
                return _pread_nowait(raw, n, off)
            if err != errno.EAGAIN:
                raw._local = False  # (EOPNOTSUPP elsewhere, or anything unexpected: the library judges)
            return -errno.EAGAIN
    buf = raw._ctx.scratch(n)
    got = lib.aopen_read_nowait(raw._ctx.ctx, raw._fd, buf, n, off)
    if got < 0:
        return got
    if got > n:  # never trust a count past the buffer: it would move the position too
        return -errno.EIO
    return ctypes.string_at(buf, got)


def _nowait_error(err, n):
    """The OSError of _pread_nowait's -errno `err` for a read of `n` bytes (-EIO: the
    library reported more bytes than the buffer holds)."""
    if err == -errno.EIO:
        return OSError(errno.EIO, f"libaopen reported more bytes read than the {n} of a read")
    return oserror(-err)


def read_nowait(raw, n):
    """A read of n bytes at the descriptor's offset, on the loop thread, where the library
    finds them all cached (or the file ends there): the bytes, the position (and the
    offset) moved past them, as FileIO's read; else None, nothing done."""
    ctx = raw._ctx
    if ctx.ctx is None or not raw._seekable:
        return None
    data = _pread_nowait(raw, n, -1)  # at the offset, advancing it
    if type(data) is int:
        return None  # to be waited for, or an error: the slow path
    got = len(data)
    if got != n and got != 0 and not raw._memory:
        # Perhaps partly cached: given back, and the slow path reads it all. (Where the
        # data lives in memory, the read was a plain one: short only at the end.)
        try:
            os.lseek(raw._fd, -got, os.SEEK_CUR)
        except OSError:
            pass
        return None
    raw._inline_bytes += got
    _moved(raw)
    return data


def _moved(raw):
    """A nowait read moved the descriptor's offset, which is FileIO's position: read again
    when next used (``Raw.pos``), rather than asked for now."""
    raw._stale, raw._synced = True, None


def readall_nowait(raw):
    """FileIO's readall (every byte from the descriptor's offset to the end) on the loop
    thread, where the library finds them all cached, up to ``_YIELD_EVERY`` bytes: the
    bytes, the position (and the offset) moved past them; else None, nothing done (a larger
    file's reads go through the runner, which lets the loop run between them)."""
    ctx = raw._ctx
    if ctx.ctx is None or not raw._seekable:
        return None
    n, chunks, total = 64 * 1024, [], 0
    while True:
        data = _pread_nowait(raw, n, -1)  # at the offset, advancing it
        got = data if type(data) is int else len(data)
        if got == 0:
            break
        if got < 0 or total + got > _YIELD_EVERY:
            # Not all cached (or an error, or too much for one go): given back; the slow
            # path reads it.
            if got > 0:
                total += got
            if total:
                try:
                    os.lseek(raw._fd, -total, os.SEEK_CUR)
                except OSError:
                    pass
            return None
        chunks.append(data)
        total += got
    raw._inline_bytes += total
    _moved(raw)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _read(raw, off, n):
    """A read of up to n bytes at `off` (-1: the file position), as the kernel returns it
    for this kind of file: a regular file's is short only at its end."""
    ctx, fd = raw._ctx, raw._fd
    out = bytearray()
    while True:
        want = n - len(out)
        at = off + len(out) if off >= 0 else -1
        data = _pread_nowait(raw, want, at) if at >= 0 and ctx.ctx is not None else -errno.EAGAIN
        if data == -errno.EAGAIN:
            buf = ctypes.create_string_buffer(want)
            got = await ctx.call(lambda: lib.aopen_read_submit(ctx.ctx, fd, buf, want, at, None, None), keep=buf)
            if got > want:
                raise OSError(errno.EIO, f"libaopen reported {got} bytes read for a read of {want}")
            data = ctypes.string_at(buf, got)
        elif type(data) is int:
            raise _nowait_error(data, want)
        else:
            raw._inline_bytes += len(data)  # read on the loop thread: yield now and then
            if raw._inline_bytes >= _YIELD_EVERY:
                raw._inline_bytes = 0
                await ctx.sleep0()
        out += data
        if not data or len(out) == n or off < 0:
            return bytes(out)


def _has_effect(call):
    """Whether the file can see that `call` was made: a write, a truncate, a close, or a
    read from a stream (at -1: it takes the bytes from the kernel). A pread, an fstat, an
    lseek(SEEK_DATA) or an fsync leave nothing the file object holds changed."""
    kind = call[0]
    return kind == "write" or kind == "truncate" or kind == "close" or (kind == "read" and call[1] < 0)


def _effect_submit(raw, call):
    """(submit, keep) for an effectful call's one request: ``submit()`` returns its id;
    `keep` is the memory the library writes on delivery."""
    ctx, fd, kind = raw._ctx, raw._fd, call[0]
    if kind == "write":
        off, data = call[1], call[2]  # (copied by the library before the submit returns)
        return (lambda: lib.aopen_write_submit(ctx.ctx, fd, data, len(data), off, None, None)), None
    if kind == "truncate":
        return (lambda: lib.aopen_ftruncate_submit(ctx.ctx, fd, call[1], None, None)), None
    if kind == "close":
        return (lambda: lib.aclose_submit(ctx.ctx, fd, None, None)), None
    n = call[2]  # a stream's read(2)
    buf = ctypes.create_string_buffer(n)
    return (lambda: lib.aopen_read_submit(ctx.ctx, fd, buf, n, -1, None, None)), buf


def _effect_outcome(raw, call, result, keep):
    """(ok, result) of an effectful call whose request completed with `result`."""
    if result is None:  # the context was freed: whatever the kernel did is unknown
        return False, OSError(errno.ESHUTDOWN, "the loop's libaopen context was closed")
    if result < 0:
        return False, oserror(-result)
    kind = call[0]
    if kind == "write":
        # Appending (or a stream): the kernel's position is the file's; lseek(SEEK_CUR)
        # never reaches the filesystem.
        return True, (result, _kernel_pos(raw._fd) if call[1] < 0 and raw._seekable else None)
    if kind == "read":
        if result > call[2]:  # never trust a count past the buffer
            return False, OSError(errno.EIO, f"libaopen reported {result} bytes read for a read of {call[2]}")
        return True, ctypes.string_at(keep, result)
    return True, None


async def _perform(raw, call):
    """Runs one call with no effect (see _has_effect) as libaopen requests: (ok, result)."""
    kind, ctx, fd = call[0], raw._ctx, raw._fd
    try:
        if kind == "read":
            return True, await _read(raw, call[1], call[2])
        if kind == "readall":
            off, out, chunk = call[1], bytearray(), 64 * 1024
            while True:
                data = await _read(raw, off + len(out), chunk)
                if not data:
                    return True, bytes(out)
                out += data
                chunk = min(chunk * 2, _YIELD_EVERY)
        if kind == "fstat":
            return True, await fstat(ctx, fd)
        if kind == "lseek":
            return True, await ctx.run_blocking(lambda: os.lseek(fd, call[1], call[2]), fd=fd)
        if kind == "fsync":
            await ctx.call(lambda: lib.aopen_fsync_submit(ctx.ctx, fd, call[1], None, None))
            return True, None
    except OSError as e:
        return False, e
    raise AssertionError(f"unknown call {kind}")


def _perform_blocking(raw, call):
    """A call made outside any operation (a finalizer; a detached layer, whose user asked
    for a synchronous file): made here, as the built-in file would."""
    kind, fd = call[0], raw._fd
    try:
        if kind == "offset":
            return True, _kernel_pos(fd) or 0
        if kind == "read":
            return True, (os.pread(fd, call[2], call[1]) if call[1] >= 0 else os.read(fd, call[2]))
        if kind == "readall":
            out = bytearray()
            while True:
                data = os.pread(fd, 1 << 20, call[1] + len(out)) if call[1] >= 0 else os.read(fd, 1 << 20)
                if not data:
                    return True, bytes(out)
                out += data
        if kind == "write":
            if call[1] >= 0:
                return True, (os.pwrite(fd, call[2], call[1]), None)
            n = os.write(fd, call[2])
            return True, (n, _kernel_pos(fd) if raw._seekable else None)
        if kind == "truncate":
            os.ftruncate(fd, call[1])
            return True, None
        if kind == "fstat":
            return True, os.fstat(fd)
        if kind == "lseek":
            return True, os.lseek(fd, call[1], call[2])
        if kind == "close":
            raw._ctx.close_detached(fd)  # on a worker: never a close on this thread
            return True, None
        if kind == "fsync":
            (os.fdatasync if call[1] else os.fsync)(fd)
            return True, None
    except OSError as e:
        return False, e
    raise AssertionError(f"unknown call {kind}")


def _kernel_pos(fd):
    try:
        return os.lseek(fd, 0, os.SEEK_CUR)
    except OSError:
        return None


async def fstat(ctx, fd):
    """os.fstat(fd) as a libaopen request."""
    buf = Statx()
    await ctx.call(lambda: lib.aopen_fstat_submit(ctx.ctx, fd, STATX_BASIC_STATS, ctypes.byref(buf), None, None),
                   keep=buf)
    return stat_result(buf)


# --- snapshots of the io stack --------------------------------------------------------


def _clone_codec(c):
    """An independent copy of an incremental decoder or encoder, state included."""
    if c is None:
        return None
    if isinstance(c, _pyio.IncrementalNewlineDecoder):
        d = copy.copy(c)
        d.decoder = _clone_codec(c.decoder)
        return d
    if isinstance(c, io.IncrementalNewlineDecoder):  # (_text.NewlineDecoder)
        d = type(c)(_clone_codec(c.inner), c.translate)
        d.setstate(c.getstate())
        d.seen_before = c.seen()
        return d
    try:
        return copy.copy(c)
    except TypeError:  # a codec implemented in C: through its documented state
        d = type(c)(c.errors)
        d.setstate(c.getstate())
        return d


class Stack:
    """The objects of one file's io stack, bottom (the Raw) first, and their snapshots."""

    __slots__ = ("raw", "objs")

    def __init__(self, raw, *objs):
        self.raw, self.objs = raw, (raw,) + objs

    def snapshot(self):
        return [(o, o.__dict__.copy()) for o in self.objs]

    @staticmethod
    def restore(snap):
        for o, d in snap:
            d = d.copy()
            if type(o) is not Raw:  # (a Raw's values are never mutable: see Raw)
                _copy_mutable(d)
            o.__dict__.clear()
            o.__dict__.update(d)

    @staticmethod
    def freeze(snap):
        """The snapshot's mutable parts, copied now (the objects go on mutating them)."""
        out = []
        for o, d in snap:
            if type(o) is not Raw:
                _copy_mutable(d)
            out.append((o, d))
        return out


def _copy_mutable(d):
    """Replaces the mutable values of an io object's attributes `d` with copies: buffers
    (bytearray) and codecs (which keep their state in themselves)."""
    for k, v in d.items():
        if type(v) is bytearray:
            d[k] = bytearray(v)
        elif k in ("_decoder", "_encoder"):
            d[k] = _clone_codec(v)


class _Pending:
    """A cancelled operation's effectful call, still a request: what the kernel makes of it
    decides the file's state (``Runner._settle``)."""

    __slots__ = ("rid", "waiter", "call", "keep", "snap", "log", "fn", "args")

    def __init__(self, rid, waiter, call, keep, snap, log, fn, args):
        self.rid, self.waiter, self.call, self.keep = rid, waiter, call, keep
        self.snap, self.log, self.fn, self.args = snap, log, fn, args


class Runner:
    """Runs a file's synchronous methods as operations (see the module's docstring); one
    operation at a time per file, in the order they were called. ``pending``: a cancelled
    operation's call whose outcome the kernel has not decided yet; every operation waits
    for it first, except ``close``."""

    __slots__ = ("stack", "busy", "queue", "pending", "closing", "ready")

    def __init__(self, stack):
        self.stack, self.busy, self.queue, self.pending = stack, False, [], None
        self.closing = None  # the close close() left to run in the background
        # Lines a text file's async wrapper hands out ahead (``AsyncTextIOWrapper._ready``):
        # (the list, the text file, where its last line ends in the decoded characters).
        self.ready = None

    def unready(self):
        """The text file's position in its decoded characters as if each line handed out
        ahead had been its readline()'s; the list emptied (its holders hand out no more)."""
        ready, self.ready = self.ready, None
        if ready is not None:
            lines, f, end = ready
            f._decoded_chars_used = f._lines_end = end - sum(map(len, lines))
            self.stack.raw._drop_ready_lines()  # (the same list)

    def idle(self):
        """No operation runs or waits, and no cancelled call is undecided: a call that
        makes no system call may run on the stack directly."""
        return not self.busy and self.pending is None

    async def run(self, fn, *args):
        raw = self.stack.raw
        ctx = raw._ctx
        if self.busy:
            w = ctx._waiter()
            self.queue.append(w)
            try:
                await ctx._wait(w)  # woken: the turn is ours (busy stays True)
            except BaseException:
                if w in self.queue:
                    self.queue.remove(w)
                elif ctx._has_result(w):
                    self._release()  # handed the turn just as it was cancelled: pass it on
                raise
        else:
            self.busy = True
        try:
            if self.pending is not None:
                await self._wait_pending()
            if raw._inline_bytes >= _YIELD_EVERY:
                # Much was read on the loop thread: let the loop run, before this operation
                # does anything (a cancel here leaves nothing to undo).
                raw._inline_bytes = 0
                await ctx.sleep0()
        except BaseException:
            self._release()
            raise
        return await self._run(fn, args)

    async def _run(self, fn, args):
        raw = self.stack.raw
        ctx = raw._ctx
        if self.ready is not None:
            self.unready()  # (before the snapshot: a restore must not undo it)
        raw._log, raw._next, raw._interrupt, raw._missed = [], 0, False, None
        if raw._seekable and not raw.closed:
            # FileIO's position: the descriptor's offset (whoever moved it since), read
            # when used; what it was is unknown until then.
            raw._stale, raw._synced = True, None
        try:
            snap = None
            while True:
                if snap is None:
                    snap = Stack.freeze(self.stack.snapshot())
                try:
                    return fn(*args)
                except _Miss:
                    miss = raw._missed
                Stack.restore(snap)
                raw._next, raw._missed = 0, None
                if _has_effect(miss):
                    outcome = await self._decide(miss, snap, fn, args)
                else:
                    try:
                        outcome = await _perform(raw, miss)  # cancelled: the request is abandoned
                    except BaseException:
                        self._apply(snap, raw._log, fn, args)
                        raise
                raw._log.append((miss, *outcome))
        finally:
            raw._log, raw._missed = None, None
            self._sync_offset()
            self._release()

    async def _decide(self, call, snap, fn, args):
        """Runs an effectful call as one request and returns its (ok, result). Cancelled
        while it runs, it leaves the request running as ``pending`` and raises at once."""
        raw = self.stack.raw
        ctx = raw._ctx
        submit, keep = _effect_submit(raw, call)
        try:
            rid = await ctx._submit(submit)
        except OSError as e:  # refused (the context closed): the call's error
            return False, e
        except BaseException:
            self._apply(snap, raw._log, fn, args)  # never submitted
            raise
        w = ctx._waiter()
        ctx.waiting[rid] = w
        if keep is not None:
            ctx.kept[rid] = keep
        try:
            result = await ctx._wait_outcome(w)
        except BaseException:
            if ctx._has_result(w):  # decided already: settled now
                raw._log.append((call, *_effect_outcome(raw, call, ctx._result(w), keep)))
                self._apply(snap, raw._log, fn, args)
            else:
                self.pending = _Pending(rid, w, call, keep, snap, list(raw._log), fn, args)
                ctx._on_result(w, self._settle)  # (also when the context is freed)
            raise
        return _effect_outcome(raw, call, result, keep)

    async def _wait_pending(self):
        """Waits (cancellably) until the kernel decided the pending call, and settles."""
        p = self.pending
        ctx = self.stack.raw._ctx
        try:
            await ctx._wait_outcome(p.waiter)
        except BaseException:
            if not (ctx.ctx is None and ctx._is_done(p.waiter)):
                raise  # cancelled: the call stays pending
            # (else the context was freed under it: settled as not made)
        self._settle()

    def _settle(self):
        """The pending call's outcome is known: the file becomes what the kernel made of
        the cancelled operation. (Run from the request's delivery too: no operation runs
        meanwhile, since each waits for this first.)"""
        p, self.pending = self.pending, None
        if p is None:
            return
        raw = self.stack.raw
        if raw.closed:
            return  # closed meanwhile (``close`` does not wait): nothing left to settle
        ctx = raw._ctx
        result = ctx._result(p.waiter) if ctx._has_result(p.waiter) else None
        self._apply(p.snap, p.log + [(p.call, *_effect_outcome(raw, p.call, result, p.keep))], p.fn, p.args)
        self._sync_offset()

    def _apply(self, snap, log, fn, args):
        """Leaves the stack as the cancelled operation (`fn`) left the kernel, `log` being
        the calls it made: the state before it if none had an effect (a stream's bytes kept
        for the next read), else replayed through its last effect (see the module's
        docstring). The stack is left outside any operation."""
        raw = self.stack.raw
        Stack.restore(snap)
        effects = [i for i, (call, ok, _) in enumerate(log) if ok and _has_effect(call)]
        try:
            if not effects:
                return
            if all(log[i][0][0] == "read" for i in effects):
                # A stream's reads: the bytes stay with the file, first for the next read.
                raw._pushback += b"".join(log[i][2] for i in effects)
                return
            raw._log, raw._next, raw._interrupt, raw._missed = log[:effects[-1] + 1], 0, True, None
            try:
                fn(*args)
            except (_Interrupted, Exception):
                pass  # (the call's own error, or the end of what the kernel made)
        finally:
            raw._log, raw._next, raw._interrupt, raw._missed = None, 0, False, None

    def _sync_offset(self):
        """The descriptor's offset where FileIO leaves it: the position, where it moved
        (while the descriptor is open: closed with closefd=False, it still is)."""
        raw = self.stack.raw
        if raw._seekable and not raw._stale and raw._pos != raw._synced and (not raw.closed or not raw._closefd):
            try:
                os.lseek(raw._fd, raw._pos, os.SEEK_SET)  # in the kernel: never waits
                raw._synced = raw._pos
            except OSError:
                pass

    async def close(self, fn):
        """Runs ``close`` (`fn`) as an operation, except while a cancelled call is still
        undecided on a descriptor the file owns: then close() does not wait; the file counts
        as closed at once (``closing``), and the close runs in the background once the
        kernel decided, writing out what the file holds, then closing the descriptor. With
        closefd=False it waits (cancellably): the descriptor's offset is the caller's next."""
        p = self.pending
        raw = self.stack.raw
        if self.closing is not None:
            return
        if p is None or raw._ctx._is_done(p.waiter) or not raw._closefd:
            return await self.run(fn)
        self.closing = raw._ctx._spawn(self.run(fn), f"closing {raw.name!r} after a cancelled call")

    def _release(self):
        """Hands the turn to the next waiting operation, or frees it."""
        while self.queue:
            if self.stack.raw._ctx._set(self.queue.pop(0), None):
                return
        self.busy = False
