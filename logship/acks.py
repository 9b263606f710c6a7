"""Acknowledgements: a file's committed position advances only over delivered records.

Bulk requests finish out of order; each file keeps its chunks in read order and commits the
end of the longest prefix whose records are all delivered (indexed, already present, or
written to the dead-letter file).
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable
from itertools import accumulate

__all__ = ["Chunk", "FileAcks"]


class FileAcks:
    """Ordered acknowledgement of one file's chunks."""

    __slots__ = ("_pending", "committed", "on_commit")

    def __init__(self, committed: int, on_commit: Callable[[], None] | None = None) -> None:
        self.committed = committed
        self._pending: deque[Chunk] = deque()
        self.on_commit = on_commit

    def track(self, chunk: Chunk) -> None:
        self._pending.append(chunk)

    @property
    def outstanding(self) -> int:
        """Chunks read but not yet delivered."""
        return len(self._pending)

    def advance(self) -> None:
        pending = self._pending
        moved = False
        while pending and pending[0].remaining == 0:
            self.committed = pending.popleft().end
            moved = True
        if moved and self.on_commit is not None:
            self.on_commit()


class Chunk:
    """Encoded records from one file covering bytes [start, end); done when ``remaining`` hits 0.

    The items are kept joined in one body with their end offsets: one object per chunk instead
    of one per record, which is most of the memory held in flight.
    """

    __slots__ = (
        "abandoned",
        "acks",
        "body",
        "count",
        "end",
        "ends",
        "nbytes",
        "path",
        "release",
        "remaining",
        "start",
    )

    def __init__(
        self,
        acks: FileAcks,
        start: int,
        end: int,
        items: list[bytes],
        path: str,
        release: Callable[[int], None],
    ) -> None:
        self.acks = acks
        self.start = start
        self.end = end
        self.body = b"".join(items)
        self.ends = array("Q", accumulate(map(len, items)))
        self.count = len(items)
        self.nbytes = len(self.body)
        self.remaining = self.count
        self.path = path
        self.release = release
        self.abandoned = False
        acks.track(self)

    def item(self, i: int) -> bytes:
        """The i-th encoded item (action line and document line)."""
        return self.body[self.ends[i - 1] if i else 0 : self.ends[i]]

    def span(self, lo: int, hi: int) -> memoryview:
        """Items lo..hi-1 as one view, without copying."""
        return memoryview(self.body)[self.ends[lo - 1] if lo else 0 : self.ends[hi - 1]]

    def delivered(self, count: int) -> None:
        """Mark ``count`` more records delivered; frees the chunk's bytes when it is complete."""
        self.remaining -= count
        if self.remaining == 0:
            self.body = b""
            self.release(self.nbytes)
            if not self.abandoned:
                self.acks.advance()

    def abandon(self, count: int) -> None:
        """Give up on ``count`` records (replay only): the file position never advances past them."""
        self.abandoned = True
        self.delivered(count)
