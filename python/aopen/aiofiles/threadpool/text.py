"""aiofiles' ``threadpool.text``: the text file's classes (``aopen._text``'s)."""

from aopen._alias import same_as
from aopen._text import AsyncTextIndirectIOWrapper, AsyncTextIOWrapper

__all__ = ["AsyncTextIOWrapper", "AsyncTextIndirectIOWrapper"]

same_as(__name__, "aopen.aiofiles.threadpool.text")
