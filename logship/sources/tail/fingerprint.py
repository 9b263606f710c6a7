"""A file's identity: a hash of its first line, so renames and inode reuse cannot fool it.

Filebeat's fingerprint hashes a fixed number of leading bytes (1 KiB by default) and so cannot
identify a smaller file; Vector's default checksum hashes the first line, as here. The line is
capped at ``limit`` bytes, so a file whose first line is huge is identified by its head.
"""

from __future__ import annotations

import os

from logship.hashing import digest

__all__ = ["fingerprint_fd", "fingerprint_path", "whole_file_key"]


def fingerprint_fd(fd: int, limit: int) -> str | None:
    """Return the identity of the open file, or None while its first line is still incomplete."""
    head = os.pread(fd, limit, 0)
    end = head.find(b"\n")
    if end >= 0:
        head = head[: end + 1]
    elif len(head) < limit:
        return None
    return digest(head)


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


def whole_file_key(fd: int) -> str:
    """Identity of a file with no complete first line, read whole once (replay only)."""
    return digest(os.pread(fd, 65536, 0))
