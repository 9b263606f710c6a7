"""Files that changed under logship: a truncated file's copy found again, stored files gone."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from logship.observe.metrics import LOST_BYTES
from logship.sources.tail.discovery import Candidate, open_candidate
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.identity import base_of
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.tracked import TrackedFile

__all__ = ["forget_gone", "move_to_copy"]

log = logging.getLogger(__name__)


def move_to_copy(
    tracked: TrackedFile,
    candidates: list[Candidate],
    key_of: Callable[[Candidate], str | None],
    followed: set[tuple[int, int]],
) -> bool:
    """copytruncate: when a listed file holds what ``tracked`` read (same first line, same last
    bytes read), the same identity continues in it at the same offsets. True when moved."""
    assert tracked.key is not None
    for c in candidates:
        if (c.dev, c.ino) in followed or c.size < tracked.reader.next_read:
            continue
        if key_of(c) != base_of(tracked.key):
            continue
        try:
            fd = open_candidate(c)
        except OSError:
            return False
        if fd < 0:
            return False
        if _other_content(tracked, fd):
            os.close(fd)  # the same first line, another content
            continue
        tracked.close()
        tracked.fd = tracked.reader.fd = fd
        tracked.dev, tracked.ino, tracked.path, tracked.matched = c.dev, c.ino, c.path, c.matched
        tracked.size = c.size
        return True
    return False


def _other_content(tracked: TrackedFile, fd: int) -> bool:
    try:
        return tracked.reader.rewritten(fd)
    except OSError:
        return True


def forget_gone(restored: dict[str, FilePosition], present: set[str], fingerprint_bytes: int) -> None:
    """Drop the stored files no scan found again: their undelivered bytes are counted as lost."""
    for key, pos in list(restored.items()):
        if key in present:
            continue
        if fingerprint_path(pos.path, fingerprint_bytes) == base_of(key):
            # Still there, just no longer matched (a glob removed on reload): not a loss.
            log.info(
                "File no longer matched by `tail.paths`; not following it",
                extra={"file": pos.path, "delivered_up_to": pos.offset},
            )
            del restored[key]
            continue
        lost = max(0, pos.size - pos.offset)
        if lost:
            LOST_BYTES.inc(lost)
            log.error(
                "File deleted before its records were delivered; data lost",
                extra={"file": pos.path, "lost_bytes": lost, "delivered_up_to": pos.offset},
            )
        del restored[key]
