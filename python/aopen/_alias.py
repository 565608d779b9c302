"""One module under two names, for the aiofiles drop-in.

After ``sys.modules["aiofiles"] = aopen.aiofiles`` (the switch a user tries first), ``import
aiofiles.os`` finds ``aopen/aiofiles/os.py`` through the package's ``__path__`` and would
load a second copy of it named ``aiofiles.os``. Each file of ``aopen.aiofiles`` ends with
``same_as(__name__, CANONICAL)``: imported under another name, it puts the canonical module
in ``sys.modules`` in its place, and the import system returns that one. So every name a
program imports is one module object: a ``mock.patch("aiofiles.threadpool.sync_open")``
patches what ``open`` looks at, and ``isinstance`` sees one set of classes.
"""

import importlib
import sys


def same_as(name, canonical):
    """Makes the module being imported as `name` the module `canonical`."""
    if name != canonical:
        sys.modules[name] = importlib.import_module(canonical)
