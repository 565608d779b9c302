"""The aiofiles drop-in: ``import aopen.aiofiles as aiofiles``.

Everything aiofiles 25.1 documents, with its names and signatures: ``open``, ``os``
(``os.path`` included), ``ospath``, ``tempfile``, ``stdin`` / ``stdout`` / ``stderr`` and
their ``_bytes`` forms, and ``threadpool`` (``open``, ``wrap``). Files behave as the
built-in file does, result for result; every call is a libaopen request, never a thread.
"""

import sys as _sys

from .. import os, ospath, tempfile
from .._open import open, stderr, stderr_bytes, stdin, stdin_bytes, stdout, stdout_bytes
from . import threadpool

# `import aopen.aiofiles.os` and friends, as `import aiofiles.os`.
for _name, _mod in (("os", os), ("ospath", ospath), ("tempfile", tempfile)):
    _sys.modules[f"{__name__}.{_name}"] = _mod

__all__ = ["open", "tempfile", "stdin", "stdout", "stderr", "stdin_bytes", "stdout_bytes",
           "stderr_bytes", "os", "ospath", "threadpool"]
