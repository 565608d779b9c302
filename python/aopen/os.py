"""``aopen.os``: the file-system calls of ``aiofiles.os``, run on libaopen's workers.

    import aopen.os

    st = await aopen.os.stat("/mnt/slow/file")       # never blocks the event loop
    await aopen.os.rename("/mnt/slow/a", "/mnt/slow/b")

Each call is one libaopen request on the running loop's context: it never blocks the loop,
and cancelling the awaiting task cancels the request at once. A cancelled call that was
already running may still take effect when its syscall returns (as with io_uring and
libuv); a stat's result reaches Python memory only when it is delivered. Errors are
``OSError`` with the errno and the path, as from the ``os`` module.
"""

import ctypes
import os as _os
import stat as _statmod

from . import _context, _lib

__all__ = [
    "stat", "lstat", "unlink", "remove", "rmdir", "mkdir", "rename", "replace",
    "exists", "isfile", "isdir", "getsize",
]

_AT_SYMLINK_NOFOLLOW = 0x100
_AT_REMOVEDIR = 0x200
_STATX_BASIC_STATS = 0x7FF


class _Timestamp(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32), ("_reserved", ctypes.c_int32)]


class _Statx(ctypes.Structure):
    """The kernel's struct statx (256 bytes)."""

    _fields_ = [
        ("stx_mask", ctypes.c_uint32),
        ("stx_blksize", ctypes.c_uint32),
        ("stx_attributes", ctypes.c_uint64),
        ("stx_nlink", ctypes.c_uint32),
        ("stx_uid", ctypes.c_uint32),
        ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16),
        ("_spare0", ctypes.c_uint16),
        ("stx_ino", ctypes.c_uint64),
        ("stx_size", ctypes.c_uint64),
        ("stx_blocks", ctypes.c_uint64),
        ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", _Timestamp),
        ("stx_btime", _Timestamp),
        ("stx_ctime", _Timestamp),
        ("stx_mtime", _Timestamp),
        ("stx_rdev_major", ctypes.c_uint32),
        ("stx_rdev_minor", ctypes.c_uint32),
        ("stx_dev_major", ctypes.c_uint32),
        ("stx_dev_minor", ctypes.c_uint32),
        ("_rest", ctypes.c_uint8 * 112),
    ]


assert ctypes.sizeof(_Statx) == 256


def _stat_result(x):
    def ns(t):
        return t.tv_sec * 1_000_000_000 + t.tv_nsec

    a, m, c = ns(x.stx_atime), ns(x.stx_mtime), ns(x.stx_ctime)
    seq = (
        x.stx_mode, x.stx_ino, _os.makedev(x.stx_dev_major, x.stx_dev_minor), x.stx_nlink,
        x.stx_uid, x.stx_gid, x.stx_size, a // 10**9, m // 10**9, c // 10**9,
    )
    extra = {
        "st_atime": a / 1e9, "st_mtime": m / 1e9, "st_ctime": c / 1e9,
        "st_atime_ns": a, "st_mtime_ns": m, "st_ctime_ns": c,
        "st_blksize": x.stx_blksize, "st_blocks": x.stx_blocks,
        "st_rdev": _os.makedev(x.stx_rdev_major, x.stx_rdev_minor),
    }
    return _os.stat_result(seq, extra)


async def _stat(path, flags):
    ctx = _context()
    p = _os.fsencode(path)
    buf = _Statx()
    submit = lambda: _lib.aopen_stat_submit(ctx.ctx, p, flags, _STATX_BASIC_STATS, ctypes.byref(buf), None, None)
    await ctx.call(submit, p, keep=buf)
    return _stat_result(buf)


async def stat(path):
    """``os.stat(path)``, following symlinks."""
    return await _stat(path, 0)


async def lstat(path):
    """``os.lstat(path)``: a symlink itself."""
    return await _stat(path, _AT_SYMLINK_NOFOLLOW)


async def unlink(path):
    """``os.unlink(path)``."""
    ctx, p = _context(), _os.fsencode(path)
    await ctx.call(lambda: _lib.aopen_unlink_submit(ctx.ctx, p, 0, None, None), p)


remove = unlink


async def rmdir(path):
    """``os.rmdir(path)``."""
    ctx, p = _context(), _os.fsencode(path)
    await ctx.call(lambda: _lib.aopen_unlink_submit(ctx.ctx, p, _AT_REMOVEDIR, None, None), p)


async def mkdir(path, mode=0o777):
    """``os.mkdir(path, mode)``."""
    ctx, p = _context(), _os.fsencode(path)
    await ctx.call(lambda: _lib.aopen_mkdir_submit(ctx.ctx, p, mode, None, None), p)


async def rename(src, dst):
    """``os.rename(src, dst)``."""
    ctx, s, d = _context(), _os.fsencode(src), _os.fsencode(dst)
    await ctx.call(lambda: _lib.aopen_rename_submit(ctx.ctx, s, d, 0, None, None), s)


replace = rename  # on Linux rename(2) replaces an existing destination


async def exists(path):
    """``os.path.exists(path)``."""
    try:
        await stat(path)
    except (OSError, ValueError):
        return False
    return True


async def isfile(path):
    """``os.path.isfile(path)``."""
    try:
        return _statmod.S_ISREG((await stat(path)).st_mode)
    except (OSError, ValueError):
        return False


async def isdir(path):
    """``os.path.isdir(path)``."""
    try:
        return _statmod.S_ISDIR((await stat(path)).st_mode)
    except (OSError, ValueError):
        return False


async def getsize(path):
    """``os.path.getsize(path)``."""
    return (await stat(path)).st_size
