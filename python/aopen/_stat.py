"""``stat`` and ``lstat`` on libaopen: the calls ``aopen.os`` and ``aopen.ospath`` are built on,
in a module of their own so that neither of those imports the other's stat."""

import ctypes
import errno as _errno
import os as _os

from ._abi import Statx as _Statx, STATX_BASIC_STATS as _STATX_BASIC_STATS, lib as _lib, stat_result
from ._loop import current as _context, fspath as _fspath, oserror, wrap

_O_PATH = getattr(_os, "O_PATH", 0o10000000)  # Linux's value where os lacks it
_stat_nowait = True  # whether aopen_open_nowait takes O_PATH (see _stat)
_AT_SYMLINK_NOFOLLOW = _os.AT_SYMLINK_NOFOLLOW if hasattr(_os, 'AT_SYMLINK_NOFOLLOW') else 0x100


async def _stat(path, flags):
    ctx = _context()
    p = _fspath(path)
    global _stat_nowait
    if _stat_nowait and ctx.ctx is not None:
        # The nowait fast path: where libaopen can open the path with O_PATH from the
        # kernel's caches on a local filesystem, fstat of that descriptor never waits either
        # (O_NOFOLLOW: the link itself, as lstat). Its errors are stat's (ENOENT, EACCES on
        # a directory, ENOTDIR, ELOOP, ENAMETOOLONG). A library whose aopen_open_nowait
        # refuses O_PATH (-EINVAL: libaopen 0.1 adds O_NONBLOCK to its opens) never gets
        # asked again; every stat is then a request.
        oflags = _O_PATH | (_os.O_NOFOLLOW if flags & _AT_SYMLINK_NOFOLLOW else 0)
        fd = _lib.aopen_open_nowait(ctx.ctx, p, oflags, 0)
        if fd >= 0:
            try:
                return _os.fstat(fd)
            finally:
                if _lib.aopen_close_nowait(ctx.ctx, fd) < 0:
                    ctx.close_detached(fd)
        if fd == -_errno.EINVAL:
            _stat_nowait = False
        elif fd != -_errno.EAGAIN:
            raise oserror(-fd, path)
    buf = _Statx()
    submit = lambda: _lib.aopen_stat_submit(ctx.ctx, p, flags, _STATX_BASIC_STATS, ctypes.byref(buf), None, None)
    await ctx.call(submit, p, keep=buf)
    return stat_result(buf)


async def stat(path, *, dir_fd=None, follow_symlinks=True):
    """``os.stat(path, follow_symlinks=...)``; an int `path` is an open descriptor (fstat)."""
    if isinstance(path, int):
        from ._raw import fstat

        return await fstat(_context(), path)
    if dir_fd is not None:
        return await wrap(_os.stat)(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    return await _stat(path, 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW)


async def lstat(path):
    """``os.lstat(path)``: a symlink itself."""
    return await _stat(path, _AT_SYMLINK_NOFOLLOW)
