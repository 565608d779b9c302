"""The running loop's context's statistics, as plain Python values: ``aopen.stats()`` and
``aopen.blocked_mounts()``."""

import ctypes

from . import _abi, _loop
from ._abi import lib


def stats(loop=None):
    """The loop's context's ``aopen_stats`` as a dict: counters, gauges, and the two
    histograms (``queue_wait_us``, ``service_us``) as lists of log2-microsecond buckets."""
    ctx = _loop.current(loop)
    s = _abi.Stats()
    _loop.check(lib.aopen_stats(ctx.ctx, ctypes.byref(s)), "aopen_stats")
    names = _abi.STATS_COUNTERS + _abi.STATS_GAUGES + ["owed_closes", "inline_completions", "buffer_bytes",
                                                         "abandoned_buffer_bytes"]
    out = {n: getattr(s, n) for n in names}
    out["queue_wait_us"] = list(s.queue_wait_us)
    out["service_us"] = list(s.service_us)
    return out


def blocked_mounts(min_blocked_ms=1000, loop=None):
    """The mounts with requests queued or in a syscall for at least ``min_blocked_ms``,
    oldest first, as dicts (``aopen_stats_mounts``)."""
    ctx = _loop.current(loop)
    found = []

    def one(m, _user):
        m = m.contents
        found.append({
            "mount_point": (m.mount_point or b"").decode(errors="replace"),
            "fstype": (m.fstype or b"").decode(errors="replace"),
            "mount_id": m.mount_id,
            "oldest_ms": m.oldest_ms,
            "queued": m.queued,
            "running": m.running,
            "abandoned": m.abandoned,
            "blocked": m.blocked,
        })

    _loop.check(lib.aopen_stats_mounts(ctx.ctx, min_blocked_ms, _abi.MOUNT_CB(one), None), "aopen_stats_mounts")
    return found
