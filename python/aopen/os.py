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

import asyncio
import ctypes
import errno as _errno
import os as _os
import stat as _statmod
import struct

from . import ospath as path
from ._abi import lib as _lib, stat_result  # noqa: F401  (stat_result: aopen.os's, as before)
from ._loop import _FSENC, _FSERR, _close_nowait, _open_nowait, current as _context, fspath as _fspath, oserror, wrap
from ._raw import _in_memory
from ._stat import _AT_SYMLINK_NOFOLLOW, lstat, stat
from .ospath import exists, getsize, isdir, isfile  # noqa: F401  (aiofiles.os has them too)

__all__ = [
    "path", "stat", "lstat", "rename", "renames", "replace", "remove", "unlink", "mkdir",
    "makedirs", "rmdir", "removedirs", "symlink", "readlink", "link", "listdir", "scandir",
    "access", "wrap", "getcwd", "statvfs", "sendfile",
    "exists", "isfile", "isdir", "getsize", "DirEntry",
]

_AT_REMOVEDIR = 0x200  # not in the os module; the same value on every Linux architecture
# Not in the os module of every Python (3.11 has none of them); the kernel's values, the same
# on every Linux architecture.
_AT_SYMLINK_FOLLOW = getattr(_os, "AT_SYMLINK_FOLLOW", 0x400)
_AT_EACCESS = getattr(_os, "AT_EACCESS", 0x200)


async def unlink(path):
    """``os.unlink(path)``."""
    ctx, p = _context(), _fspath(path)
    await ctx.call(lambda: _lib.aopen_unlink_submit(ctx.ctx, p, 0, None, None), p)


remove = unlink


async def rmdir(path):
    """``os.rmdir(path)``."""
    ctx, p = _context(), _fspath(path)
    await ctx.call(lambda: _lib.aopen_unlink_submit(ctx.ctx, p, _AT_REMOVEDIR, None, None), p)


async def mkdir(path, mode=0o777):
    """``os.mkdir(path, mode)``."""
    ctx, p = _context(), _fspath(path)
    await ctx.call(lambda: _lib.aopen_mkdir_submit(ctx.ctx, p, mode, None, None), p)


async def rename(src, dst):
    """``os.rename(src, dst)``."""
    ctx, s, d = _context(), _fspath(src), _fspath(dst)
    await ctx.call(lambda: _lib.aopen_rename_submit(ctx.ctx, s, d, 0, None, None), s, path2=d)


replace = rename  # on Linux rename(2) replaces an existing destination


_O_DIRECTORY = _os.O_DIRECTORY
_DIRENT_BUF = 64 * 1024
_DIRENT_HEAD = struct.Struct("<QqHB")  # linux_dirent64: d_ino, d_off, d_reclen, d_type
_DT_TO_MODE = {1: _statmod.S_IFIFO, 2: _statmod.S_IFCHR, 4: _statmod.S_IFDIR, 6: _statmod.S_IFBLK,
               8: _statmod.S_IFREG, 10: _statmod.S_IFLNK, 12: _statmod.S_IFSOCK}


async def _entries(path):
    """(name, inode, mode type or 0) of each entry of directory `path`, less . and ..: the
    directory is opened, read with getdents64 and closed by libaopen requests."""
    ctx, p = _context(), _fspath(path)
    fd, _ = await ctx.open_fd(p, _os.O_RDONLY | _O_DIRECTORY | _os.O_CLOEXEC, 0)
    out = []
    try:
        buf = ctypes.create_string_buffer(_DIRENT_BUF)
        while True:
            submit = lambda: _lib.aopen_getdents_submit(ctx.ctx, fd, buf, _DIRENT_BUF, None, None)
            n = await ctx.call(submit, p, keep=buf)
            if n == 0:
                break
            data, off = buf.raw[:n], 0
            while off < n:
                ino, _, reclen, dtype = _DIRENT_HEAD.unpack_from(data, off)
                name = data[off + _DIRENT_HEAD.size:off + reclen].split(b"\0", 1)[0]
                off += reclen
                if name not in (b".", b".."):
                    out.append((name, ino, _DT_TO_MODE.get(dtype, 0)))
    except BaseException:
        ctx.close_detached(fd)  # on a worker: this task may be cancelled, or the loop closing
        raise
    await ctx.close_fd(fd)
    return out


async def listdir(path="."):
    """``os.listdir(path)``: the names in directory `path`, as ``str`` unless `path` is
    ``bytes``, in directory order, without ``.`` and ``..``. On the loop thread where that
    cannot wait (``_listdir_here``), else ``os.listdir`` itself, as one request on a libaopen
    worker charged to the directory's filesystem (one hop to the pool, where an open,
    getdents calls and a close as requests of their own would make three or more)."""
    if isinstance(path, int):
        return await _context().run_blocking(lambda: _os.listdir(path), fd=path)
    names = _listdir_here(path)
    if names is not None:
        return names
    return await _context().run_blocking(lambda: _os.listdir(path), path=path)


_LISTDIR_FLAGS = _os.O_RDONLY | _os.O_DIRECTORY | _os.O_CLOEXEC  # (opendir's, less O_NONBLOCK)


def _listdir_here(path):
    """``os.listdir(path)`` on the loop thread, for a ``str`` path (or a path-like giving
    one) that the library opens from its caches (``aopen_open_nowait``: a directory on a
    local filesystem) to a directory on tmpfs or ramfs. Their entries live in memory, so
    getdents reads no device, as the library's plain reads of their files; the names. A
    path the caches answer with an error (``ENOENT``, ``ENOTDIR``, ...) raises what
    ``os.listdir`` raises. None where the library cannot tell, or the directory is on
    another filesystem: then the pool's ``os.listdir``."""
    if type(path) is not str:
        if not isinstance(path, _os.PathLike):
            return None
        path = _os.fspath(path)
        if type(path) is not str:
            return None
    ctx = _context()
    if not path or "\0" in path or ctx.ctx is None or _open_nowait is None or _close_nowait is None:
        return None
    fd = _open_nowait(ctx.ctx, path.encode(_FSENC, _FSERR), _LISTDIR_FLAGS, 0)
    if fd < 0:
        if fd == -_errno.EAGAIN:
            return None
        raise oserror(-fd, path)
    try:
        return _os.listdir(fd) if _in_memory(fd) else None
    finally:
        if _close_nowait(ctx.ctx, fd) == -_errno.EAGAIN:
            ctx.close_detached(fd)


class DirEntry:
    """An entry ``scandir`` found, like ``os.DirEntry``: ``name``, ``path``, ``inode()``,
    ``is_dir()``, ``is_file()`` and ``is_symlink()`` answer from what scandir read and never
    do I/O. Unlike ``os.DirEntry.stat()``, which can block, ``stat()`` here is a coroutine
    (a libaopen stat): ``st = await entry.stat()``."""

    __slots__ = ("name", "path", "_ino", "_type", "_target")

    def __init__(self, name, path, ino, mode_type, target):
        self.name, self.path, self._ino = name, path, ino
        self._type = mode_type  # the entry's own file type (S_IFMT bits)
        self._target = target  # a symlink's target's type; None if dangling

    def inode(self):
        return self._ino

    def _mode(self, follow_symlinks):
        return self._target if follow_symlinks and self._type == _statmod.S_IFLNK else self._type

    def is_dir(self, *, follow_symlinks=True):
        return self._mode(follow_symlinks) == _statmod.S_IFDIR

    def is_file(self, *, follow_symlinks=True):
        return self._mode(follow_symlinks) == _statmod.S_IFREG

    def is_symlink(self):
        return self._type == _statmod.S_IFLNK

    async def stat(self, *, follow_symlinks=True):
        return await (stat if follow_symlinks else lstat)(self.path)

    def __fspath__(self):
        return self.path

    def __repr__(self):
        return f"<aopen.os.DirEntry {self.name!r}>"


class _ScandirIterator:
    """What ``os.scandir`` returns: iterable once, and a context manager."""

    def __init__(self, entries):
        self._it = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self):
        self._it = iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


async def _type_of(path, follow):
    try:
        return _statmod.S_IFMT((await (stat if follow else lstat)(path)).st_mode)
    except (OSError, ValueError):
        return None


async def scandir(path="."):
    """``os.scandir(path)``: ``for entry in await aopen.os.scandir(p)``, or ``with``. The
    types ``is_dir`` and friends report come from the directory itself where the filesystem
    records them; symlinks, and entries of filesystems that do not, are stat'ed by libaopen
    requests here, before it returns."""
    want_bytes = isinstance(path, bytes)
    base = _fspath(path)
    raw = await _entries(path)
    paths = [_os.path.join(base, n) for n, _, _ in raw]  # as os.scandir: "./name" for "."
    if not want_bytes:
        paths = [_os.fsdecode(p) for p in paths]
    unknown = [i for i, (_, _, t) in enumerate(raw) if t in (0, _statmod.S_IFLNK)]
    own = await asyncio.gather(*(_type_of(paths[i], False) for i in unknown))
    types = [t for _, _, t in raw]
    for i, t in zip(unknown, own):
        types[i] = t or 0
    links = [i for i, t in enumerate(types) if t == _statmod.S_IFLNK]
    targets = dict(zip(links, await asyncio.gather(*(_type_of(paths[i], True) for i in links))))
    entries = [
        DirEntry(n if want_bytes else _os.fsdecode(n), paths[i], ino, types[i], targets.get(i))
        for i, (n, ino, _) in enumerate(raw)
    ]
    return _ScandirIterator(entries)


# --- the rest of aiofiles.os -----------------------------------------------------------


def _has(name):
    return hasattr(_lib, name)


async def readlink(path, *, dir_fd=None):
    """``os.readlink(path)``: ``str`` unless `path` is ``bytes``."""
    if dir_fd is not None or not _has("aopen_readlink_submit"):
        return await wrap(_os.readlink)(path, **({"dir_fd": dir_fd} if dir_fd is not None else {}))
    ctx, p = _context(), _fspath(path)
    size = 4096
    while True:
        buf = ctypes.create_string_buffer(size)
        n = await ctx.call(lambda: _lib.aopen_readlink_submit(ctx.ctx, p, buf, size, None, None), p, keep=buf)
        if n < size:
            out = buf.raw[:n]
            return out if isinstance(path, bytes) else _os.fsdecode(out)
        size *= 4


async def symlink(src, dst, target_is_directory=False, *, dir_fd=None):
    """``os.symlink(src, dst)``."""
    if dir_fd is not None or not _has("aopen_symlink_submit"):
        return await wrap(_os.symlink)(src, dst, target_is_directory, **({"dir_fd": dir_fd} if dir_fd is not None else {}))
    ctx, s, d = _context(), _fspath(src), _fspath(dst)
    await ctx.call(lambda: _lib.aopen_symlink_submit(ctx.ctx, s, d, None, None), s, path2=d)


async def link(src, dst, *, src_dir_fd=None, dst_dir_fd=None, follow_symlinks=True):
    """``os.link(src, dst)``."""
    if src_dir_fd is not None or dst_dir_fd is not None or not _has("aopen_link_submit"):
        return await wrap(_os.link)(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd,
                                    follow_symlinks=follow_symlinks)
    ctx, s, d = _context(), _fspath(src), _fspath(dst)
    flags = _AT_SYMLINK_FOLLOW if follow_symlinks else 0
    await ctx.call(lambda: _lib.aopen_link_submit(ctx.ctx, s, d, flags, None, None), s, path2=d)


async def access(path, mode, *, dir_fd=None, effective_ids=False, follow_symlinks=True):
    """``os.access(path, mode)``: True or False, as the os module (errors are False)."""
    if dir_fd is not None or not _has("aopen_access_submit"):
        return await wrap(_os.access)(path, mode, dir_fd=dir_fd, effective_ids=effective_ids,
                                      follow_symlinks=follow_symlinks)
    ctx, p = _context(), _fspath(path)
    flags = (_AT_EACCESS if effective_ids else 0) | (0 if follow_symlinks else _AT_SYMLINK_NOFOLLOW)
    try:
        await ctx.call(lambda: _lib.aopen_access_submit(ctx.ctx, p, mode, flags, None, None), p)
    except OSError:
        return False
    return True


async def getcwd():
    """``os.getcwd()`` (getcwd(2) can wait on the filesystem of the working directory)."""
    return await _context().run_blocking(_os.getcwd, path=".")


def _statvfs_result(b):
    fsid = (b.f_fsid[0] & 0xFFFFFFFF) | ((b.f_fsid[1] & 0xFFFFFFFF) << 32)
    seq = (b.f_bsize, b.f_frsize or b.f_bsize, b.f_blocks, b.f_bfree, b.f_bavail, b.f_files,
           b.f_ffree, b.f_ffree, b.f_flags & ~0x20, b.f_namelen)  # ST_VALID is not reported
    return _os.statvfs_result(seq, {"f_fsid": fsid})


async def statvfs(path):
    """``os.statvfs(path)``; an int `path` is an open descriptor."""
    from ._abi import Statfs

    fd = isinstance(path, int)
    if not _has("aopen_fstatfs_submit" if fd else "aopen_statfs_submit"):
        return await wrap(_os.statvfs)(path)
    ctx, buf = _context(), Statfs()
    if fd:
        await ctx.call(lambda: _lib.aopen_fstatfs_submit(ctx.ctx, path, ctypes.byref(buf), None, None), keep=buf)
    else:
        p = _fspath(path)
        await ctx.call(lambda: _lib.aopen_statfs_submit(ctx.ctx, p, ctypes.byref(buf), None, None), p, keep=buf)
    return _statvfs_result(buf)


async def sendfile(out_fd, in_fd, offset, count, *args, **kwargs):
    """``os.sendfile(out_fd, in_fd, offset, count)``: the bytes sent. A socket `out_fd` that
    would block is waited for by the worker (the socket's own timeouts apply)."""
    if args or kwargs or not _has("aopen_sendfile_submit"):
        return await wrap(_os.sendfile)(out_fd, in_fd, offset, count, *args, **kwargs)
    ctx = _context()
    off = -1 if offset is None else offset
    return await ctx.call(lambda: _lib.aopen_sendfile_submit(ctx.ctx, out_fd, in_fd, off, count, None, None))


async def makedirs(name, mode=0o777, exist_ok=False):
    """``os.makedirs``: each mkdir a libaopen request."""
    head, tail = _os.path.split(name)
    if not tail:
        head, tail = _os.path.split(head)
    if head and tail and not await exists(head):
        try:
            await makedirs(head, exist_ok=exist_ok)
        except FileExistsError:
            pass
        cdir = _os.curdir if not isinstance(head, bytes) else _os.curdir.encode()
        if tail == cdir:
            return
    try:
        await mkdir(name, mode)
    except OSError:
        if not exist_ok or not await isdir(name):
            raise


async def removedirs(name):
    """``os.removedirs``: rmdir `name`, then each empty parent."""
    await rmdir(name)
    head, tail = _os.path.split(name)
    if not tail:
        head, tail = _os.path.split(head)
    while head and tail:
        try:
            await rmdir(head)
        except OSError:
            break
        head, tail = _os.path.split(head)


async def renames(old, new):
    """``os.renames``: makedirs for `new`'s parent, rename, removedirs of `old`'s parent."""
    head, tail = _os.path.split(new)
    if head and tail and not await exists(head):
        await makedirs(head)
    await rename(old, new)
    head, tail = _os.path.split(old)
    if head and tail:
        try:
            await removedirs(head)
        except OSError:
            pass

