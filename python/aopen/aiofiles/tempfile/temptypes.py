"""aiofiles' ``tempfile.temptypes``: the spooled file's and the directory's classes."""

from aopen._alias import same_as
from aopen.tempfile import AsyncSpooledTemporaryFile, AsyncTemporaryDirectory

__all__ = ["AsyncSpooledTemporaryFile", "AsyncTemporaryDirectory"]

same_as(__name__, "aopen.aiofiles.tempfile.temptypes")
