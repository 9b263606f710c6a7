"""Open-file descriptors: the limit raised at start, and a reserve the followed files never take.

During an engine outage logship keeps rotated and deleted files open until they are shipped, one
descriptor each. The soft limit is raised to the hard one at start; the followed files leave a
reserve for the position store, the engine connections and the HTTP server, so that /health and
/metrics still answer when files cannot be opened any more.
"""

from __future__ import annotations

import errno
import logging
import resource

from logship.fdlimit import free_descriptors

__all__ = ["files_room", "open_failure_reason", "raise_open_file_limit", "reserve"]

log = logging.getLogger(__name__)


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if hard != resource.RLIM_INFINITY and soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as exc:
            log.warning(
                "Cannot raise the open file limit", extra={"soft": soft, "hard": hard, "error": str(exc)}
            )
    log.info(
        "Open file limit",
        extra={"soft_at_start": _shown(before), "soft": _shown(soft), "hard": _shown(hard)},
    )
    return soft, hard


def _shown(limit: int) -> int | str:
    return "unlimited" if limit == resource.RLIM_INFINITY else limit


def reserve(limit: int) -> int:
    """Descriptors the followed files leave free: the HTTP server's reserve (a quarter of the
    limit, at most 128) and as much again, up to 16, for the engine connections and the store."""
    return min(128, limit // 4) + min(16, limit // 8)


def files_room() -> int | None:
    """How many more files may be opened now; None when unbounded or unknown."""
    free = free_descriptors()
    if free is None:
        return None
    return free - reserve(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def open_failure_reason(exc: OSError | None) -> str:
    """The `logship_file_open_failures_total` reason; None: the reserve was reached."""
    if exc is None or exc.errno in (errno.EMFILE, errno.ENFILE):
        return "descriptors"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    return "other"
