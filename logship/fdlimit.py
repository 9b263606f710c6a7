"""Descriptors the process may still open: the tail source opens no file and the HTTP server takes
no connection that would leave too few for the other."""

from __future__ import annotations

import os
import resource

__all__ = ["free_descriptors"]


def free_descriptors() -> int | None:
    """Descriptors this process may still open, or None when that cannot be known."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    return soft - used
