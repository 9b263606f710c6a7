"""The one digest logship uses for identities: a file's fingerprint and the id namespace of its records."""

from __future__ import annotations

import hashlib

__all__ = ["digest"]


def digest(data: bytes) -> str:
    """16 hex digits of BLAKE2b: short enough for ids, wide enough that two files never collide."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()
