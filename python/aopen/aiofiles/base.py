"""aiofiles' ``base``: ``AsyncBase`` and ``AsyncIndirectBase`` (every async file's class
derives from them), ``AiofilesContextManager`` (what ``open`` returns) and ``wrap`` (a
blocking function made a coroutine, run on libaopen's pool)."""

from aopen._alias import same_as
from aopen._binary import AsyncBase, AsyncIndirectBase
from aopen._loop import wrap
from aopen._open import ContextManager as AiofilesContextManager

__all__ = ["AsyncBase", "AsyncIndirectBase", "AiofilesContextManager", "wrap"]

same_as(__name__, "aopen.aiofiles.base")
