"""The aiofiles drop-in: ``import aopen.aiofiles as aiofiles``, or ``aopen.aiofiles.install()``
once at start-up, after which every ``import aiofiles`` (and ``aiofiles.os``,
``aiofiles.threadpool.binary``, ...) in the process is this package.

Everything aiofiles 25.1 has, with its module layout, names and signatures: ``open``, ``os``
(``os.path`` included), ``ospath``, ``tempfile`` (``tempfile.temptypes``), ``base``,
``threadpool`` (``open``, ``wrap``, ``sync_open``, ``binary``, ``text``, ``utils``) and
``stdin`` / ``stdout`` / ``stderr`` and their ``_bytes`` forms. Files behave as the built-in
file does, result for result, under cancellation too (see ``aopen._raw``); every call is a
libaopen request, never a thread.
"""

import sys

from aopen._alias import same_as
from aopen.aiofiles import base, os, ospath, tempfile, threadpool
from aopen.aiofiles.threadpool import open, stderr, stderr_bytes, stdin, stdin_bytes, stdout, stdout_bytes

__all__ = ["open", "tempfile", "stdin", "stdout", "stderr", "stdin_bytes", "stdout_bytes",
           "stderr_bytes", "os", "ospath", "threadpool", "install"]

# aiofiles' modules, by their names under the package.
_MODULES = ("base", "os", "ospath", "tempfile", "tempfile.temptypes", "threadpool", "threadpool.binary",
            "threadpool.text", "threadpool.utils")


def install():
    """Makes ``aiofiles`` this package for the whole process, as ``uvloop.install()`` does for
    the loop: every ``import aiofiles`` or ``import aiofiles.X`` from now on gives the
    drop-in's module (the same object as ``aopen.aiofiles.X``). Modules that imported the
    real aiofiles before keep what they hold: call it first. Safe to call twice."""
    import importlib

    for name in [n for n in sys.modules if n == "aiofiles" or n.startswith("aiofiles.")]:
        del sys.modules[name]
    sys.modules["aiofiles"] = sys.modules[__name__]
    for sub in _MODULES:
        sys.modules["aiofiles." + sub] = importlib.import_module(f"{__name__}.{sub}")


same_as(__name__, "aopen.aiofiles")
