"""The replay source: named files, each read once from its first byte to its end; no positions.

It shares the tail source's reader and record splitter, so a file replays into exactly the
records (and ids) that following it produced.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from logship.acks import FileAcks
from logship.block import Origin
from logship.budget import InflightBudget
from logship.hashing import digest
from logship.settings import TailSettings
from logship.sources import Emit, FileListSource
from logship.sources.tail.fingerprint import fingerprint_fd, whole_file_key
from logship.sources.tail.identity import SEPARATOR
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.reader import LineReader

__all__ = ["FileReplaySource"]

log = logging.getLogger(__name__)


class FileReplaySource(FileListSource):
    def __init__(
        self,
        paths: list[Path],
        tail: TailSettings,
        splitter: RecordSplitter,
        budget: InflightBudget | None,
        on_read: Callable[[int, int], None],
    ) -> None:
        """``on_read(bytes, records)`` reports progress; ``budget`` None reads without pausing."""
        super().__init__(paths)
        self._settings = tail
        self._splitter = splitter
        self._budget = budget
        self._on_read = on_read
        self._given: dict[str, str] = {}  # identity -> the file (resolved) it was given to

    async def _read(self, path: Path, emit: Emit) -> None:
        s = self._settings
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            name = str(path.resolve())
            origin = Origin(
                name, self._identity(fingerprint_fd(fd, s.fingerprint_bytes) or whole_file_key(fd), name)
            )
            reader = LineReader(
                fd, 0, self._splitter, s.read_block_bytes, s.max_line_bytes, count_lines=False
            )
            acks = FileAcks(0)
            at_end = False
            while not self._stopping:
                if self._budget is not None:
                    await self._budget.wait_for_room()
                got = 0
                if not at_end:
                    got = reader.read()
                    at_end = got == 0
                block = reader.take(hold_last=not at_end, at_eof_final=at_end)
                self._on_read(got, len(block) if block is not None else 0)
                if block is None:
                    if at_end:
                        return
                    continue
                block.origin = origin
                block.ack = acks.block(block.end)
                await emit(block)
                await asyncio.sleep(0)  # let the senders run between blocks
        finally:
            os.close(fd)

    def _identity(self, base: str, path: str) -> str:
        """The first-line identity, as when the file was followed; a second file of this replay
        with the same first line gets one derived from its name (its records may then be sent
        again, never taken for the first file's)."""
        key = base
        if self._given.setdefault(base, path) != path:
            key = f"{base}{SEPARATOR}{digest(path.encode())}"
            log.warning(
                "File shares its first line with another file of this replay; sending it under an "
                "identity of its own",
                extra={"file": path, "other_file": self._given[base], "identity": key},
            )
        return key
