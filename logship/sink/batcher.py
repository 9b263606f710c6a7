"""Chunks -> bulk batches bounded by documents, bytes and a flush interval."""

from __future__ import annotations

import asyncio
import time

from logship.acks import Chunk
from logship.settings import BatchSettings

__all__ = ["Batch", "Batcher"]

# Parts of chunks: a chunk larger than a batch is spread over several batches.
Batch = list[tuple[Chunk, list[bytes]]]


class Batcher:
    """Reads chunks from ``chunks`` and puts batches on ``batches``; ``None`` ends both."""

    def __init__(self, settings: BatchSettings, chunks: asyncio.Queue[Chunk | None],
                 batches: asyncio.Queue[Batch | None], senders: int) -> None:
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
            items = chunk.items
            if docs + len(items) <= self._max_docs and size + chunk.nbytes <= self._max_bytes:
                batch.append((chunk, items))
                docs += len(items)
                size += chunk.nbytes
            else:
                # Rare: spread the chunk item by item over this batch and the next ones.
                part: list[bytes] = []
                for item in items:
                    n = len(item)
                    if (docs + 1 > self._max_docs or size + n > self._max_bytes) and (part or batch):
                        if part:
                            batch.append((chunk, part))
                        await self._batches.put(batch)
                        batch, part, docs, size = [], [], 0, 0
                        deadline = time.monotonic() + self._interval
                    part.append(item)
                    docs += 1
                    size += n
                if part:
                    batch.append((chunk, part))
            if docs >= self._max_docs or size >= self._max_bytes:
                await self._batches.put(batch)
                batch, docs, size = [], 0, 0
