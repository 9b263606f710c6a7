"""The replay source: named files, each read once from its first byte to its end; no positions.

It shares the tail source's reader and record splitter, so a file replays into exactly the
records (and ids) that following it produced.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from logship.acks import FileAcks
from logship.block import Origin
from logship.budget import InflightBudget
from logship.settings import TailSettings
from logship.sources import Emit, FileListSource
from logship.sources.tail.fingerprint import fingerprint_fd, whole_file_key
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.reader import LineReader

__all__ = ["FileReplaySource"]


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

    async def _read(self, path: Path, emit: Emit) -> None:
        s = self._settings
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            key = fingerprint_fd(fd, s.fingerprint_bytes) or whole_file_key(fd)
            origin = Origin(str(path.resolve()), key)
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
