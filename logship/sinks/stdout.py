"""The print sink (`logship replay --print`): each document as one JSON line on stdout."""

from __future__ import annotations

from typing import BinaryIO

from logship.block import Events, Finished
from logship.document import documents
from logship.sinks import LocalSink, Outcome, Sent, Tally
from logship.sinks.batcher import Batch, body_of
from logship.sinks.chunk import Chunk

__all__ = ["PrintSink"]


class PrintSink(LocalSink):
    """Writes documents as they would be indexed, contacting nothing."""

    concurrency = 1  # one writer keeps the output in read order
    destination = "standard output"

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def encode(self, events: Events | Finished) -> Chunk:
        return Chunk([doc + b"\n" for doc in documents(events)], events.ack)

    async def send(self, batch: Batch) -> Sent:
        self._out.write(body_of(batch))
        count = 0
        for chunk, which in batch:
            chunk.delivered(len(which))
            count += len(which)
        return Sent(Tally({Outcome.PRINTED: count}))

    async def describe(self) -> str:
        return self.destination

    async def close(self) -> None:
        self._out.flush()
