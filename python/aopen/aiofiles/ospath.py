"""aiofiles' ``ospath``: this name is ``aopen.ospath`` itself."""

from aopen._alias import same_as

same_as(__name__, "aopen.ospath")
