"""Sinks: ``encode`` turns Events (or Finished documents) into a Chunk of the sink's wire format;
``send`` delivers a batch.

``send`` settles each record of its batch: delivered (``Chunk.delivered``, which lets the file's
position advance), given up on (``Chunk.abandon``, replay only), or handed back in ``Sent.retry``
when the engine pushed back on it, to go out again in a later batch. It never drops a record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from logship.block import Events, Finished
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk

__all__ = ["Sent", "Sink", "Tally"]


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


@dataclass(slots=True)
class Sent:
    """What ``send`` did with a batch: the outcomes, what to send again, and whether to slow down."""

    tally: Tally
    retry: Batch = field(default_factory=list)
    pushback: bool = False


class Sink(Protocol):
    @property
    def concurrency(self) -> int:
        """Batches sent at once."""
        ...

    def encode(self, events: Events | Finished, /) -> Chunk: ...

    async def send(self, batch: Batch, /) -> Sent: ...

    async def close(self) -> None: ...
