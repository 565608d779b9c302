"""``stat`` and ``lstat`` on libaopen: the calls ``aopen.os`` and ``aopen.ospath`` are built on,
in a module of their own so that neither of those imports the other's stat."""

import ctypes
import errno as _errno
import os as _os

from ._abi import Statx as _Statx, STATX_BASIC_STATS as _STATX_BASIC_STATS, lib as _lib, stat_result
from ._abi import unprototyped as _unprototyped
from ._loop import _FSENC, _FSERR, current as _context, fspath as _fspath, oserror, wrap

_AT_SYMLINK_NOFOLLOW = _os.AT_SYMLINK_NOFOLLOW if hasattr(_os, 'AT_SYMLINK_NOFOLLOW') else 0x100
_EAGAIN = _errno.EAGAIN
_stat_nowait = _unprototyped("aopen_stat_nowait")  # None: a library from before it


async def stat(path, *, dir_fd=None, follow_symlinks=True):
    """``os.stat(path, follow_symlinks=...)``; an int `path` is an open descriptor (fstat)."""
    if isinstance(path, int):
        from ._raw import fstat

        return await fstat(_context(), path)
    if dir_fd is not None:
        return await wrap(_os.stat)(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
    ctx = _context()
    p = path.encode(_FSENC, _FSERR) if type(path) is str and "\0" not in path else _fspath(path)
    flags = 0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW
    if ctx.ctx is not None and _stat_nowait is not None:
        # The nowait fast path: a path the kernel resolves from its caches to a file on a
        # local filesystem is stat'ed here, without a request (aopen_stat_nowait). Its
        # errors are the stat's (ENOENT from a cached negative lookup, ENOTDIR, ELOOP, ...).
        rc = _stat_nowait(ctx.ctx, p, flags, _STATX_BASIC_STATS, ctx.statx_ref)
        if rc == 0:
            return stat_result(ctx.statx)
        if rc != -_EAGAIN:
            raise oserror(-rc, p)
    buf = _Statx()
    submit = lambda: _lib.aopen_stat_submit(ctx.ctx, p, flags, _STATX_BASIC_STATS, ctypes.byref(buf), None, None)
    await ctx.call(submit, p, keep=buf)
    return stat_result(buf)


async def lstat(path):
    """``os.lstat(path)``: a symlink itself."""
    return await stat(path, follow_symlinks=False)
