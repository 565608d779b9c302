"""``aopen.ospath``: the functions of ``aiofiles.ospath`` (``os.path``), each on libaopen."""

import os as _os
import stat as _statmod

from . import _stat as _st
from ._loop import wrap

__all__ = ["abspath", "getatime", "getctime", "getmtime", "getsize", "exists", "isdir",
           "isfile", "islink", "ismount", "samefile", "sameopenfile"]


async def exists(path):
    """``os.path.exists(path)``."""
    try:
        await _st.stat(path)
    except (OSError, ValueError):
        return False
    return True


async def isfile(path):
    """``os.path.isfile(path)``."""
    try:
        return _statmod.S_ISREG((await _st.stat(path)).st_mode)
    except (OSError, ValueError):
        return False


async def isdir(path):
    """``os.path.isdir(path)``."""
    try:
        return _statmod.S_ISDIR((await _st.stat(path)).st_mode)
    except (OSError, ValueError):
        return False


async def getsize(path):
    """``os.path.getsize(path)``."""
    return (await _st.stat(path)).st_size


async def islink(path):
    """``os.path.islink(path)``."""
    try:
        return _statmod.S_ISLNK((await _st.lstat(path)).st_mode)
    except (OSError, ValueError):
        return False


async def getatime(path):
    return (await _st.stat(path)).st_atime


async def getmtime(path):
    return (await _st.stat(path)).st_mtime


async def getctime(path):
    return (await _st.stat(path)).st_ctime


async def samefile(f1, f2):
    """``os.path.samefile``."""
    s1, s2 = await _st.stat(f1), await _st.stat(f2)
    return _os.path.samestat(s1, s2)


async def sameopenfile(fp1, fp2):
    """``os.path.sameopenfile`` (two descriptors)."""
    s1, s2 = await _st.stat(fp1), await _st.stat(fp2)
    return _os.path.samestat(s1, s2)


async def ismount(path):
    """``os.path.ismount``, with its two stats (the path's, and its parent's) on libaopen."""
    try:
        s1 = await _st.lstat(path)
    except (OSError, ValueError):
        return False
    if _statmod.S_ISLNK(s1.st_mode):
        return False
    path = _os.fspath(path)
    parent = _os.path.join(path, b".." if isinstance(path, bytes) else "..")
    try:
        s2 = await _st.lstat(parent)
    except (OSError, ValueError):
        return False
    return s1.st_dev != s2.st_dev or s1.st_ino == s2.st_ino


async def abspath(path):
    """``os.path.abspath`` (getcwd can wait on the working directory's filesystem)."""
    return await wrap(_os.path.abspath)(path)
