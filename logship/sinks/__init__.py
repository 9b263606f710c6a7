"""Sinks: ``encode`` turns Events into a Chunk of the sink's wire format; ``send`` delivers a batch.

``send`` settles every record of its batch: delivered (``Chunk.delivered``, which lets the
file's position advance), or given up on (``Chunk.abandon``, replay only), and returns the
counts by outcome. What a sink cannot deliver now it retries; it never drops a record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from logship.block import Events
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk

__all__ = ["Sink", "Tally"]


@dataclass(slots=True)
class Tally:
    """Records by outcome."""

    indexed: int = 0
    already_present: int = 0
    dead_lettered: int = 0
    undelivered: int = 0
    printed: int = 0

    def add(self, other: Tally) -> None:
        self.indexed += other.indexed
        self.already_present += other.already_present
        self.dead_lettered += other.dead_lettered
        self.undelivered += other.undelivered
        self.printed += other.printed


class Sink(Protocol):
    @property
    def concurrency(self) -> int:
        """Batches sent at once."""
        ...

    def encode(self, events: Events, /) -> Chunk: ...

    async def send(self, batch: Batch, /) -> Tally: ...

    async def close(self) -> None: ...
