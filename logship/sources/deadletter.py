"""The dead-letter source: documents the engine rejected, sent again with their original index and id.

Entries are finished documents, so they skip parsing and the transforms. A line that is not a
dead-letter entry is reported with its file and line number and counted as not delivered.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from logship.acks import FileAcks
from logship.block import Finished, Origin, Routed
from logship.deadletter_files import ReadFile
from logship.sources import Emit, FileListSource

__all__ = ["DeadLetterSource"]

log = logging.getLogger(__name__)

_PER_BLOCK = 1000


class DeadLetterSource(FileListSource):
    def __init__(self, paths: list[Path], on_read: Callable[[int, int], None]) -> None:
        """``on_read(bytes, records)`` reports progress."""
        super().__init__(paths)
        self._on_read = on_read
        self.skipped = 0  # lines that are not dead-letter entries
        self.read_files: list[ReadFile] = []  # the files read to the end, as they were then

    async def _read(self, path: Path, emit: Emit) -> None:
        origin = Origin(str(path), "")
        acks = FileAcks(0)
        docs: list[Routed] = []
        with path.open("rb") as f:
            # Only what the file held at the start: when it is `dead_letter.path` itself, documents
            # rejected again are appended to it while it is read, and reading those too would send
            # them round forever.
            st = os.fstat(f.fileno())
            end = st.st_size
            read = 0
            for number, line in enumerate(f, 1):
                if read >= end or self._stopping:
                    break
                read += len(line)
                self._on_read(len(line), 0)
                if not line.strip():
                    continue
                try:
                    entry: Any = orjson.loads(line)
                    routed = Routed(str(entry["index"]), str(entry["id"]), entry["document"])
                    if not isinstance(routed.document, dict):
                        raise TypeError("`document` is not an object")
                except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                    log.error(
                        "Skipping a line that is not a dead-letter entry",
                        extra={"file": str(path), "line": number, "error": str(exc)},
                    )
                    self.skipped += 1
                    continue
                docs.append(routed)
                self._on_read(0, 1)
                if len(docs) >= _PER_BLOCK:
                    await emit(Finished(origin, acks.block(read), docs))
                    docs = []
        if docs:
            await emit(Finished(origin, acks.block(read), docs))
        if not self._stopping:
            self.read_files.append(ReadFile(path, st.st_dev, st.st_ino, end))
