"""A cursor: one place a followed file is read from, with its own reader, acks, start and stop.

A file is read by one open-ended cursor (today's behaviour: from the committed position, as the
file grows) and, while catching up live-first or resuming stored gaps, by bounded cursors that
read ``[start, stop)`` and are dropped once they delivered up to their stop. A record's id comes
from the file's identity and its offset, so the same bytes read by any cursor give the same id.
"""

from __future__ import annotations

import os

from logship.acks import FileAcks, Lane
from logship.settings import TailSettings
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.ranges import Range
from logship.sources.tail.reader import LineReader

__all__ = ["Cursor", "live_start"]

_LOOK_BACK = 1 << 16  # bytes searched back from a file's end for the start of its last record


class Cursor:
    """Reads ``[start, stop)`` of a file (``stop`` None: open-ended), in ``lane``."""

    __slots__ = ("acks", "reader", "start")

    def __init__(
        self,
        fd: int,
        start: int,
        stop: int | None,
        lane: Lane,
        splitter: RecordSplitter,
        settings: TailSettings,
    ) -> None:
        self.start = start
        self.reader = LineReader(
            fd, start, splitter, settings.read_block_bytes, settings.max_line_bytes, stop=stop
        )
        self.acks = FileAcks(start, lane)

    @property
    def stop(self) -> int | None:
        return self.reader.stop

    @property
    def lane(self) -> Lane:
        return self.acks.lane

    @lane.setter
    def lane(self, lane: Lane) -> None:
        self.acks.lane = lane

    @property
    def delivered(self) -> Range:
        """What this cursor delivered: ``[start, committed)``."""
        return self.start, self.acks.committed

    @property
    def finished(self) -> bool:
        """A bounded cursor that delivered up to its stop: it may be dropped."""
        return self.stop is not None and self.acks.committed >= self.stop

    @property
    def idle(self) -> bool:
        """Nothing read and not yet delivered."""
        return self.acks.outstanding == 0 and not self.reader.buffered

    def bound(self, stop: int) -> None:
        """Read no further than ``stop`` (a record boundary not yet read)."""
        assert self.reader.next_read <= stop and self.stop is None
        self.reader.stop = stop

    def unread(self, size: int) -> int:
        """Bytes of its range not read yet, in a file of ``size`` bytes."""
        end = size if self.stop is None else min(self.stop, size)
        return max(0, end - self.reader.next_read)

    def __repr__(self) -> str:
        return f"Cursor([{self.start}, {self.stop}), {self.lane.value}, committed {self.acks.committed})"


def live_start(fd: int, size: int, splitter: RecordSplitter) -> int | None:
    """The start of the last record that begins before ``size``: where a live cursor starts so that
    a record and its continuation lines (a traceback) are never split between two cursors. None
    when no record start is found in the last 64 KiB (a runaway multiline record)."""
    begin = max(0, size - _LOOK_BACK)
    data = os.pread(fd, size - begin, begin)
    end = data.rfind(b"\n") + 1  # complete lines only: an unfinished one may yet turn out either way
    if end == 0:
        return None
    at = data.rfind(b"\n", 0, end - 1) + 1  # the last complete line
    while at > 0 or begin == 0:  # a line cut by the look-back window is not a line
        if splitter.starts_record(data, at):
            return begin + at
        if at == 0:
            return None
        at = data.rfind(b"\n", 0, at - 1) + 1
    return None
