"""The binary file: ``open(..., "rb")`` and friends, as aiofiles' ``binary.py`` lays them out.

``AsyncBufferedReader`` (BufferedReader, BufferedRandom), ``AsyncBufferedIOBase``
(BufferedWriter) and ``AsyncFileIO`` (``buffering=0``) mirror the io class they wrap method
for method: the same methods are coroutines as in aiofiles, the same are plain. Each
coroutine runs the io object's own method through the file's ``Runner`` (``_raw``).
"""

import _pyio

from ._raw import Raw, Runner, Stack  # noqa: F401  (Raw: the layer under every file)


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
        return super().seek(pos, whence)

    def _pending_writes(self):
        return False


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


class BufferedReader(_CBufferedMixin, _pyio.BufferedReader):
    pass


class BufferedWriter(_CTruncateMixin, _pyio.BufferedWriter):
    pass


class BufferedRandom(_CTruncateMixin, _CBufferedMixin, _pyio.BufferedRandom):
    def _flush_before_read(self):
        self.flush()

    def _pending_writes(self):
        return bool(self._write_buf)


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
    ``async with``, and plain attributes that do no I/O."""

    def __init__(self, file, stack, ctxmgr_mode=None):
        self._file = file
        self._stack = stack
        self._runner = Runner(stack)

    async def _call(self, name, *args, **kwargs):
        self._check_attached()
        return await self._runner.run(getattr(self._file, name), *args, **kwargs) if not kwargs else \
            await self._runner.run(lambda: getattr(self._file, name)(*args, **kwargs))

    def _check_attached(self):
        pass

    def __repr__(self):
        return super().__repr__() + " wrapping " + repr(self._file)

    # aopen's own additions (not in aiofiles): the file's fsync and fstat on libaopen.
    async def fsync(self):
        """``os.fsync(self.fileno())`` after a ``flush()``."""
        await self.flush()
        raw = self._stack.raw
        await self._runner.run(lambda: raw._sys("fsync", 0))

    async def stat(self):
        """``os.fstat(self.fileno())``."""
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

    async def close(self):
        self._check_attached()
        return await self._runner.run(self._file.close)


@_delegate("flush", "isatty", "read", "read1", "readinto", "readline", "readlines", "seek",
           "seekable", "tell", "truncate", "writable", "write", "writelines")
@_proxy("fileno", "readable")
@_props("closed", "raw", "name", "mode")
class AsyncBufferedIOBase(_Detachable):
    """The async ``io.BufferedWriter`` (and BufferedIOBase)."""


@_delegate("peek")
class AsyncBufferedReader(AsyncBufferedIOBase):
    """The async ``io.BufferedReader`` and ``io.BufferedRandom``."""


@_delegate("flush", "isatty", "read", "readall", "readinto", "readline", "readlines", "seek",
           "seekable", "tell", "truncate", "writable", "write", "writelines")
@_proxy("fileno", "readable")
@_props("closed", "name", "mode")
class AsyncFileIO(AsyncBase):
    """The async ``io.FileIO`` (``buffering=0``)."""

    async def close(self):
        return await self._runner.run(self._file.close)
