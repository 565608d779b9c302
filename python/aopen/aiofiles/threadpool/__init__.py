"""aiofiles' ``threadpool``: ``open``, ``wrap``, the stdio files and the file classes (no
thread pool behind them: libaopen's workers).

``sync_open`` is the seam aiofiles' tests patch (its README's recipe,
``mock.patch("aiofiles.threadpool.sync_open", ...)``): ``open`` looks at it on every call,
and while it is not the built-in ``open``, calls it on libaopen's pool and gives what it
returns to ``wrap()``, as aiofiles does.
"""

import builtins

from aopen._alias import same_as
from aopen._open import open, stderr, stderr_bytes, stdin, stdin_bytes, stdout, stdout_bytes, wrap
from aopen.aiofiles.threadpool.binary import (AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO,
                                              AsyncIndirectBufferedIOBase, AsyncIndirectBufferedReader,
                                              AsyncIndirectFileIO)
from aopen.aiofiles.threadpool.text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper

sync_open = builtins.open

__all__ = ("open", "stdin", "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes")

same_as(__name__, "aopen.aiofiles.threadpool")
