"""Acknowledgements: a file's committed position advances only over delivered records.

Bulk requests finish out of order; each file keeps its blocks in read order and commits the end
of the longest prefix whose records are all delivered (indexed, already present, or written to
the dead-letter file).
"""

from __future__ import annotations

from collections import deque

__all__ = ["BlockAck", "FileAcks"]


class FileAcks:
    """Ordered acknowledgement of one file's blocks."""

    __slots__ = ("_pending", "committed")

    def __init__(self, committed: int) -> None:
        self.committed = committed
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

    def done(self) -> None:
        """Every record of the block is delivered: the file may commit up to ``end``."""
        self.finished = True
        self.file.advance()
