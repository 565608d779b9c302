"""The C ABI: loading libaopen, its structs as ctypes, and each function's prototype.

Nothing here runs a request; ``_loop`` does. Each struct is checked against the library at
load where it exports ``aopen_struct_layout`` (the size, and the offset of every named
field): a header change then fails the import instead of corrupting memory. ``LAYOUT`` says,
per struct, "checked" or "unchecked" (a library without that export, or a struct it does not
describe). Calls the loaded library may lack (added after it was built) are bound only where
their symbol exists: ``has("aopen_readlink_submit")``; the callers fall back without them.
"""

import ctypes
import errno
import os
import struct
from pathlib import Path

OP_OPEN = 1
OP_CLOSE = 2
STATX_BASIC_STATS = 0x7FF  # statx(2) mask; from the kernel's ABI, the same on every arch


class Options(ctypes.Structure):
    _fields_ = [
        ("threads", ctypes.c_uint32),
        ("max_threads", ctypes.c_uint32),
        ("queue_depth", ctypes.c_uint32),
        ("timeout_ms", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("eventfd", ctypes.c_int32),
        ("per_mount_threads", ctypes.c_uint32),
        ("buffer_budget_kib", ctypes.c_uint32),
        ("blocked_ms", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 3),
    ]


HIST_BUCKETS = 32
STATS_COUNTERS = ["submitted", "delivered", "cancelled", "timed_out"]
STATS_GAUGES = [
    "queued", "queued_over_share", "running", "threads", "idle_threads", "abandoned_threads",
    "peak_threads", "mounts", "per_mount_threads", "process_abandoned_threads",
    "process_abandoned_cap", "blocked_running",
]


class Stats(ctypes.Structure):
    _fields_ = (
        [(n, ctypes.c_uint64) for n in STATS_COUNTERS]
        + [(n, ctypes.c_uint32) for n in STATS_GAUGES]
        + [
            ("queue_wait_us", ctypes.c_uint64 * HIST_BUCKETS),
            ("service_us", ctypes.c_uint64 * HIST_BUCKETS),
            ("owed_closes", ctypes.c_uint64),
            ("inline_completions", ctypes.c_uint64),
            ("buffer_bytes", ctypes.c_uint64),
            ("abandoned_buffer_bytes", ctypes.c_uint64),
            ("mount_events_dropped", ctypes.c_uint64),
            ("reserved", ctypes.c_uint64 * 3),
        ]
    )


class MountStats(ctypes.Structure):
    _fields_ = [
        ("mount_point", ctypes.c_char_p),
        ("fstype", ctypes.c_char_p),
        ("mount_id", ctypes.c_uint64),
        ("oldest_ms", ctypes.c_uint64),
        ("queued", ctypes.c_uint32),
        ("running", ctypes.c_uint32),
        ("abandoned", ctypes.c_uint32),
        ("blocked", ctypes.c_uint32),
    ]


MOUNT_CB = ctypes.CFUNCTYPE(None, ctypes.POINTER(MountStats), ctypes.c_void_p)
CALL_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)  # aopen_call_fn


class Completion(ctypes.Structure):
    _fields_ = [
        ("id", ctypes.c_uint64),
        ("user_data", ctypes.c_void_p),
        ("result", ctypes.c_int32),
        ("op", ctypes.c_uint32),
    ]


class StatxTimestamp(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_int64), ("tv_nsec", ctypes.c_uint32), ("__reserved", ctypes.c_int32)]


class Statx(ctypes.Structure):
    """The kernel's struct statx (256 bytes, the same on every architecture)."""

    _fields_ = [
        ("stx_mask", ctypes.c_uint32),
        ("stx_blksize", ctypes.c_uint32),
        ("stx_attributes", ctypes.c_uint64),
        ("stx_nlink", ctypes.c_uint32),
        ("stx_uid", ctypes.c_uint32),
        ("stx_gid", ctypes.c_uint32),
        ("stx_mode", ctypes.c_uint16),
        ("__spare0", ctypes.c_uint16),
        ("stx_ino", ctypes.c_uint64),
        ("stx_size", ctypes.c_uint64),
        ("stx_blocks", ctypes.c_uint64),
        ("stx_attributes_mask", ctypes.c_uint64),
        ("stx_atime", StatxTimestamp),
        ("stx_btime", StatxTimestamp),
        ("stx_ctime", StatxTimestamp),
        ("stx_mtime", StatxTimestamp),
        ("stx_rdev_major", ctypes.c_uint32),
        ("stx_rdev_minor", ctypes.c_uint32),
        ("stx_dev_major", ctypes.c_uint32),
        ("stx_dev_minor", ctypes.c_uint32),
        ("__rest", ctypes.c_uint8 * 112),
    ]


def _unpacker(cls, skip=()):
    """A ``struct.Struct`` whose ``unpack_from`` reads `cls`'s scalar fields in order, nested
    structs' flattened, up to its first array, less the fields (or nested structs) named in
    `skip` and those whose names start with "_": one call instead of one ctypes attribute
    read per field. Each field's offset is checked against ctypes'."""
    fmt = "@"

    def add(c, base):
        nonlocal fmt
        for name, t in c._fields_:
            off = base + getattr(c, name).offset
            if name in skip or name.startswith("_"):
                if issubclass(t, ctypes.Array):
                    return False
                fmt += f"{off + ctypes.sizeof(t) - struct.calcsize(fmt)}x"
                continue
            if issubclass(t, ctypes.Structure):
                if not add(t, off):
                    return False
                continue
            if issubclass(t, ctypes.Array):
                return False
            fmt += t._type_
            if struct.calcsize(fmt) - ctypes.sizeof(t) != off:
                raise ImportError(f"aopen: {cls.__name__}.{name}: the unpacker's offset differs from ctypes'")
        return True

    add(cls, 0)
    return struct.Struct(fmt)


# What os.stat takes from a struct statx: (blksize, nlink, uid, gid, mode, ino, size, blocks,
# then (sec, nsec) of atime, ctime, mtime, then rdev major, minor, dev major, minor).
STATX_UNPACK = _unpacker(Statx, skip=("stx_mask", "stx_attributes", "stx_attributes_mask", "stx_btime")).unpack_from
# What opening a file needs of it: (blksize, mode, size).
STATX_BRIEF = _unpacker(Statx, skip=[f for f, _ in Statx._fields_
                                     if f not in ("stx_blksize", "stx_mode", "stx_size")]).unpack_from


_long, _ulong = ctypes.c_long, ctypes.c_ulong  # __fsword_t and fsblkcnt_t / fsfilcnt_t


class Statfs(ctypes.Structure):
    """glibc's struct statfs (statfs(2)) on Linux."""

    _fields_ = [
        ("f_type", _long),
        ("f_bsize", _long),
        ("f_blocks", _ulong),
        ("f_bfree", _ulong),
        ("f_bavail", _ulong),
        ("f_files", _ulong),
        ("f_ffree", _ulong),
        ("f_fsid", ctypes.c_int * 2),
        ("f_namelen", _long),
        ("f_frsize", _long),
        ("f_flags", _long),
        ("_f_spare", _long * 4),
    ]


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


# The C name of each struct, for aopen_struct_layout.
class MountEvent(ctypes.Structure):
    """struct aopen_mount_event: one change of a filesystem (aopen_mount_event_submit)."""

    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("stuck", ctypes.c_uint32),
        ("mount_id", ctypes.c_uint64),
        ("fs_id", ctypes.c_uint64),
        ("at_ns", ctypes.c_uint64),
        ("stuck_since_ns", ctypes.c_uint64),
        ("dropped", ctypes.c_uint64),
        ("mount_point", ctypes.c_char * 4096),
        ("fstype", ctypes.c_char * 64),
        ("source", ctypes.c_char * 1024),
    ]


AOPEN_OPT_FAIL_FAST = 8

STRUCTS = {
    "aopen_mount_event": MountEvent,
    "aopen_options": Options,
    "aopen_completion": Completion,
    "aopen_stats_snapshot": Stats,
    "aopen_mount_stats": MountStats,
    "statx": Statx,
    "statx_timestamp": StatxTimestamp,
    "statfs": Statfs,
    "timespec": Timespec,
}


def _candidates():
    if os.environ.get("AOPEN_LIBRARY"):
        yield os.environ["AOPEN_LIBRARY"]
    here = Path(__file__).resolve().parent
    # The library `pip install` bundled (aopen/_libaopen.<abi>.so), then a system one, then
    # the build tree's.
    yield from sorted(str(p) for p in here.glob("_libaopen*.so"))
    yield "libaopen.so.0"
    yield str(here.parents[1] / "target" / "release" / "libaopen.so")


def _load():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name)
        except OSError as e:
            errors.append(f"{name}: {e}")
    raise ImportError("cannot load libaopen; tried " + "; ".join(errors))


lib = _load()

_c, _p, _i, _u, _i64, _sz = (ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint,
                             ctypes.c_int64, ctypes.c_size_t)
_CB = [_p, _p]  # aopen_cb cb (always NULL from Python: completions are reaped), user_data

# name: (restype, argtypes). Submit calls take the context first and (cb, user_data) last.
_PROTOTYPES = {
    "aopen_ctx_new": (_i, [ctypes.POINTER(Options), ctypes.POINTER(_p)]),
    "aopen_ctx_free": (None, [_p]),
    "aopen_ctx_fd": (_i, [_p]),
    "aopen_open_nowait": (_i, [_p, _c, _i, ctypes.c_uint32]),
    "aopen_open_nowait_statx": (_i, [_p, _c, _i, ctypes.c_uint32, _p]),
    "aopen_read_nowait": (_i, [_p, _i, _p, _sz, _i64]),
    "aopen_close_nowait": (_i, [_p, _i]),
    "aopen_stat_nowait": (_i, [_p, _c, _i, _u, _p]),
    "aclose_detach": (_i, [_p, _i]),
    "aopen_reap": (_i, [_p, ctypes.POINTER(Completion), _u]),
    "aopen_cancel": (_i, [_p, ctypes.c_uint64]),
    "aopen_stats": (_i, [_p, ctypes.POINTER(Stats)]),
    "aopen_stats_mounts": (_i, [_p, ctypes.c_uint32, MOUNT_CB, _p]),
    "aopen_version": (_c, []),
    "aopen_struct_layout": (_i64, [_c, _c]),
}
_SUBMITS = {
    "aopen_submit": [_c, _i, ctypes.c_uint32],
    "aclose_submit": [_i],
    "aopen_unlink_submit": [_c, _i],
    "aopen_mkdir_submit": [_c, ctypes.c_uint32],
    "aopen_rename_submit": [_c, _c, _u],
    "aopen_stat_submit": [_c, _i, _u, _p],
    "aopen_fstat_submit": [_i, _u, _p],
    "aopen_read_submit": [_i, _p, _sz, _i64],
    "aopen_write_submit": [_i, _p, _sz, _i64],
    "aopen_fsync_submit": [_i, _u],
    "aopen_ftruncate_submit": [_i, _i64],
    "aopen_getdents_submit": [_i, _p, _sz],
    # The calls issue 19 builds on; bound only where the loaded library has them.
    "aopen_readlink_submit": [_c, _p, _sz],
    "aopen_symlink_submit": [_c, _c],
    "aopen_link_submit": [_c, _c, _i],
    "aopen_access_submit": [_c, _i, _i],
    "aopen_statfs_submit": [_c, _p],
    "aopen_fstatfs_submit": [_i, _p],
    "aopen_chmod_submit": [_c, ctypes.c_uint32],
    "aopen_fchmod_submit": [_i, ctypes.c_uint32],
    "aopen_chown_submit": [_c, ctypes.c_uint32, ctypes.c_uint32, _i],
    "aopen_fchown_submit": [_i, ctypes.c_uint32, ctypes.c_uint32],
    "aopen_utimens_submit": [_c, _p, _i],
    "aopen_futimens_submit": [_i, _p],
    "aopen_fallocate_submit": [_i, _i, _i64, _i64],
    "aopen_copy_file_range_submit": [_i, _i64, _i, _i64, _sz, _u],
    "aopen_sendfile_submit": [_i, _i, _i64, _sz],
    "aopen_call_submit": [CALL_FN, _p, _c, _i],
    "aopen_mount_event_submit": [_p],
}
for _name, (_res, _args) in _PROTOTYPES.items():
    if hasattr(lib, _name):
        getattr(lib, _name).restype = _res
        getattr(lib, _name).argtypes = _args
for _name, _args in _SUBMITS.items():
    if hasattr(lib, _name):
        getattr(lib, _name).restype = _i64
        getattr(lib, _name).argtypes = [_p] + _args + _CB


def unprototyped(name):
    """`name` bound a second time without argtypes, returning an int: ctypes then converts
    each argument by its own type, for half the cost of a prototyped call. Only for the loop
    thread's hot calls, each of whose callers passes exactly a c_void_p context, bytes, ints
    that fit a C int, and pointers as c_void_p or ``byref``; None where the library lacks it."""
    if not has(name):
        return None
    fn = getattr(ctypes.CDLL(lib._name, handle=lib._handle), name)
    fn.restype = _i
    return fn


def has(name):
    """Whether the loaded library exports `name` (a call added after it was built may not)."""
    return hasattr(lib, name)


def _check_layouts():
    """Each struct's size and field offsets against the library's own (aopen_struct_layout):
    ImportError on any difference. Returns {struct: "checked" | "unchecked"}."""
    if not has("aopen_struct_layout"):
        return {name: "unchecked" for name in STRUCTS}
    out = {}
    for cname, cls in STRUCTS.items():
        size = lib.aopen_struct_layout(cname.encode(), None)
        if size == -errno.ENOENT:
            out[cname] = "unchecked"
            continue
        wrong = []
        if size != ctypes.sizeof(cls):
            wrong.append(f"size {ctypes.sizeof(cls)} here, {size} in the library")
        for field, *_ in cls._fields_:
            off = lib.aopen_struct_layout(cname.encode(), field.encode())
            if off == -errno.ENOENT and field.startswith("_"):
                continue  # padding named here only
            if off != getattr(cls, field).offset:
                wrong.append(f"{field} at {getattr(cls, field).offset} here, {off} in the library")
        if wrong:
            raise ImportError(f"struct {cname} does not match libaopen: " + "; ".join(wrong))
        out[cname] = "checked"
    return out


LAYOUT = _check_layouts()
VERSION = lib.aopen_version().decode()


def stat_result(x):
    """An os.stat_result from a struct statx (a ctypes Statx, or any buffer holding one),
    field for field what os.stat makes of the kernel's answer: times as seconds (int), as
    ``sec + nsec * 1e-9`` (float, as CPython computes them) and as nanoseconds (int)."""
    blksize, nlink, uid, gid, mode, ino, size, blocks, a, a_ns, c, c_ns, m, m_ns, r_major, r_minor, d_major, d_minor = \
        STATX_UNPACK(x)
    return _stat_result((
        mode, ino, _makedev(d_major, d_minor), nlink, uid, gid, size, a, m, c,
        a + a_ns * 1e-9, m + m_ns * 1e-9, c + c_ns * 1e-9,
        a * 1_000_000_000 + a_ns, m * 1_000_000_000 + m_ns, c * 1_000_000_000 + c_ns,
        blksize, blocks, _makedev(r_major, r_minor) if r_major or r_minor else 0,
    ))


_stat_result, _makedev = os.stat_result, os.makedev
