"""Sources: they know files, offsets and identities, nothing of the engine.

A source hands ``emit`` blocks of raw records (``Block``), each with the file's identity and an
ack handle; ``emit`` returns once the block is on its way, and may wait while the in-flight
bound is reached. A source of finished documents (the dead-letter file) emits ``Finished``
instead, which skip parsing and the transforms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from logship.block import Block, Finished
from logship.sources.tail.positions import FilePosition

__all__ = ["CatchUp", "Emit", "FileListSource", "LiveSource", "Source"]

Emit = Callable[[Block | Finished], Awaitable[None]]


class Source(Protocol):
    async def run(self, emit: Emit, /) -> None:
        """Read and emit until the input ends (replay) or ``stop`` is called (tail)."""
        ...

    def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A live source catching up live-first: a live cursor ships what is written now while the
    backfill ships the backlog behind it (`delivery.catch_up`)."""

    backlog_bytes: int  # read by neither cursor yet or not yet delivered, behind the live cursors
    oldest_seconds: float | None  # age of the oldest undelivered record, when known
    files: int  # files with bytes in the backlog


class LiveSource(Source, Protocol):
    """A source that runs until stopped and resumes where it was (`logship run`): the service
    saves its ``positions()`` as deliveries move them, and reports its lag and health."""

    @property
    def scanned(self) -> asyncio.Event:
        """Set once the inputs were first looked at: from then on, the positions are worth saving."""
        ...

    @property
    def scanned_at(self) -> float | None:
        """When the inputs were last looked at (saved with the positions)."""
        ...

    def positions(self) -> list[FilePosition]:
        """Where each input was delivered up to: what a restart resumes from."""
        ...

    def lag(self) -> int:
        """Bytes written to the inputs and not read yet."""
        ...

    def unopened(self) -> list[str]:
        """Inputs that match but cannot be opened (named in the health answer)."""
        ...

    def catch_up(self) -> CatchUp | None:
        """The backlog while catching up live-first; None when following as usual."""
        ...

    def close(self) -> None:
        """Release the inputs; after ``run`` has ended."""
        ...


class FileListSource:
    """A source that reads named files once each, in order (the replays)."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = paths
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self, emit: Emit) -> None:
        for path in self._paths:
            if self._stopping:
                return
            await self._read(path, emit)

    async def _read(self, path: Path, emit: Emit) -> None:
        raise NotImplementedError
