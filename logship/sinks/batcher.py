"""Chunks -> batches bounded by items, bytes and a flush interval, for any sink."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from logship.settings import BatchSettings
from logship.sinks.chunk import Chunk

__all__ = ["CLOSE", "FLUSH", "Batch", "Batcher", "Close", "Flush", "Inbox", "Returned", "body_of"]

# Which items of which chunks: a range in the common case, a list of indices for retries.
# A chunk larger than a batch is spread over several batches.
Batch = list[tuple[Chunk, range | list[int]]]


class Flush:
    """Send what is batched now: the source read all there was (a live tick caught up), so waiting
    the flush interval would add latency and a wakeup of its own, and no more records."""


FLUSH = Flush()


class Close:
    """No more chunks: send what is batched, then end once every batch out has come back."""


CLOSE = Close()


@dataclass(frozen=True, slots=True)
class Returned:
    """A batch sent came back from the sink: ``again`` holds its items to send again (often none)."""

    again: Batch


# What the batcher reads: chunks to send, flush and close requests, from the flow; and, from the
# senders, every batch sent as it comes back.
Inbox = asyncio.Queue[Chunk | Flush | Close | Returned]


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
    """Reads chunks from ``inbox`` and puts batches on ``batches``.

    Every batch sent comes back through ``inbox`` once, as ``Returned`` with the items the engine
    pushed back on: those go into the next batch, sent as soon as no other batch is out. After
    ``CLOSE`` the batcher flushes, waits until every batch out has come back with nothing to send
    again, and then puts one ``None`` per sender.
    """

    def __init__(
        self,
        settings: BatchSettings,
        inbox: Inbox,
        batches: asyncio.Queue[Batch | None],
        senders: int,
    ) -> None:
        self._max_docs = settings.max_documents
        self._max_bytes = settings.max_bytes
        self._interval = settings.flush_interval_seconds
        self._inbox = inbox
        self._batches = batches
        self._senders = senders
        self._batch: Batch = []
        self._docs = self._size = 0
        self._deadline = 0.0
        self._out = 0  # batches sent and not yet come back

    def state(self) -> dict[str, int]:
        """Where the batcher's items are now (logged at shutdown, so that a stall can be placed)."""
        return {"batched_documents": self._docs, "batched_bytes": self._size, "batches_out": self._out}

    async def run(self) -> None:
        closing = False
        while True:
            if closing and not self._out:
                await self._flush()
                if not self._out:
                    for _ in range(self._senders):
                        await self._batches.put(None)
                    return
            try:
                if self._batch and not closing:
                    timeout = max(0.0, self._deadline - time.monotonic())
                    got = await asyncio.wait_for(self._inbox.get(), timeout)
                else:
                    got = await self._inbox.get()
            except TimeoutError:
                await self._flush()
                continue
            if isinstance(got, Chunk):
                await self._add_chunk(got)
            elif isinstance(got, Returned):
                self._out -= 1
                for chunk, which in got.again:
                    await self._add_items(chunk, list(which))
                if closing or (got.again and not self._out):
                    # Items handed back have waited a round trip already: once no other answer is
                    # awaited they go at once, rather than after the flush interval. (When the
                    # in-flight bound is spent, nothing else may come to fill the batch.)
                    await self._flush()
            else:  # Flush, or Close
                closing = closing or isinstance(got, Close)
                await self._flush()

    async def _flush(self) -> None:
        if self._batch:
            await self._batches.put(self._batch)
            self._out += 1
            self._batch, self._docs, self._size = [], 0, 0

    def _start(self) -> None:
        if not self._batch:
            self._deadline = time.monotonic() + self._interval

    async def _add_chunk(self, chunk: Chunk) -> None:
        self._start()
        if self._docs + chunk.count <= self._max_docs and self._size + chunk.nbytes <= self._max_bytes:
            self._batch.append((chunk, range(chunk.count)))
            self._docs += chunk.count
            self._size += chunk.nbytes
        else:
            # Rare: spread the chunk over this batch and the next ones, item by item.
            lo = 0
            ends = chunk.ends
            for i in range(chunk.count):
                n = ends[i] - (ends[i - 1] if i else 0)
                if (self._docs + 1 > self._max_docs or self._size + n > self._max_bytes) and (
                    i > lo or self._batch
                ):
                    if i > lo:
                        self._batch.append((chunk, range(lo, i)))
                    await self._flush()
                    self._start()
                    lo = i
                self._docs += 1
                self._size += n
            if chunk.count > lo:
                self._batch.append((chunk, range(lo, chunk.count)))
        if self._docs >= self._max_docs or self._size >= self._max_bytes:
            await self._flush()

    async def _add_items(self, chunk: Chunk, which: list[int]) -> None:
        """Items to send again, in the next batch (spread over several if they do not fit one)."""
        self._start()
        ends = chunk.ends
        taken: list[int] = []
        for i in which:
            n = ends[i] - (ends[i - 1] if i else 0)
            if (self._docs + 1 > self._max_docs or self._size + n > self._max_bytes) and (
                taken or self._batch
            ):
                if taken:
                    self._batch.append((chunk, taken))
                    taken = []
                await self._flush()
                self._start()
            taken.append(i)
            self._docs += 1
            self._size += n
        if taken:
            self._batch.append((chunk, taken))
        if self._docs >= self._max_docs or self._size >= self._max_bytes:
            await self._flush()
