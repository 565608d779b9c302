"""aiofiles' ``os``: this name is ``aopen.os`` itself (``import aopen.aiofiles.os`` gives that
module)."""

from aopen._alias import same_as

same_as(__name__, "aopen.os")
