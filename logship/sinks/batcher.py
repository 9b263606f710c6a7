"""Chunks -> batches bounded by documents and bytes, for any sink: the batches of one lane.

What goes next, and when a partial batch is due, is `logship.sinks.outbox`'s choice.
"""

from __future__ import annotations

from collections import deque

from logship.settings import BatchSettings
from logship.sinks.chunk import Chunk

__all__ = ["Batch", "Batcher", "body_of"]

# Which items of which chunks: a range in the common case, a list of indices for retries.
# A chunk larger than a batch is spread over several batches.
Batch = list[tuple[Chunk, range | list[int]]]


def body_of(batch: Batch) -> bytes:
    """The items of a batch, joined (an NDJSON bulk body, or lines to print)."""
    parts: list[bytes | memoryview] = []
    for chunk, which in batch:
        if isinstance(which, range):
            parts.append(chunk.span(which.start, which.stop))
        else:
            parts.extend(chunk.item(i) for i in which)
    return b"".join(parts)


class Batcher:
    """Fills one batch at a time; a batch that reaches a bound joins ``full``, the one being
    filled (``partial``) is taken by ``take`` once the outbox says it is due."""

    def __init__(self, settings: BatchSettings) -> None:
        self._max_docs = settings.max_documents
        self._max_bytes = settings.max_bytes
        self.full: deque[Batch] = deque()
        self._batch: Batch = []
        self.docs = self.size = 0  # of the batch being filled
        self.generation = 0  # counts the batches begun: tells a flush timer whose batch it was set for

    @property
    def partial(self) -> bool:
        """Whether a batch is being filled (not full yet)."""
        return bool(self._batch)

    def take(self) -> Batch | None:
        """The oldest full batch, else the one being filled; None when there is nothing."""
        if self.full:
            return self.full.popleft()
        if self._batch:
            return self._close()
        return None

    def _close(self) -> Batch:
        batch, self._batch, self.docs, self.size = self._batch, [], 0, 0
        return batch

    def _seal(self) -> None:
        self.full.append(self._close())

    def _begin(self) -> None:
        if not self._batch:
            self.generation += 1

    def add(self, chunk: Chunk) -> None:
        """All the items of ``chunk``, in this batch and the next ones as they fit."""
        self._begin()
        if self.docs + chunk.count <= self._max_docs and self.size + chunk.nbytes <= self._max_bytes:
            self._batch.append((chunk, range(chunk.count)))
            self.docs += chunk.count
            self.size += chunk.nbytes
        else:
            # Rare: spread the chunk over this batch and the next ones, item by item.
            lo = 0
            ends = chunk.ends
            for i in range(chunk.count):
                n = ends[i] - (ends[i - 1] if i else 0)
                if (self.docs + 1 > self._max_docs or self.size + n > self._max_bytes) and (
                    i > lo or self._batch
                ):
                    if i > lo:
                        self._batch.append((chunk, range(lo, i)))
                    self._seal()
                    self._begin()
                    lo = i
                self.docs += 1
                self.size += n
            if chunk.count > lo:
                self._batch.append((chunk, range(lo, chunk.count)))
        if self.docs >= self._max_docs or self.size >= self._max_bytes:
            self._seal()

    def add_items(self, chunk: Chunk, which: list[int]) -> None:
        """Items to send again, in this batch (spread over the next ones if they do not fit)."""
        self._begin()
        ends = chunk.ends
        taken: list[int] = []
        for i in which:
            n = ends[i] - (ends[i - 1] if i else 0)
            if (self.docs + 1 > self._max_docs or self.size + n > self._max_bytes) and (taken or self._batch):
                if taken:
                    self._batch.append((chunk, taken))
                    taken = []
                self._seal()
                self._begin()
            taken.append(i)
            self.docs += 1
            self.size += n
        if taken:
            self._batch.append((chunk, taken))
        if self.docs >= self._max_docs or self.size >= self._max_bytes:
            self._seal()
