"""A file being followed: its descriptor, reader, acknowledgements and identity."""

from __future__ import annotations

import os
import time

from logship.acks import FileAcks
from logship.observe.metrics import FILE_LAG_BYTES
from logship.settings import TailSettings
from logship.sources.tail.identity import Held, check_fd
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.reader import LineReader

__all__ = ["TrackedFile", "forget_label"]


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
        self._check: tuple[int, str] | None = None  # (offset, digest of the bytes before it)

    @property
    def lag(self) -> int:
        return max(0, self.size - self.acks.committed)

    def position(self) -> FilePosition | None:
        if self.key is None:
            return None
        committed = self.acks.committed
        if (self._check is None or self._check[0] != committed) and self.fd >= 0:
            try:
                self._check = (committed, check_fd(self.fd, committed))
            except OSError:
                pass
        check = self._check[1] if self._check is not None and self._check[0] == committed else None
        return FilePosition(self.key, self.path, self.dev, self.ino, committed, self.size, check)

    def held(self) -> Held | None:
        if self.key is None:
            return None
        return Held(self.key, self.path, self.dev, self.ino, self.fd, max(self.size, self.reader.next_read))

    def renamed_away(self) -> bool:
        """The name the last scan listed this file under now leads to another file, or to none."""
        if not self.listed:
            return False
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return True
        except OSError:
            return False  # unreadable name: left to the scan
        return (st.st_dev, st.st_ino) != (self.dev, self.ino)

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


def forget_label(path: str) -> None:
    # The lag gauge is dropped with the file; the read counters stay (bounded by the file names a
    # rotation scheme uses) so that their sums never go backwards.
    try:
        FILE_LAG_BYTES.remove(path)
    except KeyError:
        pass
