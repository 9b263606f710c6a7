"""Keep the C heap's freed memory for reuse instead of handing it back to the OS after every batch.

glibc's malloc serves blocks from 128 KiB up with mmap (raising that bound only as such blocks are
freed) and returns free memory at the top of the heap to the OS past twice that. The pipeline
allocates and frees buffers of that size all the time (a block read, a chunk's items joined, a
bulk body, the response), so without this the same memory is unmapped and faulted in again,
page by page: a third of a replay's CPU time went to the kernel for it. With the bounds set to
the largest buffer (a bulk body) and to the in-flight bound, the heap keeps at most that much free
memory, which the pipeline holds at its peak anyway.
"""

from __future__ import annotations

import ctypes
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logship.settings import Settings

__all__ = ["keep_freed_memory", "keep_freed_memory_for"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc refuses more on 64-bit systems


def keep_freed_memory(largest_buffer: int, keep: int) -> bool:
    """Serve blocks below ``largest_buffer`` from the heap, and keep up to ``keep`` bytes of free heap.

    Only with glibc; elsewhere (musl, macOS) nothing changes. True when both bounds were set.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # Both, or the one left alone keeps adjusting itself to the other's old default.
    mmap_ok: bool = mallopt(_M_MMAP_THRESHOLD, min(largest_buffer, _MMAP_THRESHOLD_MAX)) == 1
    trim_ok: bool = mmap_ok and mallopt(_M_TRIM_THRESHOLD, max(keep, 0)) == 1
    return trim_ok


def keep_freed_memory_for(settings: Settings) -> bool:
    """`keep_freed_memory` sized for these settings' bulk bodies and in-flight bound."""
    # A bulk body (plus its headers) comes from the heap; up to the in-flight bound stays mapped.
    return keep_freed_memory(settings.batch.max_bytes + 2**20, settings.delivery.max_inflight_bytes)
