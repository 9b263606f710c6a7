"""Sinks: ``encode`` turns Events (or Finished documents) into a Chunk of the sink's wire format;
``send`` delivers a batch.

``send`` settles each record of its batch: delivered (``Chunk.delivered``, which lets the file's
position advance), given up on (``Chunk.abandon``, replay only), or handed back in ``Sent.retry``
when the engine pushed back on it, to go out again in a later batch. It never drops a record.
What becomes of each record is counted by ``Outcome`` in a ``Tally``.

Everything particular to a destination (readiness, its own background work, insecure transport
warnings, where refused records go) sits behind the ``Sink`` protocol; `logship.wiring` builds
the sink the settings ask for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from logship.block import Events, Finished
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk

__all__ = ["LocalSink", "Outcome", "Sent", "Sink", "Tally", "log_warnings"]

log = logging.getLogger(__name__)


class Outcome(Enum):
    """What became of a record in a sink."""

    INDEXED = "indexed"  # the engine took it
    ALREADY_PRESENT = "already_present"  # the engine held it already (sent before)
    DEAD_LETTERED = "dead_lettered"  # refused, and written to the dead-letter file with the reason
    UNDELIVERED = "undelivered"  # given up on (replay only): read again next time
    PRINTED = "printed"  # written out (`replay --print`)


class Tally(Counter[Outcome]):
    """Records by outcome; ``update`` adds another tally."""


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

    @property
    def destination(self) -> str:
        """Where it sends, for logship's own log (no credentials)."""
        ...

    def encode(self, events: Events | Finished, /) -> Chunk: ...

    async def send(self, batch: Batch, /) -> Sent: ...

    def warnings(self) -> list[str]:
        """What is unsafe in how the destination is reached (logged once per start)."""
        ...

    def start(self) -> list[asyncio.Task[None]]:
        """Work of its own beside the sending, for a long run (`logship run`): the caller cancels
        and awaits the tasks before ``close``."""
        ...

    async def ping(self) -> None:
        """Ask the destination whether it answers; raises EngineUnreachable (or EngineRedirected)
        when it does not. The long run's readiness follows it."""
        ...

    async def describe(self) -> str:
        """Who answers (`check --connect`); raises EngineUnreachable, or EngineRejected when it
        refuses these credentials."""
        ...

    async def close(self) -> None: ...


class LocalSink:
    """What a sink whose destination is within reach of the process (standard output, memory)
    answers to the parts of ``Sink`` about reaching it: nothing insecure, no work beside the
    sending, always there. Such a sink adds ``encode``, ``send``, ``describe`` and ``close``."""

    def warnings(self) -> list[str]:
        return []

    def start(self) -> list[asyncio.Task[None]]:
        return []

    async def ping(self) -> None:
        pass


def log_warnings(sink: Sink) -> None:
    """Log, once, each insecure choice of how ``sink`` reaches its destination."""
    for warning in sink.warnings():
        log.warning("Insecure connection to the destination", extra={"problem": warning})
