"""aiofiles' ``tempfile`` package: ``TemporaryFile``, ``NamedTemporaryFile``,
``SpooledTemporaryFile``, ``TemporaryDirectory`` (``aopen.tempfile``'s) and ``temptypes``."""

from aopen._alias import same_as
from aopen.tempfile import NamedTemporaryFile, SpooledTemporaryFile, TemporaryDirectory, TemporaryFile

__all__ = ["NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile", "TemporaryDirectory"]

same_as(__name__, "aopen.aiofiles.tempfile")
