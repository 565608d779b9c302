"""``aopen.tempfile``: aiofiles' ``tempfile`` (``TemporaryFile``, ``NamedTemporaryFile``,
``SpooledTemporaryFile``, ``TemporaryDirectory``). Names come from the standard library's
``tempfile`` (its ``mkstemp`` / ``mkdtemp``, run off the loop); the files are
``aopen.aiofiles.open`` files on the descriptor it made."""

import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile
from functools import partial

from . import _loop
from . import os as _aos
from ._binary import FileProtocol
from ._open import ContextManager, open as _open

__all__ = ["NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory"]


async def _mkstemp(suffix, prefix, dir, text=False):
    return await _loop.current().run_blocking(partial(_tempfile.mkstemp, suffix, prefix, dir, text), path=dir)


def TemporaryFile(mode="w+b", buffering=-1, encoding=None, newline=None, suffix=None, prefix=None,
                  dir=None, loop=None, executor=None):
    """An unnamed temporary file: removed from its directory at once."""

    async def make():
        fd, name = await _mkstemp(suffix, prefix, dir)
        try:
            await _aos.unlink(name)
            f = await _open(fd, mode, buffering, encoding, None, newline)
        except BaseException:
            _loop.current().close_detached(fd)
            raise
        f._stack.raw.name = fd
        return f

    return ContextManager(make())


def NamedTemporaryFile(mode="w+b", buffering=-1, encoding=None, newline=None, suffix=None,
                       prefix=None, dir=None, delete=True, delete_on_close=True, loop=None, executor=None):
    """A temporary file with a name (``f.name``), removed when closed (``delete``); from
    Python 3.12 ``delete_on_close=False`` keeps it until the context manager exits."""
    if _sys.version_info < (3, 12):
        delete_on_close = True

    async def make():
        fd, name = await _mkstemp(suffix, prefix, dir)
        try:
            f = await _open(fd, mode, buffering, encoding, None, newline)
        except BaseException:
            _loop.current().close_detached(fd)
            await _aos.unlink(name)
            raise
        f._stack.raw.name = name
        f.delete = delete
        close = f.close

        async def close_and_delete():
            try:
                await close()
            finally:
                if delete and delete_on_close and _os.path.lexists(name):
                    await _aos.unlink(name)

        f.close = close_and_delete
        return f

    cm = _NamedContextManager(make())
    cm._delete = delete
    return cm


class _NamedContextManager(ContextManager):
    __slots__ = ("_delete",)

    async def __aexit__(self, *exc):
        obj = self._obj
        try:
            await super().__aexit__(*exc)
        finally:
            name = obj._stack.raw.name
            if self._delete and await _aos.exists(name):
                await _aos.unlink(name)


class AsyncSpooledTemporaryFile(FileProtocol):
    """``tempfile.SpooledTemporaryFile``: in memory (calls made here, they cannot wait)
    until it rolls over to a file, after which, and for the write that rolls it over,
    each call runs off the loop."""

    def __init__(self, file, loop=None, executor=None):
        self._file = file

    def _off_loop(self):
        return self._file._rolled

    def __getattr__(self, name):
        attr = getattr(self._file, name)
        if not callable(attr) or name in ("fileno",):
            return attr

        async def method(*args, **kwargs):
            will_roll = name in ("write", "writelines") and not self._file._rolled
            if self._off_loop() or will_roll and self._would_roll(name, args):
                return await _loop.current().run_blocking(lambda: attr(*args, **kwargs))
            return attr(*args, **kwargs)

        return method

    def _would_roll(self, name, args):
        f = self._file
        if not f._max_size:
            return False
        data = args[0] if name == "write" else "".join(args[0]) if isinstance(args[0], str) else args[0]
        try:
            return f._file.tell() + len(data) > f._max_size
        except TypeError:
            return True

    @property
    def newlines(self):
        return self._file.newlines

    @property
    def name(self):
        return self._file.name

    @property
    def closed(self):
        return self._file.closed



def SpooledTemporaryFile(max_size=0, mode="w+b", buffering=-1, encoding=None, newline=None,
                         suffix=None, prefix=None, dir=None, loop=None, executor=None):
    async def make():
        return AsyncSpooledTemporaryFile(_tempfile.SpooledTemporaryFile(max_size, mode, buffering, encoding, newline,
                                                       suffix, prefix, dir))

    return ContextManager(make())


class AsyncTemporaryDirectory:
    """A temporary directory (``name``), removed by ``cleanup()`` / ``close()``."""

    def __init__(self, file, loop=None, executor=None):
        self.name = getattr(file, "name", file)  # a path, or (aiofiles') the sync object

    async def cleanup(self):
        await _loop.current().run_blocking(partial(_shutil.rmtree, self.name, ignore_errors=True), path=self.name)

    async def close(self):
        await self.cleanup()


class _DirContextManager(ContextManager):
    __slots__ = ()

    async def __aenter__(self):
        return (await self).name

    async def __aexit__(self, *exc):
        try:
            await self._obj.cleanup()
        finally:
            self._obj = None


def TemporaryDirectory(suffix=None, prefix=None, dir=None, loop=None, executor=None):
    """``async with TemporaryDirectory() as name``: made and removed off the loop."""

    async def make():
        name = await _loop.current().run_blocking(partial(_tempfile.mkdtemp, suffix, prefix, dir), path=dir)
        return AsyncTemporaryDirectory(name)

    return _DirContextManager(make())
