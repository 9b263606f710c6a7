"""Reading one file block by block: complete lines only, over-long lines cut, records held for multiline."""

from __future__ import annotations

import os

from logship.block import Block, SlowRecord
from logship.sources.tail.multiline import RecordSplitter

__all__ = ["LineReader", "last_line_end"]

_SEEN = 64  # bytes kept to notice a file rewritten in place


class LineReader:
    """Reads a file from ``offset``; ``take`` hands out blocks of complete records, in order.

    The buffer always starts at a record boundary (``buf_start``), so the end of the last block
    handed out is the resumable position, never the raw read offset. With a ``stop`` (a record
    boundary: where another cursor reads on) no byte at or past it is read, and the last record
    before it is handed out without waiting for continuation lines.
    """

    def __init__(
        self,
        fd: int,
        offset: int,
        splitter: RecordSplitter,
        block_bytes: int,
        max_line_bytes: int,
        *,
        stop: int | None = None,
        count_lines: bool = True,
    ) -> None:
        """``count_lines`` False: ``last_lines`` stays 0 (a replay reports no lines-read metric, and
        counting is a pass over every byte read)."""
        self.fd = fd
        self.buf = b""
        self.buf_start = offset  # file offset of buf[0]
        self.next_read = offset  # file offset of the next byte to read
        self.stop = stop  # exclusive bound of what is read (None: the end of the file, as it grows)
        self._splitter = splitter
        self.block_bytes = block_bytes
        self._max_line = max_line_bytes
        self._skipping: tuple[int, bytes] | None = None  # over-long line: (start, kept head)
        self._long_done: Block | None = None
        self.last_lines = 0  # newlines in the block read last, for the lines-read metric
        self._seen_end = b""  # the last bytes read, which end at ``next_read``
        if offset > 0:
            n = min(_SEEN, offset)
            self._seen_end = os.pread(fd, n, offset - n)
        self._count_lines = count_lines

    @property
    def buffered(self) -> int:
        """Bytes read but not yet handed out."""
        return len(self.buf)

    @property
    def reached(self) -> bool:
        """Everything up to the stop is read (never, without one)."""
        return self.stop is not None and self.next_read >= self.stop

    def read(self) -> int:
        """Read one block into the buffer; return the number of bytes read (0 at end of file)."""
        want = self.block_bytes if self.stop is None else min(self.block_bytes, self.stop - self.next_read)
        if want <= 0:
            return 0
        data = os.pread(self.fd, want, self.next_read)
        got = len(data)
        if not got:
            return 0
        self.next_read += got
        self._seen_end = data[-_SEEN:] if got >= _SEEN else (self._seen_end + data)[-_SEEN:]
        if self._count_lines:
            self.last_lines = data.count(b"\n")
        if self._skipping is not None:
            nl = data.find(b"\n")
            if nl < 0:
                return got  # still inside the over-long line: its rest is discarded
            start, head = self._skipping
            self._skipping = None
            end = self.next_read - len(data) + nl + 1
            self._long_done = Block(start, end, [], [SlowRecord(start, head, None, "line_truncated")])
            data = data[nl + 1 :]
            self.buf_start = end
        self.buf = self.buf + data if self.buf else data
        return got

    def rewritten(self, fd: int | None = None) -> bool:
        """The bytes last read are no longer there (in ``fd``, by default the file read): it was
        truncated and written again in place, maybe to the same length and first line, or ``fd``
        is not a copy of it (raises OSError)."""
        n = len(self._seen_end)
        at = self.fd if fd is None else fd
        return n > 0 and os.pread(at, n, self.next_read - n) != self._seen_end

    def take(self, hold_last: bool, at_eof_final: bool = False) -> Block | None:
        """Hand out the complete records in the buffer.

        ``hold_last`` keeps the last record back, since continuation lines may follow it;
        ``at_eof_final`` (replay) treats an unterminated last line as complete. Once the stop is
        reached nothing follows the last record: it is handed out.
        """
        if self.reached:
            hold_last = False
        if self._long_done is not None:
            done, self._long_done = self._long_done, None
            return done
        if at_eof_final and self._skipping is not None:
            # The over-long line ends with the file, without a newline: it is complete now, and
            # everything read after its head was discarded (the buffer is empty).
            start, head = self._skipping
            self._skipping = None
            self.buf, self.buf_start = b"", self.next_read
            return Block(start, self.next_read, [], [SlowRecord(start, head, None, "line_truncated")])
        buf = self.buf
        unterminated = at_eof_final and bool(buf) and not buf.endswith(b"\n")
        if unterminated:
            buf = self.buf = buf + b"\n"
        complete = buf.rfind(b"\n") + 1
        if self._skipping is None and len(buf) - complete > self._max_line:
            # An over-long line begins: hand out everything before it, keep its head, skip the rest.
            self._skipping = (self.buf_start + complete, buf[complete : complete + self._max_line])
            hold_last = False
            self.buf = buf = buf[:complete]
        block, used = self._splitter.split(buf, self.buf_start, complete, hold_last)
        if used:
            self.buf = buf[used:]
            self.buf_start += used
            if unterminated and block is not None and not self.buf:
                # The newline added above is not in the file: the block ends at the file's end.
                block.end = self.buf_start = self.next_read
        return block


def last_line_end(path: str, size: int) -> int:
    """Offset just after the last complete line: where `read_from = "tail"` starts."""
    try:
        with open(path, "rb") as f:
            start = max(0, size - 65536)
            f.seek(start)
            data = f.read(size - start)
    except OSError:
        return 0
    nl = data.rfind(b"\n")
    return start + nl + 1 if nl >= 0 else start if start else 0
