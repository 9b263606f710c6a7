"""Which identity a file gets: its first-line fingerprint, unless another known file has it.

The base identity is the fingerprint of the first line (``fingerprint.py``): a file renamed by
rotation, a copy taken by copytruncate and a rotated file replayed later all keep it, and so
keep their ids. Two different files can share a first line (a banner written in the same second
by several processes); the second one known then gets ``<base>~<suffix>``, a suffix drawn from
its device, inode and the time it was found, and that identity lives on in the position store.

A stored position is claimed by the file at the same inode, or else by a file whose bytes just
before the stored offset are those recorded with it (``check``): a copy or a move keeps them, a
different file does not. Where neither tells (a store written before ``check`` existed, and
several candidates), the file is read from the start under an identity of its own: records may be
sent twice, never refused as already present.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from logship.hashing import digest
from logship.observe.metrics import IDENTITY_COLLISIONS
from logship.sources.tail.discovery import Candidate
from logship.sources.tail.positions import FilePosition

__all__ = [
    "CHECK_BYTES",
    "SEPARATOR",
    "ContentFacts",
    "Held",
    "IdentityResolver",
    "Resolution",
    "announce",
    "base_of",
    "bases_on_disk",
    "check_fd",
    "check_path",
    "fresh_key",
]

log = logging.getLogger(__name__)

SEPARATOR = "~"  # never in a fingerprint (hex digits)
CHECK_BYTES = 4096  # bytes before the stored offset recorded with a position


def base_of(key: str) -> str:
    """The first-line fingerprint a (possibly suffixed) identity was made from."""
    return key.split(SEPARATOR, 1)[0]


def fresh_key(base: str, dev: int, ino: int) -> str:
    """An identity no other file has: the base, and a suffix from the file and the moment."""
    return f"{base}{SEPARATOR}{digest(f'{dev}:{ino}:{time.time_ns()}'.encode())}"


def check_fd(fd: int, offset: int) -> str:
    """Digest of the (at most ``CHECK_BYTES``) bytes before ``offset``; raises OSError."""
    n = min(offset, CHECK_BYTES)
    return digest(os.pread(fd, n, offset - n))


def check_path(path: str, offset: int) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return check_fd(fd, offset)
    except OSError:
        return None
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Held:
    """A file being followed, as far as identity is concerned."""

    key: str
    path: str
    dev: int
    ino: int
    fd: int  # -1 once closed (a truncated file kept until its records are delivered)
    size: int


class ContentFacts(Protocol):
    """What resolving an identity asks of the files' content (answered from disk by facts.py)."""

    def holds(self, c: Candidate, p: FilePosition) -> bool:
        """``c`` holds the bytes of the stored file ``p`` up to its offset, as far as ``p.check`` tells."""
        ...

    def is_copy(self, c: Candidate, h: Held) -> bool:
        """``c`` is a copy of the followed file ``h`` (copytruncate)."""
        ...


@dataclass(frozen=True, slots=True)
class Resolution:
    """``copy``: the candidate is a copy of a followed file (copytruncate), not to be opened;
    ``stored``: it is the file of ``position``; ``new``: a file not seen before, identity ``key``."""

    kind: Literal["copy", "stored", "new"]
    key: str | None = None
    position: FilePosition | None = None
    collision: str | None = None  # IDENTITY_RESOLUTIONS label when the base was taken


class IdentityResolver:
    """Gives each candidate of a scan its identity; remembers the bases given and those ambiguous."""

    def __init__(self) -> None:
        self._ambiguous: set[str] = set()  # bases whose stored file could not be told apart
        # Bases of the files followed since the start: a file truncated, or deleted and created
        # again, with the same first line is another content at offsets whose ids are used.
        self._used: set[str] = set()

    def resolve(
        self,
        c: Candidate,
        base: str | None,
        held: list[Held],
        restored: dict[str, FilePosition],
        present: Callable[[str], Collection[Candidate]],
        facts: ContentFacts,
    ) -> Resolution:
        """``present(base)``: the files listed now with that base; ``facts``: what their content holds."""
        if base is None:
            return Resolution("new")  # first line incomplete: identified once it is complete
        stored = [p for k, p in restored.items() if base_of(k) == base]
        mine = [p for p in stored if (p.dev, p.ino) == (c.dev, c.ino)]
        for p in mine:
            if facts.holds(c, p):
                return Resolution("stored", p.key, p)
        if any(facts.is_copy(c, h) for h in held if base_of(h.key) == base):
            return Resolution("copy")
        if base in self._ambiguous:
            return self._new(c, base, held, restored, "read_from_start")
        # A stored file is claimed by the file now at its inode, if that one still holds its bytes.
        others = [x for x in present(base) if (x.dev, x.ino) != (c.dev, c.ino)]
        unclaimed = [
            p
            for p in stored
            if p not in mine
            and not any((x.dev, x.ino) == (p.dev, p.ino) and facts.holds(x, p) for x in others)
        ]
        for p in unclaimed:
            if p.check is not None and facts.holds(c, p):
                return Resolution("stored", p.key, p)  # copied or moved: the same bytes
        legacy = [p for p in unclaimed if p.check is None]
        if legacy:
            rivals = [x for x in others if not any((p.dev, p.ino) == (x.dev, x.ino) for p in stored)]
            if len(legacy) == 1 and not rivals and c.size >= legacy[0].offset:
                return Resolution("stored", legacy[0].key, legacy[0])
            for p in legacy:  # read again under new identities instead (duplicates, not losses)
                del restored[p.key]
            self._ambiguous.add(base)  # and so is every other file with this first line
            return self._new(c, base, held, restored, "read_from_start")
        if mine:
            # Rewritten in place while logship was stopped: a new content at offsets already used.
            log.warning(
                "A stored file no longer holds the bytes it held; reading it from the start",
                extra={"file": c.path, "stored_offset": mine[0].offset, "size": c.size},
            )
        return self._new(c, base, held, restored, "new_identity", force=bool(mine))

    def identify(
        self,
        base: str,
        path: str,
        inode: tuple[int, int],
        held: list[Held],
        restored: dict[str, FilePosition],
    ) -> str:
        """The identity of a followed file whose first line just became complete."""
        res = self._new(inode, base, held, restored, "new_identity")
        assert res.key is not None
        announce(path, res, base)
        return res.key

    def _new(
        self,
        c: Candidate | tuple[int, int],
        base: str,
        held: Iterable[Held],
        restored: dict[str, FilePosition],
        why: str,
        force: bool = False,
    ) -> Resolution:
        taken = force or base in self._used or base in restored or any(h.key == base for h in held)
        if not taken and why == "new_identity":
            return Resolution("new", base)
        dev, ino = (c.dev, c.ino) if isinstance(c, Candidate) else c
        return Resolution("new", fresh_key(base, dev, ino), collision=why)

    def given(self, key: str) -> None:
        """``key`` now names a followed file: its base is never given to another content again."""
        self._used.add(base_of(key))


def bases_on_disk(
    candidates: list[Candidate], base_now: Callable[[Candidate], str | None]
) -> dict[str, list[Candidate]]:
    """Per base identity, the files listed with it now."""
    out: dict[str, list[Candidate]] = {}
    for c in candidates:
        if (base := base_now(c)) is not None:
            out.setdefault(base, []).append(c)
    return out


def announce(path: str, res: Resolution, base: str) -> None:
    """Log and count a collision once the file is actually followed under its new identity."""
    if res.collision is None:
        return
    IDENTITY_COLLISIONS.labels(resolution=res.collision).inc()
    if res.collision == "read_from_start":
        log.warning(
            "Cannot tell whether this file is new or one seen before (same first line); reading it "
            "from the start under an identity of its own: records may be sent twice, none is dropped",
            extra={"file": path, "identity": res.key},
        )
    else:
        log.info(
            "File shares its first line with another file; following it under an identity of its own",
            extra={"file": path, "identity": res.key, "first_line_identity": base},
        )
