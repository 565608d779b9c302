"""``aopen.mount_events()``: the changes of the filesystems the loop's context has used
(blocked, recovered, gone), each one ``aopen_mount_event_submit`` request."""

import collections
import ctypes

from . import _abi, _loop
from ._abi import lib

MountEvent = collections.namedtuple(
    "MountEvent", "kind mount_point fstype source mount_id fs_id stuck stuck_since_ns at_ns dropped")
MountEvent.__doc__ = """One change of a filesystem: `kind` is "blocked" (a call has been in its
syscall past the library's threshold: `stuck` calls since `stuck_since_ns`), "recovered" (its
stuck calls returned) or "gone" (unmounted, or its server's connection aborted); the times
are CLOCK_MONOTONIC nanoseconds (``time.monotonic_ns()``); `dropped` counts the changes the
context's bounded queue dropped before this one."""

_KINDS = {1: "blocked", 2: "recovered", 3: "gone"}


async def mount_events(loop=None):
    """``async for event in aopen.mount_events():`` each change (a ``MountEvent``) of a
    filesystem the loop's context has charged a request to, in order, as the library sees
    it; changes while no iteration waits are kept in the context (bounded: see `dropped`).
    One iteration at a time per loop (a second gets ``OSError(EBUSY)``); cancelling the
    awaiting task cancels the pending request."""
    ctx = _loop.current(loop)
    if not _abi.has("aopen_mount_event_submit"):
        raise NotImplementedError("the loaded libaopen has no aopen_mount_event_submit")
    while True:
        ev = _abi.MountEvent()
        await ctx.call(lambda: lib.aopen_mount_event_submit(ctx.ctx, ctypes.byref(ev), None, None), keep=ev)
        yield MountEvent(_KINDS.get(ev.kind, str(ev.kind)), ev.mount_point.decode(errors="surrogateescape"),
                         ev.fstype.decode(errors="replace"), ev.source.decode(errors="replace"), ev.mount_id,
                         ev.fs_id, ev.stuck, ev.stuck_since_ns, ev.at_ns, ev.dropped)
