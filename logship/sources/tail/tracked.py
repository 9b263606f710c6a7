"""A file being followed: its descriptor, cursors, delivered ranges and identity."""

from __future__ import annotations

import os
import time

from logship.acks import Lane
from logship.observe.metrics import FILE_LAG_BYTES
from logship.settings import TailSettings
from logship.sources.tail.cursor import Cursor
from logship.sources.tail.identity import Held, check_fd
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.ranges import DeliveredRanges, Range
from logship.sources.tail.reader import LineReader

__all__ = ["TrackedFile", "forget_label"]


class TrackedFile:
    """An open file being followed: its cursors, what they delivered, its identity once known.

    ``cursors`` holds the bounded cursors (gaps left by a restart, the backfill behind a live
    cursor), in file order, then the open-ended cursor. The file's delivered bytes are ``base``
    (restored, and what dropped cursors delivered) plus each cursor's ``[start, committed)``.
    """

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
        delivered: tuple[Range, ...] = (),
    ) -> None:
        """``offset``: the committed prefix; ``delivered``: the ranges delivered beyond it. Each gap
        below the highest delivered byte is read by a bounded cursor, the rest by the open-ended one."""
        self.path = path
        self.fd = fd
        self.dev = dev
        self.ino = ino
        self.key = key
        self.matched = matched
        self.listed = True  # the last scan listed this inode under ``path`` (set by each scan)
        self.moved = False  # renamed or copied away since it was opened: not the file written now
        self._splitter, self._settings = splitter, settings
        self.base = DeliveredRanges(offset, delivered)
        self.cursors = [self._cursor(s, e, Lane.BACKFILL) for s, e in self.base.gaps(self.base.end)]
        self.cursors.append(self._cursor(self.base.end, None, Lane.LIVE))
        self.size = 0
        self.last_growth = time.monotonic()
        self._check: tuple[int, str] | None = None  # (offset, digest of the bytes before it)

    def _cursor(self, start: int, stop: int | None, lane: Lane) -> Cursor:
        return Cursor(self.fd, start, stop, lane, self._splitter, self._settings)

    @property
    def head(self) -> Cursor:
        """The open-ended cursor: it reads the file as it grows."""
        return self.cursors[-1]

    @property
    def reader(self) -> LineReader:
        """The open-ended cursor's reader: the furthest read, the last bytes seen."""
        return self.cursors[-1].reader

    @property
    def joined(self) -> bool:
        """Read by one cursor from one delivered prefix, as when not catching up."""
        return len(self.cursors) == 1 and self.base.joined

    @property
    def outstanding(self) -> int:
        """Blocks read and not yet delivered, of every cursor."""
        return sum(c.acks.outstanding for c in self.cursors)

    @property
    def idle(self) -> bool:
        """Nothing read and not yet delivered, by any cursor."""
        return all(c.idle for c in self.cursors)

    def ranges(self) -> DeliveredRanges:
        ranges = self.base
        for cursor in self.cursors:
            ranges = ranges.deliver(*cursor.delivered)
        return ranges

    @property
    def lag(self) -> int:
        """Bytes written and not yet delivered."""
        return self.ranges().undelivered(self.size)

    def unread(self) -> int:
        """Bytes written that no cursor has read yet."""
        return sum(c.unread(self.size) for c in self.cursors)

    def split(self, start: int) -> Cursor:
        """A live cursor from ``start`` (a record start not yet read): the open-ended cursor stops
        there and reads the backlog before it as the backfill."""
        head = self.head
        head.bound(start)
        head.lane = Lane.BACKFILL
        live = self._cursor(start, None, Lane.LIVE)
        self.cursors.append(live)
        return live

    def drop_finished(self) -> None:
        """Drop the bounded cursors delivered up to their stop; what they delivered stays known."""
        for cursor in [c for c in self.cursors[:-1] if c.finished]:
            self.base = self.base.deliver(*cursor.delivered)
            self.cursors.remove(cursor)

    def use_fd(self, fd: int) -> None:
        """Read on from ``fd`` (a copy of the file, at the same offsets), or from none (-1)."""
        self.fd = fd
        for cursor in self.cursors:
            cursor.reader.fd = fd

    def position(self) -> FilePosition | None:
        if self.key is None:
            return None
        ranges = self.ranges()
        committed = ranges.committed
        if (self._check is None or self._check[0] != committed) and self.fd >= 0:
            try:
                self._check = (committed, check_fd(self.fd, committed))
            except OSError:
                pass
        check = self._check[1] if self._check is not None and self._check[0] == committed else None
        return FilePosition(
            self.key, self.path, self.dev, self.ino, committed, self.size, check, ranges.beyond
        )

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
        self.use_fd(-1)


def forget_label(path: str) -> None:
    # The lag gauge is dropped with the file; the read counters stay (bounded by the file names a
    # rotation scheme uses) so that their sums never go backwards.
    try:
        FILE_LAG_BYTES.remove(path)
    except KeyError:
        pass
