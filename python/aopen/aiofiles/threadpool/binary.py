"""aiofiles' ``threadpool.binary``: the binary files' classes (``aopen._binary``'s)."""

from aopen._alias import same_as
from aopen._binary import (AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO, AsyncIndirectBufferedIOBase,
                           AsyncIndirectBufferedReader, AsyncIndirectFileIO)

__all__ = ["AsyncBufferedIOBase", "AsyncBufferedReader", "AsyncFileIO", "AsyncIndirectBufferedIOBase",
           "AsyncIndirectBufferedReader", "AsyncIndirectFileIO"]

same_as(__name__, "aopen.aiofiles.threadpool.binary")
