"""aiofiles' ``threadpool.utils``: the class decorators its classes (and projects' own
wrappers) are built with. A delegated method runs ``self._file``'s method on libaopen's
pool (charged to its descriptor's filesystem), not on an executor."""

from aopen._alias import same_as
from aopen._binary import _run_sync

__all__ = ["delegate_to_executor", "proxy_method_directly", "proxy_property_directly",
           "cond_delegate_to_executor"]


def delegate_to_executor(*attrs):
    """Each of `attrs` becomes a coroutine method running ``self._file``'s off the loop."""
    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, _delegate(name))
        return cls

    return cls_builder


def proxy_method_directly(*attrs):
    """Each of `attrs` becomes a plain method calling ``self._file``'s."""
    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, _proxy(name))
        return cls

    return cls_builder


def proxy_property_directly(*attrs):
    """Each of `attrs` becomes a property reading ``self._file``'s."""
    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, property(lambda self, _n=name: getattr(self._file, _n)))
        return cls

    return cls_builder


def cond_delegate_to_executor(*attrs):
    """For spooled temporary files: off the loop once the file rolled over to disk, else a
    plain call (in memory, it cannot wait)."""
    def cls_builder(cls):
        for name in attrs:
            setattr(cls, name, _cond_delegate(name))
        return cls

    return cls_builder


def _delegate(name):
    async def method(self, *args, **kwargs):
        return await _run_sync(self._file, name, args, kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _proxy(name):
    def method(self, *args, **kwargs):
        return getattr(self._file, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


def _cond_delegate(name):
    async def method(self, *args, **kwargs):
        if self._file._rolled:
            return await _run_sync(self._file, name, args, kwargs)
        return getattr(self._file, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


same_as(__name__, "aopen.aiofiles.threadpool.utils")
