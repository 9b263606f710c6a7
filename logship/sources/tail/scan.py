"""The scan: lists the files, has reconcile.py decide, and performs its actions on the followed files.

Owns what is followed (``files``), what was replaced by truncation and still delivers (retired),
the records read from a retired file not yet emitted (``orphans``), the stored positions of the
files known but not followed, and the files that could not be opened.
"""

from __future__ import annotations

import logging
import os
import time

from logship.block import Block
from logship.observe.metrics import FILE_LAG_BYTES, FILES_TRACKED, LOST_BYTES
from logship.settings import TailSettings
from logship.sources.tail.cursor import Cursor
from logship.sources.tail.descriptors import files_room
from logship.sources.tail.discovery import Candidate, Discovery, open_candidate
from logship.sources.tail.facts import DiskFacts
from logship.sources.tail.fingerprint import fingerprint_fd
from logship.sources.tail.identity import Held, IdentityResolver, announce, base_of
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, StoreState
from logship.sources.tail.reader import last_line_end
from logship.sources.tail.reconcile import (
    Action,
    Followed,
    Gone,
    Known,
    Matched,
    Moved,
    Open,
    Opened,
    Outcome,
    Renamed,
    ScanResult,
    Truncated,
    reconcile,
)
from logship.sources.tail.tracked import TrackedFile, forget_label
from logship.sources.tail.truncation import forget_gone, move_to_copy
from logship.sources.tail.unopened import Unopened

__all__ = ["Scanner"]

log = logging.getLogger(__name__)


class Scanner:
    """The followed files, and the scan that keeps them in step with the directory."""

    def __init__(
        self, tail: TailSettings, splitter: RecordSplitter, restored: StoreState, ignore: set[str]
    ) -> None:
        self._settings = tail
        self._splitter = splitter
        self.discovery = Discovery(
            tail.paths, tail.exclude, ignore, [str(p) for p in tail.follow_symlinks_within]
        )
        self.files: list[TrackedFile] = []
        self.retired: list[TrackedFile] = []  # replaced by truncation; kept until delivered
        # read from a retired file, not yet emitted
        self.orphans: list[tuple[TrackedFile, Cursor, Block]] = []
        self.restored = dict(restored.files)
        self.scanned_at: float | None = restored.scanned_at
        self._first_start = not restored.files  # no store yet, or an empty one: `read_from` applies
        self.soon = False  # a followed file changed identity or name: scan at the next tick
        self.unopened = Unopened()  # files that could not be opened, retried at every tick
        self._facts = DiskFacts(tail.fingerprint_bytes)
        self._ids = IdentityResolver()
        self._room: int | None = None  # files that may still be opened in this scan (descriptors)

    def positions(self) -> list[FilePosition]:
        out = [p for f in self.files + self.retired if (p := f.position()) is not None]
        keys = {p.key for p in out}
        out.extend(p for k, p in self.restored.items() if k not in keys)
        return out

    def identify(self, tracked: TrackedFile) -> bool:
        """Give ``tracked`` its identity once its first line is complete; False until then."""
        base = fingerprint_fd(tracked.fd, self._settings.fingerprint_bytes)
        if base is None:
            return False
        inode = (tracked.dev, tracked.ino)
        tracked.key = self._ids.identify(base, tracked.path, inode, self._held(), self.restored)
        self._ids.given(tracked.key)
        return True

    def _held(self) -> list[Held]:
        return [h for f in self.files + self.retired if (h := f.held()) is not None]

    def scan(self, initial: bool) -> None:
        wall = time.time()
        listed = self.discovery.scan()
        self._room = files_room()
        self._facts.new_scan()
        known = Known(
            [self._view(i, f) for i, f in enumerate(self.files)],
            [h for f in self.retired if (h := f.held()) is not None],
            self.restored,
            self.unopened.files.keys(),
            self.scanned_at,
            initial and self._settings.read_from == "tail" and self._first_start,
        )
        refs = list(self.files)
        plan = reconcile(listed, known, self._ids, self._facts)
        outcome: Outcome = None
        try:
            while True:
                outcome = self._perform(plan.send(outcome), refs)
        except StopIteration as stop:
            result: ScanResult = stop.value
        self._finish(result, refs, listed)
        if not result.unsettled:
            # "Seen everything written before this": not while names moved under the scan, which
            # may have missed a rotated file (the next scan then looks at it as written since).
            self.scanned_at = wall

    def _view(self, ref: int, tracked: TrackedFile) -> Followed:
        """What the scan needs of a followed file; its size brought up to date."""
        reader = tracked.reader
        try:
            st = os.fstat(tracked.fd)
            changed = tracked.key is not None and (
                st.st_size < reader.next_read
                or fingerprint_fd(tracked.fd, self._settings.fingerprint_bytes) != base_of(tracked.key)
                or reader.rewritten()
            )
        except OSError:
            changed = False  # left as it is until it can be checked
        else:
            if not changed:
                tracked.size = max(tracked.size, st.st_size)
        quiet = time.monotonic() - tracked.last_growth >= self._settings.close_inactive_seconds
        delivered = tracked.joined and tracked.idle
        t = tracked
        view = Followed(ref, t.path, t.dev, t.ino, t.key, t.matched, t.fd, reader.next_read, t.size)
        view.changed, view.delivered, view.quiet = changed, delivered, quiet
        return view

    def _perform(self, action: Action, refs: list[TrackedFile]) -> Outcome:
        if isinstance(action, Open):
            return self._open(action)
        if isinstance(action, Truncated):
            return self._truncated(refs[action.ref], action.copies)
        if isinstance(action, Renamed):
            tracked = refs[action.ref]
            log.info("File renamed", extra={"file": tracked.path, "renamed_to": action.path})
            forget_label(tracked.path)
            tracked.path, tracked.moved = action.path, True
        elif isinstance(action, Matched):
            refs[action.ref].matched = action.matched
        elif isinstance(action, Gone):
            forget_gone(action.position, self._settings.fingerprint_bytes)
        return None

    def _finish(self, result: ScanResult, refs: list[TrackedFile], listed: list[Candidate]) -> None:
        self.restored = result.restored
        self.soon |= result.unsettled
        for tracked in self.files:
            # Listed: its path is the name just seen. A file deleted or renamed out of the globs keeps
            # its old name, which the tick then stops comparing (or it would ask for a scan each tick).
            tracked.listed = (tracked.dev, tracked.ino) in result.listed
        for ref in result.close:
            self._close(refs[ref])
        for tracked in list(self.retired):
            if tracked.outstanding == 0 and all(t is not tracked for t, _, _ in self.orphans):
                self.retired.remove(tracked)
                tracked.close()
        self.unopened.after_scan(result.listed, {(c.dev, c.ino): c for c in listed})
        for tracked in self.files:
            FILE_LAG_BYTES.labels(tracked.path).set(tracked.lag)
        FILES_TRACKED.set(len(self.files))

    def _open(self, action: Open) -> Opened:
        """Follow the candidate from the offset; not ok when it could not be opened (retried at the
        next tick, or at the next scan when its name led elsewhere)."""
        c, offset, key, delivered = action.candidate, action.offset, action.key, action.delivered
        start = offset if offset is not None else last_line_end(c.open_path, c.size)
        if self._room is not None and self._room <= 0:
            self.unopened.failed(c, start, action.stored, None, delivered)
            return Opened(ok=False)
        try:
            fd = open_candidate(c)
        except OSError as exc:
            self.unopened.failed(c, start, action.stored, exc, delivered)
            return Opened(ok=False)
        if fd < 0:
            return Opened(ok=False)
        self.unopened.opened(c)
        if self._room is not None:
            self._room -= 1
        st = os.fstat(fd)
        if key is not None and (st.st_dev, st.st_ino) != (c.dev, c.ino):  # renamed since the listing
            os.close(fd)
            return Opened(ok=False, renamed=True)
        if start > st.st_size or (delivered and delivered[-1][1] > st.st_size):
            log.warning(
                "Stored position is past the end of the file; reading it from the start",
                extra={"file": c.path, "stored_offset": start, "size": st.st_size},
            )
            start, delivered = 0, ()
        if action.unseen:
            log.info("Found a rotated file written since the last scan", extra={"file": c.path})
        tracked = TrackedFile(
            c.path, fd, st.st_dev, st.st_ino, start, key, c.matched, self._splitter, self._settings, delivered
        )
        tracked.size = st.st_size
        if action.resolution is not None and action.base is not None:
            announce(c.path, action.resolution, action.base)
        self.files.append(tracked)
        extra: dict[str, object] = {"file": c.path, "offset": start}
        if delivered:  # resumed from more than one place: the gaps are read as the backfill
            extra["delivered_beyond"] = [list(r) for r in delivered]
        log.info("Following file", extra=extra)
        return Opened(ok=True, held=tracked.held())

    def _truncated(self, tracked: TrackedFile, copies: tuple[Candidate, ...]) -> Moved | None:
        """The open file was truncated or rewritten in place; its old content may live on in a copy."""
        self.files.remove(tracked)
        old_path = tracked.path
        moved = move_to_copy(tracked, copies)
        if moved is not None:
            self.files.append(tracked)
            log.info(
                "File copied and truncated; finishing the copy",
                extra={"file": old_path, "copy": tracked.path},
            )
            return Moved(moved, tracked.fd)
        # Records already read are still shipped; only bytes never read (and an unfinished last
        # line) are gone with the truncation.
        for cursor in tracked.cursors:
            while (block := cursor.reader.take(hold_last=False)) is not None:
                self.orphans.append((tracked, cursor, block))
        lost = tracked.unread() + sum(c.reader.buffered for c in tracked.cursors)
        if lost:
            LOST_BYTES.inc(lost)
            log.error(
                "File truncated before it was read to the end; data lost",
                extra={"file": old_path, "lost_bytes": lost},
            )
        else:
            log.info("File truncated; reading it again from the start", extra={"file": old_path})
        tracked.close()
        self.retired.append(tracked)  # its chunks in flight still commit; it reads no more
        return None

    def _close(self, tracked: TrackedFile) -> None:
        """Stop following a finished file; its identity and position stay known (and stored) until
        the file is gone, so that a later scan does not take it for a rotated file never seen."""
        self.files.remove(tracked)
        if (position := tracked.position()) is not None:
            self.restored[position.key] = position
        tracked.close()
        forget_label(tracked.path)
        log.info("Closed file", extra={"file": tracked.path, "offset": tracked.head.acks.committed})

    def close(self) -> None:
        for tracked in self.files + self.retired:
            tracked.close()
