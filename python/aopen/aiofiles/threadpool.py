"""aiofiles' ``threadpool`` names: ``open``, ``wrap`` and the stdio files (no thread pool
behind them: libaopen's workers)."""

from .._binary import AsyncBufferedIOBase, AsyncBufferedReader, AsyncFileIO  # noqa: F401
from .._open import open, stderr, stderr_bytes, stdin, stdin_bytes, stdout, stdout_bytes, wrap  # noqa: F401
from .._text import AsyncTextIOWrapper  # noqa: F401

__all__ = ("open", "stdin", "stdout", "stderr", "stdin_bytes", "stdout_bytes", "stderr_bytes")
