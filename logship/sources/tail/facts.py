"""The scan's questions about the files' content, answered from disk and remembered by file state.

Rotated backups sit unchanged for hours: a file whose inode, size and mtime are those of the last
scan keeps its answers, rather than being opened and read at every scan.
"""

from __future__ import annotations

import os

from logship.sources.tail.discovery import Candidate, listed_identity
from logship.sources.tail.identity import Held, check_path
from logship.sources.tail.positions import FilePosition

__all__ = ["DiskFacts"]

_CHUNK = 1 << 20
_REMEMBERED = 4096  # answers kept per kind before they are all forgotten
_State = tuple[int, int, int, float]


class DiskFacts:
    """``reconcile.Facts`` read from the files themselves."""

    def __init__(self, fingerprint_bytes: int) -> None:
        self._limit = fingerprint_bytes
        self._known: dict[_State, str | None] = {}  # identities of the files listed by the last scan
        self._identities: dict[_State, str | None] = {}  # and by this one
        self._copies: dict[tuple[_State, str], bool] = {}
        self._checks: dict[tuple[_State, str], bool] = {}

    def new_scan(self) -> None:
        """Identities are kept for the files listed again, unchanged, by the next scan only."""
        self._known, self._identities = self._identities, {}

    def identity(self, c: Candidate) -> tuple[str | None, bool]:
        state = _state(c)
        if state in self._identities:
            return self._identities[state], True
        key, listed = (self._known[state], True) if state in self._known else listed_identity(c, self._limit)
        if listed:
            self._identities[state] = key
        return key, listed

    def holds(self, c: Candidate, p: FilePosition) -> bool:
        if c.size < p.end:
            return False
        if p.check is None:
            return True
        state = (_state(c), f"{p.key}@{p.offset}")
        if state not in self._checks:
            if len(self._checks) > _REMEMBERED:
                self._checks.clear()
            self._checks[state] = check_path(c.open_path, p.offset) == p.check
        return self._checks[state]

    def is_copy(self, c: Candidate, h: Held) -> bool:
        # A copy is taken from the followed file, which has only grown since: never longer than it.
        # A followed name in another directory is another application's file, even byte for byte.
        if h.fd < 0 or (c.dev, c.ino) == (h.dev, h.ino) or c.size > h.size:
            return False
        if c.matched and os.path.dirname(c.path) != os.path.dirname(h.path):
            return False
        state = (_state(c), h.key)
        if state not in self._copies:
            if len(self._copies) > _REMEMBERED:
                self._copies.clear()
            self._copies[state] = _same_prefix(c.open_path, h.fd, c.size)
        return self._copies[state]


def _state(c: Candidate) -> _State:
    return (c.dev, c.ino, c.size, c.mtime)


def _same_prefix(path: str, fd: int, size: int) -> bool:
    """The first ``size`` bytes of the file at ``path`` are those of the open file ``fd``."""
    try:
        with open(path, "rb") as f:
            at = 0
            while at < size:
                n = min(_CHUNK, size - at)
                if f.read(n) != os.pread(fd, n, at):
                    return False
                at += n
    except OSError:
        return False
    return True
