"""Files that changed under logship: a truncated file's copy found again, a stored file gone."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from logship.observe.metrics import LOST_BYTES
from logship.sources.tail.discovery import Candidate, open_candidate
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.identity import base_of
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.tracked import TrackedFile

__all__ = ["forget_gone", "move_to_copy"]

log = logging.getLogger(__name__)


def move_to_copy(tracked: TrackedFile, copies: Iterable[Candidate]) -> Candidate | None:
    """copytruncate: when one of ``copies`` (listed files with the same first line, not shorter)
    holds the last bytes ``tracked`` read, the same identity continues in it at the same offsets.
    The copy moved to, or None."""
    for c in copies:
        try:
            fd = open_candidate(c)
        except OSError:
            return None
        if fd < 0:
            return None
        if _other_content(tracked, fd):
            os.close(fd)  # the same first line, another content
            continue
        tracked.close()
        tracked.use_fd(fd)
        tracked.dev, tracked.ino, tracked.path, tracked.matched = c.dev, c.ino, c.path, c.matched
        tracked.moved = True  # the application writes on at the name, in the truncated file
        tracked.size = c.size
        return c
    return None


def _other_content(tracked: TrackedFile, fd: int) -> bool:
    try:
        return tracked.reader.rewritten(fd)
    except OSError:
        return True


def forget_gone(pos: FilePosition, fingerprint_bytes: int) -> None:
    """A stored file no scan found again is forgotten: its undelivered bytes are counted as lost,
    unless it is still there, just no longer matched (a glob removed on reload)."""
    if fingerprint_path(pos.path, fingerprint_bytes) == base_of(pos.key):
        log.info(
            "File no longer matched by `tail.paths`; not following it",
            extra={"file": pos.path, "delivered_up_to": pos.offset},
        )
        return
    lost = pos.undelivered
    if lost:
        LOST_BYTES.inc(lost)
        log.error(
            "File deleted before its records were delivered; data lost",
            extra={"file": pos.path, "lost_bytes": lost, "delivered_up_to": pos.offset},
        )
