"""A block encoded by a sink: its items joined in one body, delivered item by item."""

from __future__ import annotations

from array import array
from collections.abc import Callable
from itertools import accumulate

from logship.acks import BlockAck

__all__ = ["Chunk"]


def _ignore(_: int) -> None:
    pass


class Chunk:
    """A sink's encoded items of one block; its ack is done when every item is delivered.

    The items are kept joined in one body with their end offsets: one object per chunk instead
    of one per record, which is most of the memory held in flight.
    """

    __slots__ = ("abandoned", "ack", "attempts", "body", "count", "ends", "nbytes", "release", "remaining")

    def __init__(self, items: list[bytes], ack: BlockAck | None) -> None:
        self.ack = ack
        self.body = b"".join(items)
        self.ends = array("Q", accumulate(map(len, items)))
        self.count = len(items)
        self.nbytes = len(self.body)
        self.remaining = self.count
        # Set by whoever accounted the bytes (the in-flight budget); called once, when complete.
        self.release: Callable[[int], None] = _ignore
        self.abandoned = False
        self.attempts: dict[int, int] | None = None  # failed attempts per item, once any failed

    def failed(self, i: int) -> int:
        """Count a failed attempt to deliver item ``i``; returns how many it has had."""
        if self.attempts is None:
            self.attempts = {}
        n = self.attempts[i] = self.attempts.get(i, 0) + 1
        return n

    def item(self, i: int) -> bytes:
        """The i-th encoded item."""
        return self.body[self.ends[i - 1] if i else 0 : self.ends[i]]

    def span(self, lo: int, hi: int) -> memoryview:
        """Items lo..hi-1 as one view, without copying."""
        return memoryview(self.body)[self.ends[lo - 1] if lo else 0 : self.ends[hi - 1]]

    def delivered(self, count: int) -> None:
        """Mark ``count`` more items delivered; frees the body and finishes the ack when complete."""
        self.remaining -= count
        if self.remaining == 0:
            self.body = b""
            self.release(self.nbytes)
            if self.ack is not None and not self.abandoned:
                self.ack.done()

    def abandon(self, count: int) -> None:
        """Give up on ``count`` items (replay only): the file position never advances past them."""
        self.abandoned = True
        self.delivered(count)
