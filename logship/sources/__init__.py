"""Sources: they know files, offsets and identities, nothing of the engine.

A source hands ``emit`` blocks of raw records (``Block``), each with the file's identity and an
ack handle; ``emit`` returns once the block is on its way, and may wait while the in-flight
bound is reached. A source of finished documents (the dead-letter file) emits ``Finished``
instead, which skip parsing and the transforms.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from logship.block import Block, Finished

__all__ = ["Emit", "FileListSource", "Source"]

Emit = Callable[[Block | Finished], Awaitable[None]]


class Source(Protocol):
    async def run(self, emit: Emit, /) -> None:
        """Read and emit until the input ends (replay) or ``stop`` is called (tail)."""
        ...

    def stop(self) -> None: ...


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
