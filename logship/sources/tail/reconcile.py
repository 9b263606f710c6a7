"""The scan's decisions: from the files listed and the files known, what to open, rename, move,
close or forget.

``reconcile`` opens and reads nothing. Its inputs are the listing, the followed files (as
``Followed`` views), the stored positions and the resolver's memory; what it needs to know of a
file's content (its first-line identity, whether it holds a stored position's bytes, whether it is
a copy of a followed file) it asks of ``Facts``. It yields actions, in order; TailSource performs
them (source.py). Two actions have an outcome the rest of the scan depends on, sent back into the
generator: ``Open`` (an ``Opened``) and ``Truncated`` (a ``Moved``, or None).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Generator
from dataclasses import dataclass, field, replace
from typing import Protocol

from logship.sources.tail.discovery import Candidate
from logship.sources.tail.identity import (
    ContentFacts,
    Held,
    IdentityResolver,
    Resolution,
    base_of,
    bases_on_disk,
)
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.ranges import Range

__all__ = [
    "Action",
    "Facts",
    "Followed",
    "Gone",
    "Known",
    "Matched",
    "Moved",
    "Open",
    "Opened",
    "Outcome",
    "Renamed",
    "ScanResult",
    "Truncated",
    "reconcile",
]

Inode = tuple[int, int]


class Facts(ContentFacts, Protocol):
    """What the scan asks of the files' content (answered from disk by facts.py)."""

    def identity(self, c: Candidate) -> tuple[str | None, bool]:
        """The first-line identity of ``c`` (None: unreadable or incomplete), and whether ``c.path``
        still led to the listed inode (False: renamed since the listing)."""
        ...


@dataclass(slots=True)
class Followed:
    """A followed file as the scan sees it; ``ref`` names it in the actions."""

    ref: int
    path: str
    dev: int
    ino: int
    key: str | None
    matched: bool
    fd: int
    read_to: int  # the next byte to read
    size: int
    changed: bool = False  # truncated or rewritten in place since it was read
    delivered: bool = True  # nothing in flight, nothing read but held back
    quiet: bool = False  # no growth for `tail.close_inactive_seconds`

    def held(self) -> Held | None:
        if self.key is None:
            return None
        return Held(self.key, self.path, self.dev, self.ino, self.fd, max(self.size, self.read_to))


@dataclass(slots=True)
class Known:
    """The state a scan starts from."""

    followed: list[Followed]
    retired: list[Held]  # replaced by truncation, still delivering (closed: fd -1)
    restored: dict[str, FilePosition]  # known, not followed: stored, closed when finished
    unopened: Collection[Inode]  # files a scan could not open, retried at each scan
    scanned_at: float | None  # wall clock of the last scan (kept in the store)
    from_tail: bool  # the first scan of a first start with `read_from = "tail"`


@dataclass(frozen=True, slots=True)
class Truncated:
    """``ref`` was truncated or rewritten in place: continue it in the first of ``copies`` that
    holds what it read (answer ``Moved``), else retire it (answer None)."""

    ref: int
    copies: tuple[Candidate, ...]


@dataclass(frozen=True, slots=True)
class Moved:
    candidate: Candidate
    fd: int


@dataclass(frozen=True, slots=True)
class Renamed:
    ref: int
    path: str


@dataclass(frozen=True, slots=True)
class Matched:
    ref: int
    matched: bool


@dataclass(frozen=True, slots=True)
class Open:
    """Follow ``candidate`` from ``offset`` (None: the end of its last complete line)."""

    candidate: Candidate
    offset: int | None
    key: str | None
    resolution: Resolution | None = None
    base: str | None = None
    stored: bool = False  # resumes a stored position
    delivered: tuple[Range, ...] = ()  # the stored ranges delivered beyond ``offset``
    unseen: bool = False  # rotated away before a scan saw it, written since the last scan


@dataclass(frozen=True, slots=True)
class Opened:
    ok: bool
    held: Held | None = None  # the file now followed, once it has an identity
    renamed: bool = False  # not opened: the name led elsewhere by then


@dataclass(frozen=True, slots=True)
class Gone:
    """A stored file no scan found again: forgotten, its undelivered bytes lost unless it is still
    on disk but no longer matched."""

    position: FilePosition


Action = Truncated | Renamed | Matched | Open | Gone
Outcome = Opened | Moved | None


@dataclass(slots=True)
class ScanResult:
    restored: dict[str, FilePosition]
    listed: set[Inode]  # the inodes the listing holds
    close: list[int]  # refs finished: rotated away or deleted, read, delivered, quiet
    unsettled: bool  # names moved during the scan: scan again soon


def reconcile(
    listed: list[Candidate], known: Known, ids: IdentityResolver, facts: Facts
) -> Generator[Action, Outcome, ScanResult]:
    """Decide the scan of ``listed`` from ``known``; ``ids`` remembers identities given (updated)."""
    return _Scan(listed, known, ids, facts).run()


@dataclass(slots=True)
class _Scan:
    listed: list[Candidate]
    known: Known
    ids: IdentityResolver
    facts: Facts
    followed: list[Followed] = field(default_factory=list)
    retired: list[Held] = field(default_factory=list)
    opened: list[Held] = field(default_factory=list)
    restored: dict[str, FilePosition] = field(default_factory=dict)
    present: set[str] = field(default_factory=set)  # stored keys still listed, not followed
    unsettled: bool = False

    def run(self) -> Generator[Action, Outcome, ScanResult]:
        self.followed = list(self.known.followed)
        self.retired = list(self.known.retired)
        self.restored = dict(self.known.restored)
        yield from self._truncations()
        yield from self._names()
        if not self.unsettled:  # while names move, a stored file not listed may just be in transit
            for key, pos in list(self.restored.items()):
                if key not in self.present:
                    yield Gone(pos)
                    del self.restored[key]
        inodes = {(c.dev, c.ino) for c in self.listed}
        close = [f.ref for f in self.followed if _finished(f, (f.dev, f.ino) not in inodes)]
        return ScanResult(self.restored, inodes, close, self.unsettled)

    def _identity(self, c: Candidate) -> str | None:
        key, still = self.facts.identity(c)
        self.unsettled |= not still  # renamed since the listing (a rotation): look again soon
        return key

    def _held(self) -> list[Held]:
        return [h for f in self.followed if (h := f.held()) is not None] + self.retired + self.opened

    def _truncations(self) -> Generator[Action, Outcome, None]:
        """Files rewritten in place: continued in their copy (copytruncate), or retired. The inode
        itself is then listed as a file not followed, read from 0."""
        for f in [f for f in self.followed if f.changed]:
            assert f.key is not None
            self.followed.remove(f)
            others = {(g.dev, g.ino) for g in self.followed}
            copies = tuple(
                c
                for c in self.listed
                if (c.dev, c.ino) not in others
                and c.size >= f.read_to
                and self._identity(c) == base_of(f.key)
            )
            moved = yield Truncated(f.ref, copies)
            if isinstance(moved, Moved):
                c = moved.candidate
                f.path, f.dev, f.ino, f.matched, f.size = c.path, c.dev, c.ino, c.matched, c.size
                f.fd = moved.fd
                f.changed = False
                self.followed.append(f)
            else:
                self.retired.append(Held(f.key, f.path, f.dev, f.ino, -1, max(f.size, f.read_to)))

    def _names(self) -> Generator[Action, Outcome, None]:
        """Follow renames; open new files, stored files found again and rotated files not seen."""
        by_inode = {(f.dev, f.ino): f for f in self.followed}

        def base_now(c: Candidate) -> str | None:
            f = by_inode.get((c.dev, c.ino))
            return self._identity(c) if f is None else base_of(f.key) if f.key is not None else None

        on_disk = bases_on_disk(self.listed, base_now)
        present: Callable[[str], Collection[Candidate]] = lambda b: on_disk.get(b, ())  # noqa: E731
        for c in self.listed:
            f = by_inode.get((c.dev, c.ino))
            if f is not None:
                if f.path != c.path:
                    f.path = c.path
                    yield Renamed(f.ref, c.path)
                if f.matched != c.matched:
                    f.matched = c.matched
                    yield Matched(f.ref, c.matched)
                continue
            base = self._identity(c)
            res = self.ids.resolve(c, base, self._held(), self.restored, present, self.facts)
            if res.kind != "copy":  # a copy of a followed file is not opened (copytruncate)
                yield from self._found(c, base, res)

    def _found(self, c: Candidate, base: str | None, res: Resolution) -> Generator[Action, Outcome, None]:
        key, pos = res.key, res.position
        if key is not None and pos is not None:
            if not c.matched and c.size <= pos.offset:
                # Rotated, delivered to its end (closed): known, not read, until it is gone.
                self.present.add(key)
                if (pos.path, pos.dev, pos.ino) != (c.path, c.dev, c.ino):
                    self.restored[key] = replace(pos, path=c.path, dev=c.dev, ino=c.ino)
                return
            if self._opened((yield Open(c, pos.offset, key, stored=True, delivered=pos.delivered)), key):
                del self.restored[key]
            else:
                self.present.add(key)  # still on disk, position kept for the next scan: not lost
            return
        scanned_at = self.known.scanned_at
        if c.matched or (c.dev, c.ino) in self.known.unopened:
            tail = self.known.from_tail and res.collision != "read_from_start"
            self._opened((yield Open(c, None if tail else 0, key, res, base)), key)
        elif key is not None and scanned_at is not None and c.mtime >= scanned_at - 1.0:
            self._opened((yield Open(c, 0, key, res, base, unseen=True)), key)

    def _opened(self, outcome: Outcome, key: str | None) -> bool:
        assert isinstance(outcome, Opened)
        self.unsettled |= outcome.renamed
        if outcome.ok and key is not None:
            self.ids.given(key)
        if outcome.held is not None:
            self.opened.append(outcome.held)
        return outcome.ok


def _finished(f: Followed, gone: bool) -> bool:
    """Rotated away (or deleted), read to its end, delivered, and quiet (or deleted)."""
    done = f.read_to >= f.size and f.delivered
    return (gone or not f.matched) and done and (f.quiet or gone)
