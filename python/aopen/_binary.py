"""The binary file: ``open(..., "rb")`` and friends, as aiofiles' ``binary.py`` lays them out.

``AsyncBufferedReader`` (BufferedReader, BufferedRandom), ``AsyncBufferedIOBase``
(BufferedWriter) and ``AsyncFileIO`` (``buffering=0``) mirror the io class they wrap method
for method: the same methods are coroutines as in aiofiles, the same are plain. Each
coroutine runs the io object's own method through the file's ``Runner`` (``_raw``).
"""

import errno
import io
import os

import _pyio

from . import _loop
from ._loop import _close_nowait, oserror
from ._raw import _YIELD_EVERY, Raw, _Interrupted, Runner, Stack, c_readlines, read_nowait, readall_nowait  # noqa: F401  (Raw: under every file)


def size_arg(size):
    """A read's size argument as _pyio takes it: None is -1, else its __index__()."""
    if size is None:
        return -1
    try:
        size_index = size.__index__
    except AttributeError:
        raise TypeError(f"{size!r} is not an integer")
    return size_index()


class _CBufferedMixin:
    """Where the C BufferedReader (the built-in) differs observably from ``_pyio``'s."""

    def read1(self, size=-1):
        if size is None:
            size = -1
        if size < 0:
            size = self.buffer_size
        self._checkClosed("read of closed file")
        if size == 0:
            return b""
        with self._read_lock:
            have = len(self._read_buf) - self._read_pos
            if have > 0:
                n = min(have, size)
                out = self._read_buf[self._read_pos:self._read_pos + n]
                self._read_pos += n
                return out
        self._flush_before_read()
        with self._read_lock:
            self._reset_read_buf()
            data = self.raw.read(size)
            return b"" if data is None else data

    def peek(self, size=0):
        self._checkClosed("peek of closed file")
        self._flush_before_read()
        with self._read_lock:
            have = len(self._read_buf) - self._read_pos
            if have > 0:
                return self._read_buf[self._read_pos:]
            self._reset_read_buf()
            data = self.raw.read(self.buffer_size)
            if data:
                self._read_buf = data
            return data or b""

    def _flush_before_read(self):
        pass

    def _readinto(self, buf, read1):
        # _pyio's BufferedReader._readinto (which is C's algorithm), with its copy from the
        # buffer bounded by the room left in `buf`: _pyio bounds it by all of `buf`, and so
        # fails (ValueError) where a refill follows a partial copy.
        if not isinstance(buf, memoryview):
            buf = memoryview(buf)
        if buf.nbytes == 0:
            return 0
        buf = buf.cast("B")
        written = 0
        with self._read_lock:
            while written < len(buf):
                avail = min(len(self._read_buf) - self._read_pos, len(buf) - written)
                if avail:
                    buf[written:written + avail] = self._read_buf[self._read_pos:self._read_pos + avail]
                    self._read_pos += avail
                    written += avail
                    if written == len(buf):
                        break
                if len(buf) - written > self.buffer_size:
                    n = self.raw.readinto(buf[written:])
                    if not n:
                        break
                    written += n
                elif not (read1 and written):
                    if not self._peek_unlocked(1):
                        break
                if read1 and written:
                    break
        return written

    def _read_unlocked(self, n=None):
        # C's _bufferedreader_read_generic: past what is buffered, the whole buffer-size
        # blocks straight from the raw file, then the buffer filled for the rest (so what
        # stays buffered, which read1() and peek() show, is C's).
        if n is None or n == -1:
            return super()._read_unlocked(n)
        buf, pos = self._read_buf, self._read_pos
        avail = len(buf) - pos
        if n <= avail:
            self._read_pos += n
            return buf[pos:pos + n]
        out = [buf[pos:]]
        remaining = n - avail
        self._reset_read_buf()
        bs = self.buffer_size
        while remaining >= bs:
            chunk = self.raw.read(remaining - remaining % bs)
            if not chunk:
                return b"".join(out) if chunk is not None or len(out) > 1 or out[0] else chunk
            out.append(chunk)
            remaining -= len(chunk)
        rb, used = b"", 0
        while remaining > 0 and len(rb) < bs:
            chunk = self.raw.read(bs - len(rb))
            if chunk is None and not rb and len(out) == 1 and not out[0]:
                return None  # a non-blocking raw file with nothing yet: C's None
            if not chunk:
                break
            rb += chunk
            take = min(remaining, len(chunk))
            out.append(chunk[:take])
            used += take
            remaining -= take
        self._read_buf, self._read_pos = rb, used
        return b"".join(out)

    def readline(self, size=-1):
        # _pyio's IOBase.readline, with its limit counted from what is left: _pyio reads up
        # to `size` bytes per step and so returns more than `size` where the buffer is
        # smaller than it; C never does.
        size = size_arg(size)
        res = bytearray()
        while size < 0 or len(res) < size:
            readahead = self.peek(1)
            if not readahead:
                n = 1
            else:
                n = (readahead.find(b"\n") + 1) or len(readahead)
                if size >= 0:
                    n = min(n, size - len(res))
            b = self.read(n)
            if not b:
                break
            res += b
            if res.endswith(b"\n"):
                break
        return bytes(res)

    def seek(self, pos, whence=0):
        if whence in (0, 1):
            self._checkClosed("seek of closed file")
            avail = len(self._read_buf) - self._read_pos
            if avail > 0 and not self._pending_writes():
                target = pos.__index__()
                current = self.raw.tell()
                offset = target - (current - avail) if whence == 0 else target
                if -self._read_pos <= offset <= avail:
                    self._read_pos += offset
                    return current - avail + offset
        # C's fallback: flush, then one raw seek (relative ones less what is read ahead),
        # and the read buffer dropped only once that succeeded. _pyio first moves the raw
        # file back over what is read ahead, so a failing seek (seek(-1)) left the buffer's
        # bytes to be read twice.
        if whence not in _pyio.valid_seek_flags:
            raise ValueError("invalid whence value")
        self._checkClosed("seek of closed file")
        if self._pending_writes():
            with self._write_lock:
                self._flush_unlocked()
        if whence == 1:
            pos = pos.__index__() - (len(self._read_buf) - self._read_pos)
        with self._read_lock:
            pos = self.raw.seek(pos, whence)
            self._reset_read_buf()
        if pos < 0:
            raise OSError("seek() returned invalid position")
        return pos

    def _pending_writes(self):
        return False

    readlines = c_readlines


def c_optional_size(size):
    """C's conversion of an optional size (read, readline): None, or an integer."""
    if size is None or isinstance(size, int):
        return size
    if not hasattr(type(size), "__index__"):
        raise TypeError(f"argument should be integer or None, not '{type(size).__name__}'")
    return size.__index__()


def c_size(size):
    """C's conversion of a Py_ssize_t argument (read1, peek)."""
    if isinstance(size, int):
        return size
    if not hasattr(type(size), "__index__"):
        raise TypeError(f"'{type(size).__name__}' object cannot be interpreted as an integer")
    return size.__index__()


class _CFront:
    """The C buffered classes' argument conversions, closed-file checks and messages, before
    ``_pyio``'s code (whose messages and argument checks differ). ``_reads`` / ``_writes``:
    which methods the C class has (the others are BufferedIOBase's: "unsupported")."""

    _reads = _writes = True

    def _c_closed(self, msg):
        if self.raw.closed:
            raise ValueError(msg)

    def _unsupported(self, name):
        raise io.UnsupportedOperation(name)

    def _c_reading(self, name, msg):
        if not self._reads:
            raise io.UnsupportedOperation(name)
        self._c_closed(msg)

    def read(self, size=-1):
        size = c_optional_size(size)
        self._c_reading("read", "read of closed file")
        if size == 0:
            return b""  # C's read_fast: nothing to flush or read for it
        return super().read(size)

    def read1(self, size=-1):
        size = c_size(size)
        self._c_reading("read1", "read of closed file")
        return super().read1(size)

    def readline(self, size=-1):
        size = c_optional_size(size)
        if not self._reads and size == 0:
            return b""  # IOBase.readline's loop reads nothing for a limit of 0
        self._c_reading("read", "readline of closed file")
        return super().readline(size)

    def peek(self, size=0):
        size = c_size(size)
        self._c_reading("peek", "peek of closed file")
        return super().peek(size)

    def readinto(self, b):
        if isinstance(b, (bytes, str)) or (isinstance(b, memoryview) and b.readonly):
            raise TypeError(f"readinto() argument must be read-write bytes-like object, not {type(b).__name__}")
        self._c_reading("readinto", "readinto of closed file")
        return super().readinto(b)

    def write(self, b):
        if isinstance(b, str):
            raise TypeError("a bytes-like object is required, not 'str'")
        if not self._writes:
            raise io.UnsupportedOperation("write")
        self._c_closed("write to closed file")
        data = memoryview(b).cast("B")
        if getattr(self, "_read_buf", None):
            # Undo readahead (_pyio's BufferedRandom.write; no syscall: the raw position).
            with self._read_lock:
                self.raw.seek(self._read_pos - len(self._read_buf), 1)
                self._reset_read_buf()
        with self._write_lock:
            return self._c_write(data)

    def _c_write(self, data):
        # C's _io__Buffered_write: what fits joins the buffer; else the buffer is written out,
        # then `data` straight to the raw file while more than a buffer's worth is left, and
        # the rest buffered (_pyio writes everything out at once, so the kernel would see
        # other writes at other moments). A raw file that takes no more ("would block")
        # leaves what fits buffered and raises BlockingIOError, as C.
        n, size = len(data), self.buffer_size
        if len(self._write_buf) + n <= size:
            self._write_buf.extend(data)
            return n
        try:
            self._flush_unlocked()
        except BlockingIOError:
            avail = size - len(self._write_buf)
            if n <= avail:
                self._write_buf.extend(data)
                return n
            self._write_buf.extend(data[:avail])
            raise BlockingIOError(errno.EAGAIN, "write could not complete without blocking", avail)
        written, remaining = 0, n
        while remaining > size:
            try:
                k = self.raw.write(data[written:])
            except _Interrupted as e:  # (a cancelled operation's replay ends here)
                e.consumed = written
                raise
            if k is None:
                self._write_buf.extend(data[written:written + size])
                raise BlockingIOError(errno.EAGAIN, "write could not complete without blocking", written + size)
            written += k
            remaining -= k
        if remaining > 0:
            self._write_buf.extend(data[written:])
        return n

    def seek(self, pos, whence=0):
        if whence not in (0, 1, 2, getattr(os, "SEEK_DATA", 3), getattr(os, "SEEK_HOLE", 4)):
            raise ValueError(f"whence value {whence} unsupported")
        self._c_closed("seek of closed file")
        return super().seek(pos, whence)

    def flush(self):
        if not self._writes:  # a reader's flush is its raw file's (IOBase's)
            self._c_closed("I/O operation on closed file.")
            return None
        self._c_closed("flush of closed file")
        return super().flush()

    def truncate(self, pos=None):
        self._c_closed("truncate of closed file")
        if not self._writes:
            raise io.UnsupportedOperation("truncate")
        return super().truncate(pos)


class _WarnUnclosed:
    """C's finalizer: an unclosed file warns (ResourceWarning, through its raw layer's
    ``_dealloc_warn``), then closes. ``_pyio``'s closes without a word."""

    def __del__(self):
        try:
            closed = self.closed
        except Exception:
            return
        if not closed:
            try:
                self._dealloc_warn(self)
            except Exception:
                pass
        super().__del__()

    def _dealloc_warn(self, source):
        self.raw._dealloc_warn(source)


class _CTruncateMixin:
    """C's truncate(): flush, rewind the raw file to the logical position, then the raw
    layer's truncate (whose default size is its own position)."""

    def truncate(self, pos=None):
        self._checkClosed("truncate of closed file")
        self._checkWritable()
        with self._write_lock:
            self._flush_unlocked()
        read_buf = getattr(self, "_read_buf", None)
        if read_buf is not None:
            avail = len(read_buf) - self._read_pos
            if avail:
                self.raw.seek(-avail, 1)
            self._reset_read_buf()
        return self.raw.truncate(pos)


class BufferedReader(_WarnUnclosed, _CFront, _CBufferedMixin, _pyio.BufferedReader):
    _writes = False

    def _c_flush(self):
        return self.flush()


class BufferedWriter(_WarnUnclosed, _CFront, _CTruncateMixin, _pyio.BufferedWriter):
    _reads = False

    def _c_flush(self):
        return self.flush()


class BufferedRandom(_WarnUnclosed, _CFront, _CTruncateMixin, _CBufferedMixin, _pyio.BufferedRandom):
    def _flush_before_read(self):
        self.flush()

    def _c_flush(self):
        # C's flush (buffered_flush_and_rewind): the writes out, then the raw file moved
        # back to the logical position and the read-ahead dropped, so the descriptor's
        # offset is where the file is. (_pyio's BufferedRandom calls its flush() before
        # each read too; C's reads use what is read ahead first: that one stays
        # _pyio's.)
        self.flush()
        if len(self._read_buf) > self._read_pos:
            with self._read_lock:
                self.raw.seek(self._read_pos - len(self._read_buf), 1)
                self._reset_read_buf()

    def close(self):
        with self._write_lock:
            if self.raw is None or self.closed:
                return
        try:
            self._c_flush()
        finally:
            with self._write_lock:
                self.raw.close()

    def _pending_writes(self):
        return bool(self._write_buf)


async def _run_sync(file, name, args, kwargs):
    """``file.name(*args, **kwargs)`` of a synchronous file object, on libaopen's pool
    (charged to the filesystem of its descriptor, where it has one)."""
    try:
        fd = file.fileno()
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        fd = -1
    if type(fd) is not int:
        fd = -1
    method = getattr(file, name)
    return await _loop.current().run_blocking(lambda: method(*args, **kwargs), fd=fd)


class FileProtocol:
    """``async for line in f`` (``readline``) and ``async with f`` (``close``)."""

    def __aiter__(self):
        return self

    async def __anext__(self):
        line = await self.readline()
        if line:
            return line
        raise StopAsyncIteration

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        await self.close()


class AsyncBase(FileProtocol):
    """What every async file shares: the io object (``_file``), its runner, iteration,
    ``async with``, and plain attributes that do no I/O.

    Cancellation: a cancelled call leaves the file as if it either never happened or
    completed, whichever the kernel did, never a mix. ``tell()``, the buffers and the
    descriptor's offset agree with what the kernel did; bytes a cancelled read took from the
    kernel are never lost (the next read returns them); a cancelled write that reached the
    kernel moves the position over what it wrote, like a short write. The CancelledError
    comes at once, even while the call hangs on a dead server; the file's next call waits
    (cancellably, without blocking the loop) until the kernel decides, and ``close()`` does
    not wait. (How: ``aopen._raw``.)

    Made by ``open`` over libaopen's own io stack (``native``), or, as aiofiles' classes
    are, around any synchronous file object: ``AsyncBufferedIOBase(file, loop=None,
    executor=None)`` (what ``wrap()`` returns; `loop` and `executor` are accepted and
    ignored), whose every method then runs that object's method off the loop, on
    libaopen's pool."""

    _sync = False  # around a synchronous file object (aiofiles' constructor)

    def __init__(self, file, loop=None, executor=None):
        self._file = file
        self._sync = True

    @classmethod
    def native(cls, file, stack):
        """The file over libaopen's io stack `stack`, whose top object is `file`."""
        self = cls.__new__(cls)
        self._file = file
        self._stack = stack
        self._runner = Runner(stack)
        self._lraw = stack.raw
        return self

    @classmethod
    def lazy(cls, raw, make):
        """A file whose io objects are made on first use, by ``make(raw)`` (the buffer): an
        open, a close and reads that the buffer would pass straight to the raw file need
        none of them."""
        self = cls.__new__(cls)
        self._lraw, self._make = raw, make
        return self

    def __getattr__(self, name):
        if name in ("_file", "_stack", "_runner") and "_make" in self.__dict__:
            self._materialize()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _materialize(self):
        raw, make = self._lraw, self.__dict__.pop("_make")
        closed = raw.closed
        if closed:  # closed before it was needed: made as it would have been, then closed
            raw._IOBase__closed = False
        try:
            file = make(raw)
        finally:
            if closed:
                raw._IOBase__closed = True
        self._file, self._stack = file, Stack(raw, file)
        self._runner = Runner(self._stack)

    async def _call(self, name, *args, **kwargs):
        self._check_attached()
        if self._closing():
            raise ValueError("I/O operation on closed file.")
        if self._sync:
            return await _run_sync(self._file, name, args, kwargs)
        return await self._runner.run(getattr(self._file, name), *args, **kwargs) if not kwargs else \
            await self._runner.run(lambda: getattr(self._file, name)(*args, **kwargs))

    def _check_attached(self):
        pass

    def _closing(self):
        """Whether close() returned while the close itself runs on in the background
        (``Runner.close``): the file is closed for its user."""
        r = self.__dict__.get("_runner")
        return r is not None and r.closing is not None

    @property
    def closed(self):
        self._check_attached()
        return self._closing() or self._file.closed

    def _close_here(self):
        """``close()`` made on the loop thread where it completes at once: True (done), or
        False (await ``close()``)."""
        return False

    def __repr__(self):
        return super().__repr__() + " wrapping " + repr(self._file)

    # aopen's own additions (not in aiofiles): the file's fsync and fstat on libaopen.
    async def fsync(self):
        """``os.fsync(self.fileno())`` after a ``flush()``."""
        await self.flush()
        if self._sync:
            fd = self._file.fileno()
            return await _loop.current().run_blocking(lambda: os.fsync(fd), fd=fd)
        raw = self._stack.raw
        await self._runner.run(lambda: raw._sys("fsync", 0))

    async def stat(self):
        """``os.fstat(self.fileno())``."""
        if self._sync:
            fd = self._file.fileno()
            return await _loop.current().run_blocking(lambda: os.fstat(fd), fd=fd)
        raw = self._stack.raw
        raw._checkClosed()
        return await self._runner.run(lambda: raw._sys("fstat"))


def _delegate(*names):
    def deco(cls):
        for name in names:
            async def method(self, *args, __name=name, **kwargs):
                return await self._call(__name, *args, **kwargs)

            method.__name__ = method.__qualname__ = name
            setattr(cls, name, method)
        return cls

    return deco


def _proxy(*names):
    def deco(cls):
        for name in names:
            def method(self, *args, __name=name, **kwargs):
                self._check_attached()
                return getattr(self._file, __name)(*args, **kwargs)

            method.__name__ = method.__qualname__ = name
            setattr(cls, name, method)
        return cls

    return deco


def _props(*names):
    def deco(cls):
        for name in names:
            def get(self, __name=name):
                self._check_attached()
                return getattr(self._file, __name)

            setattr(cls, name, property(get))
        return cls

    return deco


class _Detachable(AsyncBase):
    _detached = False
    _DETACHED = "raw stream has been detached"

    def _check_attached(self):
        if self._detached:
            raise ValueError(self._DETACHED)

    def detach(self):
        """The layer below, detached: a synchronous file, as aiofiles' ``detach`` returns
        (its calls block the thread they are made on)."""
        self._check_attached()
        out = self._file.detach()
        self._detached = True
        return out

    def _close_here(self):
        # With no io object yet, or only readers' (a BufferedReader, and a TextIOWrapper
        # over one), nothing is buffered to write: the built-in's close is the raw file's,
        # here where aopen_close_nowait closes the descriptor (a local file), while no
        # operation runs or waits.
        if self._detached:
            return False
        if "_make" in self.__dict__:
            raw = self._lraw
            if raw.closed:
                return True
        else:
            f = self._file
            buf = getattr(f, "buffer", f)
            if type(buf) is not BufferedReader or not self._runner.idle() or self._runner.closing is not None:
                return False
            raw = buf.raw
            if raw.closed:
                return False  # (closed already: close() says what the built-in's says)
        ctx = raw._ctx
        if not raw._closefd or ctx.ctx is None:
            return False
        rc = _close_nowait(ctx.ctx, raw._fd)
        if rc == -errno.EAGAIN:
            return False
        raw._IOBase__closed = True
        if rc < 0:
            raise oserror(-rc)
        return True

    async def close(self):
        self._check_attached()
        if "_make" in self.__dict__:
            # No io object yet, so nothing buffered: the built-in's close is the raw file's.
            raw = self._lraw
            if raw.closed:
                return
            raw._IOBase__closed = True
            if raw._closefd:
                await raw._ctx.close_fd(raw._fd)
            return
        if self._sync:
            return await self._call("close")
        if self._close_here():
            return
        return await self._runner.close(self._file.close)


@_delegate("isatty", "read", "read1", "readinto", "readline", "readlines", "seek",
           "seekable", "tell", "truncate", "writable", "writelines")
@_proxy("fileno", "readable")
@_props("raw", "name", "mode")
class AsyncBufferedIOBase(_Detachable):
    """The async ``io.BufferedWriter`` (and BufferedIOBase). A cancelled call follows the
    rule in ``AsyncBase``: never happened or completed, as the kernel decided."""

    async def write(self, b):
        # Bytes that join a BufferedWriter's buffer make no system call (C's
        # _io__Buffered_write keeps what fits): written here, without an operation (and its
        # snapshot of the stack), while no operation runs or waits. The buffer's own write
        # makes every check and raises what it raises. Anything else is an operation.
        if (type(b) is bytes or type(b) is bytearray) and not self._sync and not self._detached:
            r = self._runner
            if not r.busy and r.pending is None and r.closing is None:
                f = self._file
                if type(f) is BufferedWriter and len(f._write_buf) + len(b) <= f.buffer_size:
                    return f.write(b)
        return await self._call("write", b)

    async def flush(self):
        # C's flush of a BufferedRandom also rewinds what it read ahead (``_c_flush``).
        return await self._call("flush" if self._sync else "_c_flush")


@_delegate("peek")
class AsyncBufferedReader(AsyncBufferedIOBase):
    """The async ``io.BufferedReader`` and ``io.BufferedRandom``. A cancelled call follows
    the rule in ``AsyncBase``: never happened or completed, as the kernel decided."""

    _fast_size = 0  # a BufferedReader's buffer size: read(n) may skip its io objects

    async def read(self, size=-1):
        # The fast paths, on the loop thread where the pages are cached: a BufferedReader
        # with nothing buffered reads a multiple of its buffer size with one raw read of
        # that size, into the result, buffering nothing (CPython's
        # _bufferedreader_read_generic), and read() / read(-1) is the raw file's readall
        # (_bufferedreader_read_all). Anything else is the io objects' own read.
        whole = size is None or type(size) is int and size < 0
        if self._fast_size and (whole or type(size) is int and size > 0 and size % self._fast_size == 0):
            f = self.__dict__.get("_file")
            if f is None or (not self._runner.busy and self._runner.pending is None and len(f._read_buf) == f._read_pos
                              and not self._detached):
                raw = self._lraw
                if not raw.closed:
                    if raw._inline_bytes >= _YIELD_EVERY:  # before the read: cancel-safe
                        raw._inline_bytes = 0
                        await raw._ctx.sleep0()
                        return await self.read(size)
                    data = readall_nowait(raw) if whole else read_nowait(raw, size)
                    if data is not None:
                        if f is not None and f._read_buf:
                            f._reset_read_buf()  # (as _pyio's read all leaves it)
                        return data
        return await self._call("read", size)

    async def readline(self, size=-1):
        # A line already in the read buffer is returned here, as the built-in's readline
        # returns it: no system call can happen, so no operation is needed.
        if size == -1 and type(size) is int and not self._sync and not self._detached \
                and "_make" not in self.__dict__ and self._runner.idle():
            f = self._file
            if not f.closed and not getattr(f, "_write_buf", None):
                buf, pos = f._read_buf, f._read_pos
                end = buf.find(b"\n", pos) + 1
                if end:
                    f._read_pos = end  # (what readline's read from the buffer does)
                    return buf[pos:end]
        return await self._call("readline", size)


@_delegate("flush", "isatty", "read", "readall", "readinto", "readline", "readlines", "seek",
           "seekable", "tell", "truncate", "writable", "write", "writelines")
@_proxy("fileno", "readable")
@_props("name", "mode")
class AsyncFileIO(AsyncBase):
    """The async ``io.FileIO`` (``buffering=0``). A cancelled call follows the rule in
    ``AsyncBase``: never happened or completed, as the kernel decided."""

    async def close(self):
        if self._sync:
            return await self._call("close")
        return await self._runner.close(self._file.close)


class _Indirect:
    """aiofiles' ``AsyncIndirect*`` classes: the file is whatever ``indirect()`` returns at
    each call (``sys.stdin`` and friends follow reassignment of ``sys.stdin``)."""

    def __init__(self, name, loop, executor, indirect):
        self._indirect = indirect
        self._name = name
        self._sync = True

    @property
    def _file(self):
        return self._indirect()

    @_file.setter
    def _file(self, v):
        pass  # discard writes, as aiofiles'


class AsyncIndirectBase(_Indirect, AsyncBase):
    """aiofiles' ``base.AsyncIndirectBase``."""


class AsyncIndirectBufferedIOBase(_Indirect, AsyncBufferedIOBase):
    """``AsyncBufferedIOBase`` over ``indirect()``."""


class AsyncIndirectBufferedReader(_Indirect, AsyncBufferedReader):
    """``AsyncBufferedReader`` over ``indirect()``."""


class AsyncIndirectFileIO(_Indirect, AsyncFileIO):
    """``AsyncFileIO`` over ``indirect()``."""
