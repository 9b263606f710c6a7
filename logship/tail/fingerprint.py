"""A file's identity: a hash of its first line, so renames and inode reuse cannot fool it.

Filebeat and Vector hash a fixed number of leading bytes and so cannot identify a file shorter
than that; hashing the first line (capped at ``limit`` bytes) identifies a file as soon as it
holds one complete line.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["fingerprint_fd", "fingerprint_path"]


def fingerprint_fd(fd: int, limit: int) -> str | None:
    """Return the identity of the open file, or None while its first line is still incomplete."""
    head = os.pread(fd, limit, 0)
    end = head.find(b"\n")
    if end >= 0:
        head = head[: end + 1]
    elif len(head) < limit:
        return None
    return hashlib.blake2b(head, digest_size=8).hexdigest()


def fingerprint_path(path: str, limit: int) -> str | None:
    """Identity of the file at ``path``; None when unreadable or its first line is incomplete."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return fingerprint_fd(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)
