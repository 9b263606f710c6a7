"""Acknowledgements: a file's committed position advances only over delivered records.

Bulk requests finish out of order; each file keeps its blocks in read order and commits the end
of the longest prefix whose records are all delivered (indexed, already present, or written to
the dead-letter file).
"""

from __future__ import annotations

from collections import deque
from enum import Enum

__all__ = ["BlockAck", "FileAcks", "Lane"]


class Lane(Enum):
    """Which cursor of a file read a block, and so how urgently it goes out.

    ``LIVE``: what is written now (and everything, when logship is not catching up).
    ``BACKFILL``: the backlog behind a live cursor while catching up live-first; it gets the
    capacity the live records leave, never less than `delivery.backfill_share` of the requests.
    """

    LIVE = "live"
    BACKFILL = "backfill"


class FileAcks:
    """Ordered acknowledgement of one file's blocks."""

    __slots__ = ("_pending", "committed", "lane")

    def __init__(self, committed: int, lane: Lane = Lane.LIVE) -> None:
        self.committed = committed
        self.lane = lane  # the cursor's lane; it may change while its blocks are in flight
        self._pending: deque[BlockAck] = deque()

    def block(self, end: int) -> BlockAck:
        """The handle of the next block read, which ends at file offset ``end``."""
        ack = BlockAck(self, end)
        self._pending.append(ack)
        return ack

    @property
    def outstanding(self) -> int:
        """Blocks read but not yet delivered."""
        return len(self._pending)

    def advance(self) -> None:
        pending = self._pending
        while pending and pending[0].finished:
            self.committed = pending.popleft().end


class BlockAck:
    """The acknowledgement handle a source attaches to a block; the sink finishes it."""

    __slots__ = ("end", "file", "finished")

    def __init__(self, file: FileAcks, end: int) -> None:
        self.file = file
        self.end = end
        self.finished = False

    @property
    def lane(self) -> Lane:
        return self.file.lane

    def done(self) -> None:
        """Every record of the block is delivered: the file may commit up to ``end``."""
        self.finished = True
        self.file.advance()
