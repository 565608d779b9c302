"""The event-loop integration: one libaopen context per running loop, its eventfd watched by
the loop, and the await of each request.

asyncio (and uvloop): ``loop.add_reader`` on the eventfd. trio (directly or under anyio): a
system task of the run waits with ``trio.lowlevel.wait_readable``. Either way completions
are reaped on the loop's thread and no thread is borrowed per call. ``current()`` is the
running loop's context, made on first use.
"""

import asyncio
import ctypes
import errno
import functools
import itertools
import os
import sys
import warnings
import weakref

from . import _abi
from ._abi import lib

_REAP_BATCH = 64
# The nowait calls the loop thread makes on every open and close, without ctypes' argument
# conversion (see _abi.unprototyped): the context is a c_void_p, the path bytes, the rest C ints.
_open_nowait = _abi.unprototyped("aopen_open_nowait")
_open_nowait_statx = _abi.unprototyped("aopen_open_nowait_statx")
_close_nowait = _abi.unprototyped("aopen_close_nowait")
_FSENC, _FSERR = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()  # os.fsencode's


def _call_then(fn):
    """Runs a completion's follow-up (a file settling a cancelled call): an error there is
    reported, never raised into the loop's reaper."""
    try:
        fn()
    except Exception as e:  # pragma: no cover (a bug: say so, keep the loop alive)
        warnings.warn(f"aopen: settling a cancelled call failed: {e!r}", RuntimeWarning)


class AopenError(OSError):
    """libaopen refused a call (the errno is in ``.errno``)."""


def check(rc, what):
    if rc < 0:
        raise AopenError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


def fspath(path):
    """`path` (str, bytes or os.PathLike) as the bytes a C call takes; ValueError for an
    embedded NUL, as the os module raises (C would see only the part before it)."""
    b = path.encode(_FSENC, _FSERR) if type(path) is str else os.fsencode(path)
    if b"\0" in b:
        raise ValueError("embedded null byte")
    return b


def oserror(err, path=None, path2=None):
    """The OSError the os module raises for `err` (its subclass by errno), with the paths
    (`path2`: a two-path call's second, its ``filename2``)."""
    if path is None:
        return OSError(err, os.strerror(err))
    path = os.fsdecode(path) if isinstance(path, bytes) else path
    if path2 is None:
        return OSError(err, os.strerror(err), path)
    return OSError(err, os.strerror(err), path, None, os.fsdecode(path2) if isinstance(path2, bytes) else path2)


class Context:
    """One libaopen context serving one event loop (asyncio or trio: the subclasses)."""

    def __init__(self, options):
        ctx = ctypes.c_void_p()
        check(lib.aopen_ctx_new(ctypes.byref(options), ctypes.byref(ctx)), "aopen_ctx_new")
        self.ctx = ctx
        self.fd = lib.aopen_ctx_fd(ctx)
        self.waiting = {}  # request id -> waiter for its completion; absent: nobody awaits it
        # request id -> memory libaopen writes when it delivers that completion (a stat's
        # buffer, a read's): kept alive until then, even if its awaiter was cancelled.
        self.kept = {}
        self.room_waiters = []  # submitters waiting for room in a full queue
        # waiter -> what to call once it has its result (_on_result): run by _free too,
        # where a closed loop can no longer run a future's callbacks.
        self.then = {}
        self.buf = (_abi.Completion * _REAP_BATCH)()
        # What the loop thread's nowait stats write (read at once, before any await).
        self.statx = _abi.Statx()
        self.statx_ref = ctypes.byref(self.statx)
        self._scratch = None

    def scratch(self, n):
        """A buffer of at least `n` bytes for the loop thread's nowait reads, which copy out
        of it before they return: one per context (per loop thread), grown up to 1 MiB
        (a larger read gets a buffer of its own)."""
        b = self._scratch
        if b is not None and len(b) >= n:
            return b
        b = ctypes.create_string_buffer(n)
        if n <= 1 << 20:
            self._scratch = b
        return b

    def _free(self):
        """Frees the context (aopen_ctx_free closes every undelivered descriptor)."""
        self.ctx = None  # from here on nothing may call into the freed context
        waiting, self.waiting = self.waiting, {}
        self.kept = {}  # aopen_ctx_free delivers nothing more, so writes nothing more
        for w in list(waiting.values()) + self.room_waiters:
            try:
                self._cancel_waiter(w)
            except RuntimeError:  # its loop is closed already: nobody awaits it any more
                pass
        self.room_waiters = []
        then, self.then = self.then, {}
        for fn in then.values():
            _call_then(fn)

    def on_readable(self):
        while self.ctx is not None:
            n = lib.aopen_reap(self.ctx, self.buf, _REAP_BATCH)
            if n <= 0:
                break
            for c in self.buf[:n]:
                self._deliver(c.id, c.op, c.result)
            waiters, self.room_waiters = self.room_waiters, []
            for w in waiters:
                self._set(w, None)

    def _deliver(self, rid, op, result):
        self.kept.pop(rid, None)  # the bytes are in it by delivery
        w = self.waiting.pop(rid, None)
        if w is None or not self._set(w, result):
            if op == _abi.OP_OPEN and result >= 0:
                self.close_detached(result)  # nobody will receive it

    def close_detached(self, fd):
        """Closes `fd` on a libaopen worker, never on the loop thread: close(2) can hang in
        the filesystem's flush (NFS, FUSE) for as long as its server is gone."""
        if self.ctx is not None and lib.aclose_detach(self.ctx, fd) == 0:
            return
        os.close(fd)  # only once the context is gone, when no worker is left to do it

    async def _submit(self, call):
        """Submits, waiting for room while libaopen's queue is full (back pressure)."""
        while True:
            if self.ctx is None:
                raise AopenError(errno.ESHUTDOWN, "the loop's libaopen context was closed")
            rid = call()
            if rid != -errno.EAGAIN:
                return check(rid, "submit")
            room = self._waiter()
            self.room_waiters.append(room)
            await self._wait(room)

    async def _await(self, rid, keep=None, opens=False):
        w = self._waiter()
        self.waiting[rid] = w
        if keep is not None:
            self.kept[rid] = keep
        try:
            return await self._wait(w)
        except BaseException:  # cancelled (asyncio.CancelledError, trio.Cancelled)
            self._abandon(rid, w, opens)
            raise

    async def open_fd(self, path, flags, mode, nowait=True):
        """An fd for `path` (bytes): the nowait fast path first (a cached open on a local
        filesystem completes here without suspending; `nowait` False: tried already), else a
        request. Returns (fd, fast)."""
        if self.ctx is not None and nowait:
            fd = _open_nowait(self.ctx, path, flags, mode)
            if fd >= 0:
                return fd, True
            if fd != -errno.EAGAIN:
                raise oserror(-fd, path)
        rid = await self._submit(lambda: lib.aopen_submit(self.ctx, path, flags, mode, None, None))
        result = await self._await(rid, opens=True)
        if result < 0:
            raise oserror(-result, path)
        return result, False

    async def call(self, submit, path=None, keep=None, path2=None):
        """Submits a call that opens nothing (`submit()` returns its id) and returns its
        result; raises OSError for -errno. `keep` is memory libaopen writes on delivery."""
        rid = await self._submit(submit)
        result = await self._await(rid, keep)
        if result < 0:
            raise oserror(-result, path, path2)
        return result

    def _abandon(self, rid, w, opens):
        """The awaiter of request `rid` was cancelled: cancels the request, or, if it was
        delivered already (`w` has its result), closes the descriptor an open returned."""
        if self._has_result(w):
            if opens and self._result(w) >= 0:
                self.close_detached(self._result(w))
            return
        self.waiting.pop(rid, None)
        if self.ctx is None:
            return  # closed: aopen_ctx_free already took care of the request
        # 0: delivered later as -ECANCELED (libaopen closes a late fd). Otherwise it is
        # already queued for delivery; either way _deliver finds no awaiter and closes any fd.
        lib.aopen_cancel(self.ctx, rid)

    async def close_fd(self, fd):
        """Closes `fd`: on the loop thread where aopen_close_nowait can (a local file), else
        on a worker. The close goes ahead even if the awaiting task is cancelled."""
        if self.ctx is not None:
            rc = _close_nowait(self.ctx, fd)
            if rc != -errno.EAGAIN:
                if rc < 0:
                    raise oserror(-rc)
                return
        rid = await self._submit(lambda: lib.aclose_submit(self.ctx, fd, None, None))
        w = self._waiter()
        self.waiting[rid] = w
        result = await self._shielded_wait(w)
        if result < 0:
            raise oserror(-result)

    async def run_blocking(self, fn, path=None, fd=-1):
        """Runs ``fn()`` (any blocking Python function) off the loop: on a libaopen worker
        (``aopen_call_submit``, charged to the filesystem of `path` or `fd`) where the library
        has that call, else on a thread of the loop's own. Returns its result or raises its
        exception; cancelling the await abandons it (a running call finishes on its own)."""
        if not _abi.has("aopen_call_submit"):
            return await self._to_thread(fn)
        box = []

        def run():
            try:
                box.append((True, fn()))
            except BaseException as e:  # handed to the awaiter, never into C
                box.append((False, e))
            return 0

        # One C function for every call, which never goes away: a cancel is delivered at
        # once, also while a worker is about to call it or inside it, and a C function made
        # per call and dropped with the request would then be called, or returned into,
        # after it was freed. The call is looked up by its key; one the awaiter gave up on
        # before it started is not run.
        key = next(_call_keys)
        _calls[key] = run
        p = fspath(path) if path is not None else None
        submit = lambda: lib.aopen_call_submit(self.ctx, _CALL_FN, key, p, fd if p is None else -1, None, None)
        try:
            await self.call(submit)
        finally:
            _calls.pop(key, None)
        ok, value = box[0]
        if ok:
            return value
        raise value


# Calls run_blocking submitted, by key, until they start or their awaiter gives up.
_calls = {}
_call_keys = itertools.count(1)


def _run_call(key):
    """The C function of every ``aopen_call_submit`` (on a worker): runs the call `key` names,
    unless its awaiter gave up on it first."""
    run = _calls.pop(key, None)
    return -errno.ECANCELED if run is None else run()


_CALL_FN = _abi.CALL_FN(_run_call)


class AsyncioContext(Context):
    def __init__(self, loop, options):
        super().__init__(options)
        # No reference to the loop is kept: this object is the loop's value in a
        # WeakKeyDictionary, and the loop's finalizer frees the context.
        loop.add_reader(self.fd, self.on_readable)
        self._finalizer = weakref.finalize(loop, self._release_ctx)

    def _release_ctx(self):
        """Frees the C context, then forgets it: files that outlive their loop (closed by
        the garbage collector) then never call into freed memory."""
        ctx = self.ctx
        if ctx is not None:
            lib.aopen_ctx_free(ctx)
        self._free()

    def close(self, loop):
        loop.remove_reader(self.fd)
        self._finalizer()

    @staticmethod
    def _waiter():
        return asyncio.get_running_loop().create_future()

    @staticmethod
    async def _wait(w):
        return await w

    @staticmethod
    def _set(w, result):
        if w.done():
            return False
        w.set_result(result)
        return True

    @staticmethod
    def _cancel_waiter(w):
        w.cancel()

    @staticmethod
    def _has_result(w):
        return w.done() and not w.cancelled()

    @staticmethod
    def _result(w):
        return w.result()

    @staticmethod
    async def _shielded_wait(w):
        return await asyncio.shield(w)

    @staticmethod
    async def _wait_outcome(w):
        """Waits for `w`; cancelling this wait leaves `w` to get its result."""
        return await asyncio.shield(w)

    def _on_result(self, w, fn):
        """Calls ``fn()`` once `w` has its result (or was cancelled: the context closed)."""
        self.then[w] = fn
        w.add_done_callback(lambda _w: self.then.pop(_w, None) and _call_then(fn))

    @staticmethod
    def _is_done(w):
        return w.done()

    @staticmethod
    def _spawn(coro, what):
        """Runs `coro` on its own (a task), reporting an error as a RuntimeWarning."""
        task = asyncio.get_running_loop().create_task(coro)

        def report(t):
            if not t.cancelled() and t.exception() is not None:
                warnings.warn(f"aopen: {what} failed: {t.exception()!r}", RuntimeWarning)

        task.add_done_callback(report)
        return task

    @staticmethod
    async def _to_thread(fn):
        return await asyncio.get_running_loop().run_in_executor(None, fn)

    @staticmethod
    async def sleep0():
        await asyncio.sleep(0)


class _TrioWaiter:
    __slots__ = ("event", "value", "state", "then")  # state: 0 waiting, 1 result, 2 cancelled

    def __init__(self, trio):
        self.event, self.value, self.state, self.then = trio.Event(), None, 0, None

    def done(self):
        self.event.set()
        then, self.then = self.then, None
        if then is not None:
            _call_then(then)


class TrioContext(Context):
    """A trio run's context: a system task of the run reaps completions whenever the eventfd
    is readable, and frees the context when the run ends."""

    def __init__(self, options):
        import trio

        super().__init__(options)
        self._trio = trio
        trio.lowlevel.spawn_system_task(self._reader, name="aopen reaper")

    async def _reader(self):
        trio = self._trio
        try:
            while True:
                await trio.lowlevel.wait_readable(self.fd)
                self.on_readable()
        finally:
            ctx = self.ctx
            self._free()
            lib.aopen_ctx_free(ctx)

    def close(self, _loop=None):
        ctx = self.ctx
        if ctx is not None:
            self._trio.lowlevel.notify_closing(self.fd)
            self._free()
            lib.aopen_ctx_free(ctx)

    def _waiter(self):
        return _TrioWaiter(self._trio)

    @staticmethod
    async def _wait(w):
        await w.event.wait()
        if w.state == 2:
            raise AopenError(errno.ESHUTDOWN, "the run's libaopen context was closed")
        return w.value

    @staticmethod
    def _set(w, result):
        if w.state:
            return False
        w.value, w.state = result, 1
        w.done()
        return True

    @staticmethod
    def _cancel_waiter(w):
        if not w.state:
            w.state = 2
            w.done()

    async def _wait_outcome(self, w):
        """Waits for `w`; cancelling this wait leaves `w` to get its result."""
        return await self._wait(w)

    @staticmethod
    def _on_result(w, fn):
        """Calls ``fn()`` once `w` has its result (or was cancelled: the context closed)."""
        if w.state:
            _call_then(fn)
        else:
            w.then = fn

    @staticmethod
    def _is_done(w):
        return w.state != 0

    def _spawn(self, coro, what):
        """Runs `coro` on its own (a system task of the run), reporting an error as a
        RuntimeWarning."""
        async def run():
            try:
                await coro
            except Exception as e:
                warnings.warn(f"aopen: {what} failed: {e!r}", RuntimeWarning)

        self._trio.lowlevel.spawn_system_task(run, name="aopen close")
        return True

    @staticmethod
    def _has_result(w):
        return w.state == 1

    @staticmethod
    def _result(w):
        return w.value

    async def _shielded_wait(self, w):
        with self._trio.CancelScope(shield=True):
            return await self._wait(w)

    async def _to_thread(self, fn):
        return await self._trio.to_thread.run_sync(fn)

    async def sleep0(self):
        await self._trio.sleep(0)


_contexts = weakref.WeakKeyDictionary()  # asyncio loop -> its context
_trio_var = None  # a trio.lowlevel.RunVar holding the run's context, made on first use


def _trio_runvar():
    global _trio_var
    if _trio_var is None:
        import trio

        _trio_var = trio.lowlevel.RunVar("aopen_context")
    return _trio_var


def _options(threads=0, max_threads=0, queue_depth=0, timeout_ms=0, per_mount_threads=0, fail_fast=False,
             blocked_ms=0):
    return _abi.Options(threads=threads, max_threads=max_threads, queue_depth=queue_depth,
                        timeout_ms=timeout_ms, per_mount_threads=per_mount_threads,
                        flags=_abi.AOPEN_OPT_FAIL_FAST if fail_fast else 0, blocked_ms=blocked_ms)


def _in_trio():
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def configure(loop=None, **options):
    if loop is None and _in_trio():
        var = _trio_runvar()
        if var.get(None) is not None:
            raise RuntimeError("this run already has a libaopen context")
        ctx = TrioContext(_options(**options))
        var.set(ctx)
        return ctx
    loop = loop or asyncio.get_running_loop()
    if loop in _contexts:
        raise RuntimeError("this loop already has a libaopen context")
    _contexts[loop] = ctx = AsyncioContext(loop, _options(**options))
    return ctx


def close(loop=None):
    if loop is None and _in_trio():
        var = _trio_runvar()
        ctx = var.get(None)
        if ctx is not None:
            var.set(None)
            ctx.close()
        return
    loop = loop or asyncio.get_running_loop()
    ctx = _contexts.pop(loop, None)
    if ctx is not None:
        ctx.close(loop)


_last = (lambda: None, None)  # (a weak reference to the loop current() last served, its context)


def current(loop=None):
    """The running loop's context (asyncio, or trio), made with default options if new."""
    global _last
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
            if _last[0]() is loop and _last[1].ctx is not None:
                return _last[1]
        except RuntimeError:
            if not _in_trio():
                raise RuntimeError("no running event loop (asyncio or trio)") from None
            ctx = _trio_runvar().get(None)
            return ctx if ctx is not None else configure()
    ctx = _contexts.get(loop)
    if ctx is None:
        ctx = configure(loop=loop)
    _last = (weakref.ref(loop), ctx)
    return ctx


def _first_path_or_fd(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, int) and not isinstance(a, bool):
            return None, a
        if isinstance(a, (str, bytes, os.PathLike)):
            return os.fspath(a), -1
    return None, -1


def wrap(func):
    """An async version of any blocking function: each call runs on libaopen's pool
    (``aopen_call_submit``), charged to the filesystem of its first path or fd argument,
    or on a thread where the library lacks that call. Never on the loop."""

    @functools.wraps(func)
    async def run(*args, loop=None, executor=None, **kwargs):
        path, fd = _first_path_or_fd(args, kwargs)
        return await current().run_blocking(lambda: func(*args, **kwargs), path=path, fd=fd)

    return run
