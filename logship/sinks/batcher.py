"""Chunks -> batches bounded by items, bytes and a flush interval, for any sink."""

from __future__ import annotations

import asyncio
import time

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
    """Reads chunks from ``chunks`` and puts batches on ``batches``; ``None`` ends both."""

    def __init__(
        self,
        settings: BatchSettings,
        chunks: asyncio.Queue[Chunk | None],
        batches: asyncio.Queue[Batch | None],
        senders: int,
    ) -> None:
        self._max_docs = settings.max_documents
        self._max_bytes = settings.max_bytes
        self._interval = settings.flush_interval_seconds
        self._chunks = chunks
        self._batches = batches
        self._senders = senders

    async def run(self) -> None:
        batch: Batch = []
        docs = size = 0
        deadline = 0.0
        while True:
            try:
                if batch:
                    chunk = await asyncio.wait_for(self._chunks.get(), max(0.0, deadline - time.monotonic()))
                else:
                    chunk = await self._chunks.get()
            except TimeoutError:
                await self._batches.put(batch)
                batch, docs, size = [], 0, 0
                continue
            if chunk is None:
                if batch:
                    await self._batches.put(batch)
                for _ in range(self._senders):
                    await self._batches.put(None)
                return
            if not batch:
                deadline = time.monotonic() + self._interval
            if docs + chunk.count <= self._max_docs and size + chunk.nbytes <= self._max_bytes:
                batch.append((chunk, range(chunk.count)))
                docs += chunk.count
                size += chunk.nbytes
            else:
                # Rare: spread the chunk over this batch and the next ones, item by item.
                lo = 0
                ends = chunk.ends
                for i in range(chunk.count):
                    n = ends[i] - (ends[i - 1] if i else 0)
                    if (docs + 1 > self._max_docs or size + n > self._max_bytes) and (i > lo or batch):
                        if i > lo:
                            batch.append((chunk, range(lo, i)))
                        await self._batches.put(batch)
                        batch, docs, size, lo = [], 0, 0, i
                        deadline = time.monotonic() + self._interval
                    docs += 1
                    size += n
                if chunk.count > lo:
                    batch.append((chunk, range(lo, chunk.count)))
            if docs >= self._max_docs or size >= self._max_bytes:
                await self._batches.put(batch)
                batch, docs, size = [], 0, 0
