"""The log files as they are while the application may be rotating them.

A rotation renames every backup (``app.log.1`` -> ``app.log.2`` ...) in a few microseconds, and a
busy application rotates small files several times a second: a name listed a moment ago may
already lead to another file, and a file renamed between the directory listing and the ``stat``
may be missed. So the globs are scanned until two scans in a row list the same inodes (all seen
are kept), and each file is opened by name and checked to be the inode listed before its first
line is read; a name that has moved on is looked up again.
"""

from __future__ import annotations

import os

from logship.sources.tail.discovery import Candidate, Discovery
from logship.sources.tail.fingerprint import fingerprint_fd

__all__ = ["Listing"]

_SCANS = 20  # scans before settling for what was seen (an application rotating without pause)


class Listing:
    """Every file the discoveries list, by (device, inode); the first discovery's are ``followed``."""

    def __init__(self, followed: Discovery, *others: Discovery) -> None:
        self._discoveries = (followed, *others)
        self.files: dict[tuple[int, int], Candidate] = {}
        self.followed: set[tuple[int, int]] = set()
        previous: set[tuple[int, int]] | None = None
        for _ in range(_SCANS):
            found = self._scan()
            if found == previous:
                break
            previous = found

    def _scan(self) -> set[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        for n, discovery in enumerate(self._discoveries):
            for c in discovery.scan():
                inode = (c.dev, c.ino)
                if inode in found:
                    continue  # an earlier discovery's listing says whether it is matched
                found.add(inode)
                self.files[inode] = c
                if n == 0:
                    self.followed.add(inode)
        return found

    def identity(self, c: Candidate, limit: int) -> str | None:
        """The tail source's identity of ``c``'s inode, wherever rotation moved it; None when its
        first line is incomplete or it is gone."""
        fd = self._open(c)
        if fd < 0:
            return None
        try:
            return fingerprint_fd(fd, limit)
        finally:
            os.close(fd)

    def line_end(self, c: Candidate, pos: int) -> bool:
        """Whether ``pos`` is the start of the file or just after a newline in it."""
        if pos == 0:
            return True
        fd = self._open(c)
        if fd < 0:
            return False
        try:
            return os.pread(fd, 1, pos - 1) == b"\n"
        finally:
            os.close(fd)

    def path(self, c: Candidate) -> str:
        """The name ``c``'s inode had at the last scan."""
        return self.files[(c.dev, c.ino)].path

    def _open(self, c: Candidate) -> int:
        """A descriptor on ``c``'s inode, opened by its current name; -1 when it is gone."""
        inode = (c.dev, c.ino)
        for _ in range(_SCANS):
            try:
                fd = os.open(self.files[inode].open_path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                fd = -1
            if fd >= 0:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == inode:
                    return fd
                os.close(fd)
            self._scan()  # the name has moved on: find the inode again
        return -1
