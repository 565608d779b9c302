"""The text file: ``open(..., "r")`` and friends, as aiofiles' ``text.py``.

``AsyncTextIOWrapper`` wraps a ``TextIOWrapper`` (``_pyio``'s, with the C one's chunk sizes,
so that ``tell()`` cookies are the built-in's) over a buffered binary file whose raw layer
is libaopen's (``_raw``). Decoding, newline translation and tell/seek cookies are the io
module's own code, never a second implementation.
"""

import codecs
import io
import math
import os

import _pyio

from ._binary import (BufferedReader, _Detachable, _Indirect, _WarnUnclosed, _delegate, _props, _proxy, c_optional_size,
                      c_size, size_arg)
from ._raw import _YIELD_EVERY, _Interrupted, c_readlines, read_nowait, readall_nowait


# Encodings (codecs' names) in which a newline character is the byte b"\n" and that byte is
# never part of another character.
_ASCII_NEWLINE = frozenset({"utf-8", "ascii", "iso8859-1", "cp1252"})

# readline()'s default size, for an identity test on its fast path (ints from -5 to 256 are
# one object each in CPython; any other -1, or another interpreter's, takes the longer way).
_MINUS_ONE = -1


# The newline kinds an IncrementalNewlineDecoder has seen, as bits (its own), and its
# ``newlines`` value for each set of them.
_LF, _CR, _CRLF = 1, 2, 4
_KINDS = {"\n": _LF, "\r": _CR, "\r\n": _CRLF}
_NEWLINES = [None, "\n", "\r", ("\r", "\n"), "\r\n", ("\n", "\r\n"), ("\r", "\r\n"), ("\r", "\n", "\r\n")]


class NewlineDecoder(io.IncrementalNewlineDecoder):
    """The C implementation's ``IncrementalNewlineDecoder``, which keeps what it was made
    with and the newline kinds seen before it was copied, so that a snapshot of the io stack
    can make an independent copy of it (``_raw._clone_codec``): C's neither copies nor
    shows its inner decoder, and its state (``getstate``) leaves out the kinds it saw."""

    def __init__(self, decoder, translate, errors="strict"):
        super().__init__(decoder, translate, errors)
        self.inner, self.translate, self.seen_before = decoder, translate, 0

    def seen(self):
        """The newline kinds seen, as bits: before the copy, and since."""
        now = super().newlines
        bits = self.seen_before
        if now is not None:
            for kind in (now,) if type(now) is str else now:
                bits |= _KINDS[kind]
        return bits

    @property
    def newlines(self):
        return _NEWLINES[self.seen()]

    def reset(self):
        super().reset()
        self.seen_before = 0


class TextIOWrapper(_WarnUnclosed, _pyio.TextIOWrapper):
    """``_pyio.TextIOWrapper`` reading in the C implementation's chunks: 8192 bytes, or as
    many as a ``read(n)`` still needs (which decides where ``tell()`` cookies start)."""

    _CHUNK_SIZE = 8192

    def __init__(self, buffer, *args, **kwargs):
        super().__init__(buffer, *args, **kwargs)
        # The C implementation makes its decoder and encoder here, not on first use; a seek
        # then sets the decoder's state (utf-16: no BOM expected past the start).
        if self.buffer.readable() and self._decoder is None:
            self._get_decoder()
        self._c_writable = self.buffer.writable()  # C has an encoder only then
        self._c_raw = self.buffer.raw  # (whose closed flag _readline_nowait reads)
        if self._c_writable and self._encoder is None:
            self._get_encoder()

    # tell() cookies in the C implementation's layout: its struct's bytes, little-endian
    # (start_pos int64, dec_flags, bytes_to_feed, chars_to_skip int32, need_eof char; 21
    # bytes). _pyio packs the same fields 64 bits apart, so its cookies differ from the
    # built-in's wherever a field past dec_flags is not zero.
    def _pack_cookie(self, position, dec_flags=0, bytes_to_feed=0, need_eof=False, chars_to_skip=0):
        m = 0xFFFFFFFF
        return ((position & 0xFFFFFFFFFFFFFFFF) | ((dec_flags & m) << 64) | ((bytes_to_feed & m) << 96)
                | ((chars_to_skip & m) << 128) | (int(bool(need_eof)) << 160))

    def _unpack_cookie(self, bigint):
        if bigint >= 1 << 168:
            raise OverflowError("int too big to convert")
        b = bigint.to_bytes(21, "little")
        position = int.from_bytes(b[0:8], "little", signed=True)
        dec_flags = int.from_bytes(b[8:12], "little", signed=True)
        bytes_to_feed = int.from_bytes(b[12:16], "little", signed=True)
        chars_to_skip = int.from_bytes(b[16:20], "little", signed=True)
        return position, dec_flags, bytes_to_feed, bool(b[20]), chars_to_skip

    _in_readline = False
    readlines = c_readlines

    def _dealloc_warn(self, source):
        self.buffer._dealloc_warn(source)

    def _line_buffered(self):
        """Whether readline() finds a whole line in the characters decoded already, with
        nothing to write first: then it makes no system call."""
        if self._pending or self.closed or self._decoder is None:
            return False
        chars, used = self._decoded_chars, self._decoded_chars_used
        if self._readtranslate:
            return chars.find("\n", used) >= 0
        if self._readuniversal:  # (a '\r' the decoder let through is never a line's half)
            return chars.find("\n", used) >= 0 or chars.find("\r", used) >= 0
        return chars.find(self._readnl, used) >= 0

    # The lines _readline_nowait cut ahead from the decoded characters `_lines_of`, the next
    # one last, and where the last one it handed out ends in them (the `_decoded_chars_used`
    # it left): valid only while both still hold (anything else that reads or seeks moves
    # one of them, and the lines are cut again).
    _lines = None
    _lines_of = None
    _lines_end = -1

    def _readline_nowait(self):
        """readline()'s line where it needs no system call, or only one read of the next
        chunk that the library finds cached and that holds the line's end; else None. The
        same line, leaving the same state as readline(), made on the loop thread without an
        operation. A line the decoded characters hold comes from their lines, cut once
        (``str.split``; _pyio's general loop copies the rest of them for every line)."""
        lines, used = self._lines, self._decoded_chars_used
        if lines and self._lines_end == used and self._lines_of is self._decoded_chars \
                and not self._c_raw._IOBase__closed:
            # (Nothing else read, sought or wrote since the lines were cut: a write drops
            # the decoded characters, and so does every read of another chunk.)
            line = lines.pop()
            self._decoded_chars_used = self._lines_end = used + len(line)
            return line
        if self._pending or self._decoder is None or self._c_raw._IOBase__closed:
            return None
        if self._readtranslate:
            nl = "\n"
        elif not self._readuniversal:
            nl = self._readnl
        elif self._line_buffered():
            return self.readline()
        else:
            return self._readline_after_read()
        chars = self._decoded_chars
        parts = chars[used:].split(nl)
        if len(parts) == 1:
            return self._readline_after_read()
        parts.pop()  # (what follows the last newline: not a whole line)
        lines = [part + nl for part in reversed(parts)]
        self._lines, self._lines_of = lines, chars
        line = lines.pop()
        self._decoded_chars_used = self._lines_end = used + len(line)
        return line

    def _readline_after_read(self):
        """readline() where the decoded characters hold no whole line, on the loop thread
        when it needs one read of the next chunk, the library finds it cached
        (``read_nowait``), and it holds the line's end; else None (a chunk read that holds
        no line's end is given back: the descriptor's offset moved back over it)."""
        buf = self.buffer
        if type(buf) is not BufferedReader or len(buf._read_buf) != buf._read_pos \
                or not self._newline_byte_ends_lines():
            return None
        raw = buf.raw
        if raw._inline_bytes >= _YIELD_EVERY:
            return None  # (the runner lets the loop run)
        data = read_nowait(raw, self._CHUNK_SIZE)  # (what read1's raw read would read)
        if not data:
            return None  # not all cached, or the end of the file: the runner's readline
        if b"\n" not in data:
            try:  # given back: readline's own chunk read reads it again
                os.lseek(raw._fd, -len(data), os.SEEK_CUR)
                raw._inline_bytes -= len(data)
            except OSError:  # (kept instead, as a read ahead: that read takes it from here)
                buf._read_buf, buf._read_pos = data, 0
            return None
        buf._read_buf, buf._read_pos = data, 0
        # A newline in the chunk ends the line within it: readline() reads this chunk (from
        # the buffer) and no other (a system call would be a bug: ``Raw._sys`` raises).
        raw._in_fast_path = True
        try:
            return self.readline()
        finally:
            raw._in_fast_path = False

    def _newline_byte_ends_lines(self):
        """Whether a chunk whose bytes hold b"\\n" holds a line's end: the byte is always a
        newline character in this encoding and never part of another character, and a
        newline character ends a line here (newline None, "" or "\\n")."""
        return (self._readuniversal or self._readnl == "\n") and codecs.lookup(self._encoding).name in _ASCII_NEWLINE

    def _read_all(self, data):
        """read()'s end, with `data` the bytes the buffer's read() returned (C's order: the
        characters decoded already, then the rest decoded as final)."""
        result = self._get_decoded_chars() + self._decoder.decode(data, final=True)
        self._set_decoded_chars("")
        self._snapshot = None
        return result

    # C's argument conversions and checks, before _pyio's code: a closed file is "I/O
    # operation on closed file." whatever the call (_pyio's come from the layer below).
    def _c_closed(self):
        if self.buffer.closed:
            raise ValueError("I/O operation on closed file.")

    def _checkReadable(self, msg=None):
        if not self.buffer.readable():
            raise _pyio.UnsupportedOperation("not readable")

    def flush(self):
        # C's: the pending writes down, then the buffer's own flush (which, for a
        # BufferedRandom, also rewinds what it read ahead: ``_c_flush``).
        self._c_closed()
        self._writeflush()
        getattr(self.buffer, "_c_flush", self.buffer.flush)()
        self._telling = self._seekable

    def tell(self):
        self._c_closed()
        return self._tell()

    def seek(self, cookie, whence=0):
        self._c_closed()
        if whence not in (0, 1, 2):
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        return super().seek(cookie, whence)

    @property
    def newlines(self):
        # C: the newlines the universal-newline decoder saw, None without one (newline=""
        # keeps one; "\n", "\r" and "\r\n" have none, where _pyio raises AttributeError).
        return getattr(self._decoder, "newlines", None) if self._decoder else None

    def _get_decoder(self):
        # _pyio's, with the C implementation's IncrementalNewlineDecoder (the built-in's own:
        # _pyio's counts the newlines it saw with three passes in Python over every chunk).
        decoder = codecs.getincrementaldecoder(self._encoding)(self._errors)
        if self._readuniversal:
            decoder = NewlineDecoder(decoder, self._readtranslate)
        self._decoder = decoder
        return decoder

    def _read_chunk(self, size_hint=0):
        if self._decoder is None:
            raise ValueError("no decoder")
        if self._in_readline and self._decoded_chars_used >= len(self._decoded_chars or ""):
            # C's readline lets go of the characters it consumed before it reads on, so a
            # decoding error there leaves tell() at the snapshot, not past them.
            self._set_decoded_chars("")
        if self._telling:
            dec_buffer, dec_flags = self._decoder.getstate()
        if size_hint > 0:
            size_hint = int(max(self._b2cratio, 1.0) * size_hint)
        chunk = max(self._CHUNK_SIZE, size_hint)
        if self._has_read1:
            input_chunk = self.buffer.read1(chunk)
        else:
            input_chunk = self.buffer.read(chunk)
        eof = not input_chunk
        decoded_chars = self._decoder.decode(input_chunk, eof)
        self._set_decoded_chars(decoded_chars)
        if decoded_chars:
            self._b2cratio = len(input_chunk) / len(self._decoded_chars)
        else:
            self._b2cratio = 0.0
        if self._telling:
            self._snapshot = (dec_flags, dec_buffer + input_chunk)
        # C: a chunk that decoded characters is not the end, even when the input was (the
        # final decode flushed a pending '\r'); read(n) then reads once more, and tell()
        # starts from that empty snapshot.
        return not eof or bool(decoded_chars)

    def write(self, s):
        # C: the argument's type, then closed, then "not writable" before any encoding.
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        self._checkClosed()
        if not self._c_writable:
            raise _pyio.UnsupportedOperation("not writable")
        # C holds the encoded text (its pending_bytes) until a chunk's worth has gathered,
        # a line ends on a line-buffered file, or a flush, tell, seek, read or close: only then
        # does the buffer below see it (_pyio passes each write down at once, so the kernel
        # would see writes at other moments). C's line-buffered write flushes the buffer,
        # not the text layer: tell() stays disabled after a next().
        length = len(s)
        haslf = (self._writetranslate or self._line_buffering) and "\n" in s
        if haslf and self._writetranslate and self._writenl != "\n":
            s = s.replace("\n", self._writenl)
        needflush = self._line_buffering and (haslf or "\r" in s)
        b = (self._encoder or self._get_encoder()).encode(s)
        if len(self._pending) + len(b) > self._CHUNK_SIZE:
            self._writeflush()
        self._pending += b
        try:
            if len(self._pending) >= self._CHUNK_SIZE or needflush:
                self._writeflush()
            if needflush:
                self.buffer.flush()
        except _Interrupted:
            # (A cancelled write's replay stopped here: its bytes are pending, it is made.)
            self._wrote()
            raise
        self._wrote()
        return length

    def _wrote(self):
        """What a write does to the reading side (C's): drops the decoded characters and
        the snapshot, and resets the decoder."""
        self._set_decoded_chars("")
        self._snapshot = None
        if self._decoder:
            self._decoder.reset()

    _pending = b""  # encoded writes the text layer holds (C's pending_bytes)

    def _writeflush(self):
        b, self._pending = self._pending, b""
        if b:
            try:
                self.buffer.write(b)
            except _Interrupted as e:
                # A cancelled operation, replayed through the calls the kernel made, ends
                # here (``_raw.Runner._apply``): these bytes are earlier write() calls' (or
                # the cancelled write's own, which then counts as made), so what the buffer
                # did not take stays pending, to be written by the next flush.
                self._pending = b[e.consumed:] + self._pending
                raise

    def _tell(self):
        if self._snapshot is None and self._decoded_chars and self._seekable and self._telling:
            # No snapshot (the characters were decoded while iterating) yet characters
            # held: _pyio asserts there; C's assert is compiled out, and it returns the
            # buffer's position.
            self.flush()
            return self.buffer.tell()
        # _pyio asserts that its first guess of where to start decoding lies inside the
        # snapshot's bytes; C has no such check (a seek to a cookie that skips characters,
        # then a read, can put it past them). The guess, clamped to those bytes (what the
        # slice next_input[:guess] means anyway), gives C's cookie.
        snap, used = self._snapshot, self._decoded_chars_used
        if snap is not None and self._decoder is not None and used and int(self._b2cratio * used) > len(snap[1]):
            saved, n = self._b2cratio, len(snap[1])
            ratio = n / used
            while int(ratio * used) < n:
                ratio = math.nextafter(ratio, math.inf)
            self._b2cratio = ratio
            try:
                return super().tell()
            finally:
                self._b2cratio = saved
        return super().tell()

    def truncate(self, pos=None):
        self._c_closed()
        # C: flush, then the buffer's truncate with `pos` as given (None: the buffer's own
        # position, not a tell() cookie).
        self.flush()
        return self.buffer.truncate(pos)

    def readline(self, size=-1):
        size = c_size(size)  # (C's takes an integer only: None is a TypeError)
        self._c_closed()
        self._writeflush()  # (C's readline passes pending writes down before it looks)
        self._checkReadable()
        if size == 0:
            # C reads chunks until one decodes (or the input ends: then it forgets the
            # snapshot, as at any EOF) before it looks at the limit, but only when it holds
            # no decoded characters at all, used or not.
            self._checkClosed()
            if not self._decoded_chars:
                self._checkReadable()
                while True:
                    if not self._read_chunk():
                        self._set_decoded_chars("")
                        self._snapshot = None
                        break
                    if self._decoded_chars:
                        break
            return ""
        self._in_readline = True
        try:
            return super().readline(size)
        finally:
            self._in_readline = False

    def read(self, size=None):
        size = c_optional_size(size)
        self._c_closed()
        self._checkReadable()
        self._writeflush()
        size = size_arg(size)
        decoder = self._decoder or self._get_decoder()
        if size < 0:
            return self._read_all(self.buffer.read())
        eof = False
        result = self._get_decoded_chars(size)
        while len(result) < size and not eof:
            eof = not self._read_chunk(size - len(result))
            result += self._get_decoded_chars(size - len(result))
        return result


@_delegate("flush", "isatty", "readable", "readlines", "seek",
           "seekable", "tell", "truncate", "write", "writable", "writelines")
@_proxy("fileno")
@_props("buffer", "encoding", "errors", "line_buffering", "newlines", "name", "mode")
class AsyncTextIOWrapper(_Detachable):
    """The async ``io.TextIOWrapper``. A cancelled call follows the rule in
    ``aopen._binary.AsyncBase``: never happened or completed, as the kernel decided."""

    _DETACHED = "underlying buffer has been detached"

    async def close(self):
        self._check_attached()
        if self._sync:
            return await self._call("close")
        if self._close_here():
            return
        return await self._runner.close(self._file.close)

    # The lines readline() hands out without touching the file (``_ready``): those the file
    # cut ahead from its decoded characters (``TextIOWrapper._lines``, the same list, the
    # next one last), taken over while no operation runs or waits. A line is then one pop.
    # The file's own position in its decoded characters is brought up to date
    # (``Runner.unready``) before anything else reaches the file: before every operation's
    # snapshot (the runner's own), and on every other way in from here (``_file``, a
    # property of this class); a close or detach of the layers below by other hands (a
    # buffer the caller fetched before) empties the list (``Raw._ready_lines``). An emptied
    # list is how each holder learns the lines are no longer its to hand out.
    _ready = None

    @property
    def _file(self):
        if self._ready is not None:
            self._ready = None
            self._runner.unready()
        return self.__dict__["_text"]

    @_file.setter
    def _file(self, f):
        self.__dict__["_text"] = f

    async def readline(self, size=-1):
        ready = self._ready
        if ready and size is _MINUS_ONE:
            return ready.pop()
        # A line already decoded is returned here, as the built-in's readline returns it:
        # no system call can happen, so no operation (and no snapshot of the stack) is
        # needed. Anything else is an operation.
        if size == -1 and type(size) is int:
            r = self.__dict__.get("_runner")  # (None around a synchronous file: then an operation)
            if r is not None and not r.busy and r.pending is None and not self._detached:
                f = self._file
                line = f._readline_nowait()
                if line is not None:
                    lines = f._lines
                    if lines and f._lines_of is f._decoded_chars and f._lines_end == f._decoded_chars_used:
                        # Taken over: the rest of this chunk's lines are pops.
                        r.ready = (lines, f, f._lines_end + sum(map(len, lines)))
                        f._c_raw._ready_lines = self._ready = lines
                    return line
        return await self._call("readline", size)

    async def __anext__(self):
        ready = self._ready
        if ready:
            return ready.pop()  # (never empty: each ends with its newline)
        line = await self.readline()
        if line:
            return line
        raise StopAsyncIteration

    async def read(self, size=-1):
        # read() of a file whose bytes to the end are cached, on the loop thread: the
        # buffer's read-all fast path (``readall_nowait``), then the text layer's own end of
        # read(). Anything else is an operation.
        if (size is None or type(size) is int and size < 0) and not self._sync and not self._detached \
                and self._runner.idle():
            f = self._file
            buf = f.buffer
            if type(buf) is BufferedReader and not f._pending and f._decoder is not None and not buf.closed \
                    and len(buf._read_buf) == buf._read_pos:
                raw = buf.raw
                if raw._inline_bytes < _YIELD_EVERY:
                    data = readall_nowait(raw)
                    if data is not None:
                        buf._reset_read_buf()
                        return f._read_all(data)
        return await self._call("read", size)


class AsyncTextIndirectIOWrapper(_Indirect, AsyncTextIOWrapper):
    """``AsyncTextIOWrapper`` over ``indirect()``."""
