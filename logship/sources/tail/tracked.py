"""A file being followed: its descriptor, reader, acknowledgements and identity."""

from __future__ import annotations

import os
import time

from logship.acks import FileAcks
from logship.settings import TailSettings
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.reader import LineReader

__all__ = ["TrackedFile"]


class TrackedFile:
    """An open file being followed: its reader, its acknowledgements, its identity once known."""

    def __init__(
        self,
        path: str,
        fd: int,
        dev: int,
        ino: int,
        offset: int,
        key: str | None,
        matched: bool,
        splitter: RecordSplitter,
        settings: TailSettings,
    ) -> None:
        self.path = path
        self.fd = fd
        self.dev = dev
        self.ino = ino
        self.key = key
        self.matched = matched
        self.listed = True  # the last scan listed this inode under ``path`` (set by each scan)
        self.reader = LineReader(fd, offset, splitter, settings.read_block_bytes, settings.max_line_bytes)
        self.acks = FileAcks(offset)
        self.size = 0
        self.last_growth = time.monotonic()

    @property
    def lag(self) -> int:
        return max(0, self.size - self.acks.committed)

    def position(self) -> FilePosition | None:
        if self.key is None:
            return None
        return FilePosition(self.key, self.path, self.dev, self.ino, self.acks.committed, self.size)

    def close(self) -> None:
        """Close once: the descriptor number is reused by the next open, so a second close
        would close some other file."""
        if self.fd < 0:
            return
        try:
            os.close(self.fd)
        except OSError:
            pass
        self.fd = self.reader.fd = -1
