"""Files to follow that could not be opened: retried at every tick, counted, in the lag, and
their bytes counted as lost if rotation deletes them first."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from logship.observe.metrics import FILE_LAG_BYTES, FILE_OPEN_FAILURES, FILES_NOT_OPENED, LOST_BYTES
from logship.sources.tail.descriptors import open_failure_reason
from logship.sources.tail.discovery import Candidate
from logship.sources.tail.ranges import DeliveredRanges, Range

__all__ = ["Unopened"]

log = logging.getLogger(__name__)

_HINTS = {
    "descriptors": "raise the open file limit (`ulimit -n`, LimitNOFILE, the container's nofile limit)",
    "permission": "give logship read access to it",
    "other": "check the file and the filesystem",
}


@dataclass(slots=True)
class _Waiting:
    path: str
    size: int
    offset: int  # where reading would start
    delivered: tuple[Range, ...]  # and the stored ranges delivered beyond it
    stored: bool  # its position is in the store, which accounts for it if it disappears
    reason: str

    @property
    def lag(self) -> int:
        return DeliveredRanges(self.offset, self.delivered).undelivered(self.size)


class Unopened:
    """The files a scan could not open, by (device, inode)."""

    def __init__(self) -> None:
        self.files: dict[tuple[int, int], _Waiting] = {}

    def __contains__(self, inode: tuple[int, int]) -> bool:
        return inode in self.files

    def failed(
        self, c: Candidate, offset: int, stored: bool, exc: OSError | None, delivered: tuple[Range, ...] = ()
    ) -> None:
        reason = open_failure_reason(exc)
        FILE_OPEN_FAILURES.labels(reason=reason).inc()
        inode = (c.dev, c.ino)
        self._reused(inode, c)
        if inode not in self.files:
            log.error(
                "Cannot open file; retrying at every tick",
                extra={
                    "file": c.path,
                    "reason": reason,
                    "error": exc.strerror if exc is not None else "descriptor reserve reached",
                    "hint": _HINTS[reason],
                },
            )
        self.files[inode] = _Waiting(c.path, c.size, offset, delivered, stored, reason)

    def opened(self, c: Candidate) -> None:
        if self.files.pop((c.dev, c.ino), None) is not None:
            _forget(c.path)
            log.info("Opened a file that could not be opened before", extra={"file": c.path})

    def after_scan(self, seen: set[tuple[int, int]], listed: dict[tuple[int, int], Candidate]) -> None:
        """Drop the files gone from disk (their bytes are lost) and publish the rest."""
        for inode, w in list(self.files.items()):
            if inode in seen and not self._reused(inode, listed[inode]):
                c = listed[inode]
                if c.path != w.path:
                    _forget(w.path)
                w.path, w.size = c.path, c.size
                continue
            if inode in self.files:
                self._gone(inode)
        for w in self.files.values():
            FILE_LAG_BYTES.labels(w.path).set(w.lag)
        FILES_NOT_OPENED.set(len(self.files))

    def _reused(self, inode: tuple[int, int], c: Candidate) -> bool:
        """The inode now holds a smaller file: the one waiting was deleted and its inode reused
        (log files only grow) between two scans."""
        w = self.files.get(inode)
        if w is None or c.size >= w.size:
            return False
        self._gone(inode)
        return True

    def _gone(self, inode: tuple[int, int]) -> None:
        w = self.files.pop(inode)
        _forget(w.path)
        lost = w.lag
        if not w.stored and lost:  # a stored one is counted with the store's files
            LOST_BYTES.inc(lost)
            log.error(
                "File deleted before it could be opened; data lost",
                extra={"file": w.path, "lost_bytes": lost, "reason": w.reason},
            )

    def lag(self) -> int:
        return sum(w.lag for w in self.files.values())

    def paths(self) -> list[str]:
        return sorted(w.path for w in self.files.values())


def _forget(path: str) -> None:
    try:
        FILE_LAG_BYTES.remove(path)
    except KeyError:
        pass
