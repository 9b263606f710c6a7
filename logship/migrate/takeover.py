"""Where logship starts each file when it takes over from Fluentd, whatever rotated since.

The application keeps writing while the shippers are swapped, so its log may rotate between
Fluentd's last pos_file write and logship's start. The cut-over point is the pos_file's own
modification time: Fluentd rewrites it each time it commits a position. Then, per file:

- the inode of a pos_file entry, at its path or at a rotated name logship follows for that path
  (``app.log.1``, ``app.log-20261126``, ...): resumes at Fluentd's position, once checked (within
  the file, at the end of a line);
- an inode of an entry that is nowhere: rotated away and deleted; what Fluentd had not shipped of
  it is lost (the pos_file records no size, so how much is reported only as unknown);
- a file the globs match, or a rotated sibling, that is in no entry and was written after the
  cut-over point: from its start, whatever ``read_from_head`` said (``read_from`` only decides for
  files that existed before Fluentd ran);
- a rotated sibling in no entry, last written before the cut-over point: finished by Fluentd (it
  drops the entry of a rotated file it has read to the end), recorded at its end and never re-sent;
- a file the globs match, in no entry, older than the cut-over point: Fluentd never followed it,
  so ``tail.read_from`` decides, as on logship's own first start.

Identities are computed by the tail source's own fingerprint function, so logship recognises
every recorded file at its first scan.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from logship.migrate.listing import Listing
from logship.migrate.posfile import UNWATCHED, PosEntry, read_pos_file
from logship.settings import TailSettings
from logship.sources.tail.discovery import Candidate, Discovery
from logship.sources.tail.positions import FilePosition
from logship.sources.tail.reader import last_line_end

__all__ = ["Takeover", "plan_takeover"]

FINISHED = "finished by Fluentd, recorded at its end and not sent again"


@dataclass
class Takeover:
    """What the store will hold, and one line per file saying where logship starts it and why."""

    positions: list[FilePosition] = field(default_factory=list)
    starts: list[str] = field(default_factory=list)  # per file: path, inode, where logship starts
    skipped: list[str] = field(default_factory=list)  # entries and lines that could not be used
    lost: list[str] = field(default_factory=list)  # inodes gone with records Fluentd had not shipped
    cutover: float | None = None  # the pos_files' modification time (the earliest of them)
    resumed: int = 0  # entries taken over at Fluentd's position


def plan_takeover(pos_files: list[Path], tail: TailSettings) -> Takeover:
    """Decide where logship starts every file of ``tail.paths`` and of the pos_files; nothing is written."""
    plan = Takeover()
    entries: list[PosEntry] = []
    for pos_file in pos_files:
        found, bad = read_pos_file(pos_file)
        entries.extend(found)
        plan.skipped.extend(bad)
        mtime = pos_file.stat().st_mtime
        plan.cutover = mtime if plan.cutover is None else min(plan.cutover, mtime)
    if plan.cutover is None:
        return plan  # no pos_file: logship's first start applies `tail.read_from` itself
    followed = Discovery(tail.paths, tail.exclude, set(), [str(p) for p in tail.follow_symlinks_within])
    around = Discovery([glob.escape(e.path) for e in entries], [], set())
    listing = Listing(followed, around)
    planner = _Planner(plan, tail, listing)
    claimed: set[tuple[int, int]] = set()
    for entry in entries:
        c = _locate(entry, listing)
        if c is not None:
            claimed.add((c.dev, c.ino))
            planner.entry(entry, c)
        elif entry.pos != UNWATCHED:
            plan.lost.append(
                f"{entry.source}: {entry.path} (inode {entry.ino}): lost: neither at its path nor at a "
                "rotated name of it (rotated away and deleted); what Fluentd had not shipped of it, after "
                f"byte {entry.pos}, is gone; how much cannot be known (the pos_file records no size)"
            )
    for c in sorted(listing.files.values(), key=lambda c: c.path):
        if (c.dev, c.ino) in listing.followed and (c.dev, c.ino) not in claimed:
            planner.unclaimed(c, plan.cutover)
    return plan


def _locate(entry: PosEntry, listing: Listing) -> Candidate | None:
    """The file that holds the entry's inode: at its path, or at a rotated name of that path."""
    path = os.path.abspath(entry.path)
    return next((c for c in listing.files.values() if c.ino == entry.ino and c.path.startswith(path)), None)


class _Planner:
    def __init__(self, plan: Takeover, tail: TailSettings, listing: Listing) -> None:
        self.plan = plan
        self.tail = tail
        self.listing = listing
        self.keys: dict[str, str] = {}  # identity -> path recorded with it

    def record(self, c: Candidate, offset: int, start: str, how: str) -> None:
        """Record ``c`` at ``offset``; ``start`` says where that is, ``how`` why."""
        key = self.listing.identity(c, self.tail.fingerprint_bytes)
        path = self.listing.path(c)  # rotation may have renamed it meanwhile
        where = f"{path} (inode {c.ino})"
        if key is None:
            # logship identifies a file by its first line: it will find this one once that is complete
            self.plan.starts.append(f"{where}: from its start, once its first line is complete ({how})")
            return
        if key in self.keys:
            self.plan.skipped.append(
                f"{where}: same first line as {self.keys[key]}, so logship cannot tell the two apart; "
                "not recorded (logship reads it as a new file)"
            )
            return
        self.keys[key] = path
        self.plan.positions.append(FilePosition(key, path, c.dev, c.ino, offset, c.size))
        self.plan.starts.append(f"{where}: {start} ({how})")

    def entry(self, entry: PosEntry, c: Candidate) -> None:
        moved = "" if c.path == os.path.abspath(entry.path) else f", rotated from {entry.path}"
        if entry.pos == UNWATCHED:
            self.record(c, c.size, FINISHED, f"{entry.source} marks it unwatched{moved}")
            return
        problem = self.unusable(c, entry.pos)
        if problem is None:
            self.plan.resumed += 1
            start = f"resumes at byte {entry.pos} of {c.size}"
            self.record(c, entry.pos, start, f"Fluentd's position, {entry.source}{moved}")
            return
        self.plan.skipped.append(f"{entry.source}: {c.path} (inode {c.ino}): {problem}")
        assert self.plan.cutover is not None
        self.unclaimed(c, self.plan.cutover)

    def unusable(self, c: Candidate, pos: int) -> str | None:
        if pos > c.size:
            return f"Fluentd's position {pos} is beyond the file's size {c.size} (truncated since)"
        if not self.listing.line_end(c, pos):
            return f"Fluentd's position {pos} is not the end of a line"
        return None

    def unclaimed(self, c: Candidate, cutover: float) -> None:
        start = f"from its start ({c.size} bytes)"
        if c.mtime >= cutover:
            self.record(c, 0, start, f"in no pos_file entry, written since the cut-over at {_utc(cutover)}")
        elif not c.matched:
            self.record(
                c, c.size, FINISHED, "a rotated file in no pos_file entry, last written before the cut-over"
            )
        elif self.tail.read_from == "head":
            self.record(
                c, 0, start, 'in no pos_file entry, so Fluentd never followed it: `tail.read_from = "head"`'
            )
        else:
            end = last_line_end(c.open_path, c.size)
            self.record(
                c,
                end,
                f"from byte {end}, its end",
                'in no pos_file entry, so Fluentd never followed it: `tail.read_from = "tail"`',
            )


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
