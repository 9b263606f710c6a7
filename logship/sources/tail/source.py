"""TailSource: follows the files, survives rotation and truncation, and emits their records in blocks.

One loop does it all, file by file and block by block, pausing while the in-flight bound is
reached (the log files are the buffer). Identity is the first-line fingerprint, made unique when
two files share it (identity.py); device and inode are hints for following a file across renames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace

from logship.block import Block, Origin
from logship.budget import InflightBudget
from logship.observe.metrics import FILE_LAG_BYTES, FILES_TRACKED, LOST_BYTES, READ_BYTES, READ_LINES
from logship.settings import TailSettings
from logship.sources import Emit
from logship.sources.tail.descriptors import files_room
from logship.sources.tail.discovery import Candidate, Discovery, listed_identity, open_candidate
from logship.sources.tail.fingerprint import fingerprint_fd
from logship.sources.tail.identity import Held, IdentityResolver, Resolution, announce, base_of, bases_on_disk
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, StoreState
from logship.sources.tail.reader import last_line_end
from logship.sources.tail.tracked import TrackedFile, forget_label
from logship.sources.tail.truncation import forget_gone, move_to_copy
from logship.sources.tail.unopened import Unopened

__all__ = ["TailSource"]

log = logging.getLogger(__name__)


class TailSource:
    """Follows ``tail.paths`` and hands blocks of records to ``emit``, each with its ack handle."""

    def __init__(
        self,
        tail: TailSettings,
        splitter: RecordSplitter,
        flush_timeout: float,
        restored: StoreState,
        budget: InflightBudget,
        ignore: set[str],
        caught_up: Callable[[], None] = lambda: None,
    ) -> None:
        """``budget``: reading pauses while it is spent; ``ignore``: files never to read (logship's own);
        ``caught_up``: called when a pass that emitted records read all there was."""
        self._caught_up = caught_up
        self._emitted = False
        self._settings = tail
        self._flush_after = flush_timeout
        self._splitter = splitter
        self._budget = budget
        self.discovery = Discovery(
            tail.paths, tail.exclude, ignore, [str(p) for p in tail.follow_symlinks_within]
        )
        self.files: list[TrackedFile] = []
        self._retired: list[TrackedFile] = []  # replaced by truncation; kept until delivered
        self._orphans: list[tuple[TrackedFile, Block]] = []  # read from a retired file, not yet emitted
        self._restored = dict(restored.files)
        self.scanned_at: float | None = restored.scanned_at
        self._first_start = not restored.files  # no store yet, or an empty one: `read_from` applies
        self._limit = tail.fingerprint_bytes
        self.scanned = asyncio.Event()  # set once the first scan is done
        self._stopping = asyncio.Event()
        self._scan_soon = False  # a followed file changed identity or name: scan at the next tick
        self._wake = asyncio.Event()  # the tick: read what was appended since the last one
        self._identities: dict[tuple[int, int, int, float], str | None] = {}  # fingerprints by file state
        self._ids = IdentityResolver()
        self._unopened = Unopened()  # files that could not be opened, retried at every tick
        self._room: int | None = None  # files that may still be opened in this scan (descriptors)

    # -- positions -------------------------------------------------------------------------

    def positions(self) -> list[FilePosition]:
        out = [p for f in self.files + self._retired if (p := f.position()) is not None]
        keys = {p.key for p in out}
        out.extend(p for k, p in self._restored.items() if k not in keys)
        return out

    def lag(self) -> int:
        """Bytes not yet delivered: of the files followed, and of those that could not be opened."""
        return sum(f.lag for f in self.files) + self._unopened.lag()

    def unopened(self) -> list[str]:
        return self._unopened.paths()

    # -- the loop --------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        self._scan(initial=True)
        self.scanned.set()
        # One clock wakes both the scan and the reading, so a quiet or steady file costs one wakeup
        # per tick. Discovery keeps ticking while reading waits for room under the in-flight bound:
        # files the application rotates meanwhile are still opened, so their content outlives deletion.
        ticker = asyncio.create_task(self._tick())
        try:
            await self._read()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _tick(self) -> None:
        poll, scan = self._settings.poll_interval_seconds, self._settings.scan_interval_seconds
        tick = min(poll, scan)
        scan_every = max(1, round(scan / tick))  # ticks between scans
        ticks = 0
        while True:
            await asyncio.sleep(tick)
            ticks += 1
            # A followed file whose name now leads elsewhere was rotated (renamed or deleted): scan
            # now rather than at the scan interval, so the application's new file is followed at once,
            # also while reading is behind. One stat per followed file per tick.
            due = self._scan_soon or bool(self._unopened.files) or ticks % scan_every == 0
            if due or any(f.renamed_away() for f in self.files):
                self._scan_soon = False
                self._scan(initial=False)
            self._wake.set()

    async def _read(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            while self._orphans:
                await self._emit_block(*self._orphans.pop(0))
            behind = False
            for tracked in list(self.files):
                await self._budget.wait_for_room()
                if self._stopping.is_set():
                    return
                if tracked.fd >= 0 and await self._pump(tracked):  # a scan may have closed it meanwhile
                    behind = True
            if not behind:
                # Caught up: what the application writes meanwhile is read as one block at the next
                # tick, rather than record by record as it arrives.
                if self._emitted:
                    self._emitted = False
                    self._caught_up()
                await self._wake.wait()

    async def _pump(self, tracked: TrackedFile) -> bool:
        """Read one block of ``tracked`` and emit what is complete; True when the block was full
        (more is waiting to be read)."""
        reader = tracked.reader
        if tracked.key is not None and tracked.matched:
            # Still the same content? A file truncated (or copied and truncated) and written again
            # must not be read at the old offsets: let the scan sort it out first.
            try:
                same = (
                    fingerprint_fd(tracked.fd, self._settings.fingerprint_bytes) == base_of(tracked.key)
                    and not reader.rewritten()
                )
            except OSError:
                same = False
            if not same:
                self._scan_soon = True
                return False
        try:
            got = reader.read()
        except OSError as exc:
            log.error("Cannot read file", extra={"file": tracked.path, "error": exc.strerror})
            return False
        now = time.monotonic()
        if got:
            tracked.last_growth = now
            READ_BYTES.labels(tracked.path).inc(got)
            READ_LINES.labels(tracked.path).inc(reader.last_lines)
            tracked.size = max(tracked.size, reader.next_read)
        if tracked.key is None and not self._identify(tracked):
            return bool(got)
        block = reader.take(hold_last=True)
        if block is None and reader.buffered and now - tracked.last_growth >= self._flush_after:
            block = reader.take(hold_last=False)
        if block is not None:
            await self._emit_block(tracked, block)
            # Emitting waits only when the in-flight bound is reached: yield once per block so a
            # backlog never keeps the senders and the health endpoints from running.
            await asyncio.sleep(0)
        return got == reader.block_bytes

    async def _emit_block(self, tracked: TrackedFile, block: Block) -> None:
        assert tracked.key is not None
        block.origin = Origin(tracked.path, tracked.key)
        block.ack = tracked.acks.block(block.end)
        self._emitted = True
        await self._emit(block)

    def _identify(self, tracked: TrackedFile) -> bool:
        base = fingerprint_fd(tracked.fd, self._settings.fingerprint_bytes)
        if base is None:
            return False
        inode = (tracked.dev, tracked.ino)
        tracked.key = self._ids.identify(base, tracked.path, inode, self._held(), self._restored)
        self._ids.given(tracked.key)
        return True

    def _held(self) -> list[Held]:
        return [h for f in self.files + self._retired if (h := f.held()) is not None]

    # -- discovery, rotation, truncation ---------------------------------------------------

    def _scan(self, initial: bool) -> None:
        wall = time.time()
        candidates = self.discovery.scan()
        self._room = files_room()
        known, self._identities = self._identities, {}

        def key_of(c: Candidate) -> str | None:
            # Rotated backups sit unchanged for hours: a file whose inode, size and mtime are those
            # of the last scan keeps its fingerprint, rather than being opened and read every tick.
            state = (c.dev, c.ino, c.size, c.mtime)
            if state not in self._identities:
                key, listed = (known[state], True) if state in known else listed_identity(c, self._limit)
                self._scan_soon |= not listed  # renamed since the listing (a rotation): look again soon
                if listed:
                    self._identities[state] = key
            return self._identities.get(state)

        # 1. Open files: still the same content? (copytruncate and truncation rewrite it in place)
        for tracked in list(self.files):
            try:
                st = os.fstat(tracked.fd)
                changed = tracked.key is not None and (
                    st.st_size < tracked.reader.next_read
                    or fingerprint_fd(tracked.fd, self._settings.fingerprint_bytes) != base_of(tracked.key)
                    or tracked.reader.rewritten()
                )
            except OSError:
                continue
            if changed:
                self._truncated(tracked, candidates, key_of)
            else:
                tracked.size = max(tracked.size, st.st_size)
        by_inode = {(f.dev, f.ino): f for f in self.files}

        def base_now(c: Candidate) -> str | None:
            f = by_inode.get((c.dev, c.ino))
            return key_of(c) if f is None else base_of(f.key) if f.key is not None else None

        on_disk = bases_on_disk(candidates, base_now)

        # 2. Names: follow renames, pick up new files and rotated siblings we have not seen.
        seen_inodes = set()
        present: set[str] = set()  # known but not open (restored or closed), still on disk
        for c in candidates:
            seen_inodes.add((c.dev, c.ino))
            tracked_file = by_inode.get((c.dev, c.ino))
            if tracked_file is not None:
                if tracked_file.path != c.path:
                    self._relabel(tracked_file, c.path)
                tracked_file.matched = c.matched
                continue
            base = key_of(c)
            res = self._ids.resolve(c, base, self._held(), self._restored, lambda b: on_disk.get(b, ()))
            if res.kind == "copy":
                continue  # a copy of a file already followed (copytruncate)
            key, pos = res.key, res.position
            if key is not None and pos is not None:
                if not c.matched and c.size <= pos.offset:
                    # Rotated, delivered to its end (closed): known, not read, until it is gone.
                    present.add(key)
                    if (pos.path, pos.dev, pos.ino) != (c.path, c.dev, c.ino):
                        self._restored[key] = replace(pos, path=c.path, dev=c.dev, ino=c.ino)
                    continue
                if self._open(c, pos.offset, key, stored=True):
                    del self._restored[key]
                else:
                    present.add(key)  # still on disk, position kept for the next scan: not lost
                continue
            if c.matched or (c.dev, c.ino) in self._unopened:
                offset = 0
                at_tail = initial and self._settings.read_from == "tail" and self._first_start
                if at_tail and res.collision != "read_from_start":
                    offset = last_line_end(c.open_path, c.size)
                self._open(c, offset, key, res, base)
            elif key is not None and self.scanned_at is not None and c.mtime >= self.scanned_at - 1.0:
                # Rotated away before we saw it, written since our last look: ship all of it.
                log.info("Found a rotated file written since the last scan", extra={"file": c.path})
                self._open(c, 0, key, res, base)

        # 3. Stored files gone from everywhere: their undelivered bytes are lost (unknown while names move)
        if not self._scan_soon:
            forget_gone(self._restored, present, self._settings.fingerprint_bytes)

        # 4. Close what is finished: rotated away or deleted, read to the end, delivered, quiet.
        now = time.monotonic()
        for tracked in list(self.files):
            gone = (tracked.dev, tracked.ino) not in seen_inodes
            # Listed: its path is the name just seen. A file deleted or renamed out of the globs keeps
            # its old name, which the tick then stops comparing (or it would ask for a scan each tick).
            tracked.listed = not gone
            done = (
                tracked.reader.next_read >= tracked.size
                and tracked.acks.outstanding == 0
                and not tracked.reader.buffered
            )
            quiet = now - tracked.last_growth >= self._settings.close_inactive_seconds
            if (gone or not tracked.matched) and done and (quiet or gone):
                self._close(tracked)
        for tracked in list(self._retired):
            if tracked.acks.outstanding == 0 and all(t is not tracked for t, _ in self._orphans):
                self._retired.remove(tracked)
                tracked.close()
        self._unopened.after_scan(seen_inodes, {(c.dev, c.ino): c for c in candidates})
        for tracked in self.files:
            FILE_LAG_BYTES.labels(tracked.path).set(tracked.lag)
        FILES_TRACKED.set(len(self.files))
        self.scanned_at = wall

    def _open(
        self,
        c: Candidate,
        offset: int,
        key: str | None,
        res: Resolution | None = None,
        base: str | None = None,
        stored: bool = False,
    ) -> bool:
        """Follow ``c`` from ``offset``; False when it could not be opened (retried at the next tick)."""
        if self._room is not None and self._room <= 0:
            self._unopened.failed(c, offset, stored, None)
            return False
        try:
            fd = open_candidate(c)
        except OSError as exc:
            self._unopened.failed(c, offset, stored, exc)
            return False
        if fd < 0:
            return False
        self._unopened.opened(c)
        if self._room is not None:
            self._room -= 1
        st = os.fstat(fd)
        if key is not None and (st.st_dev, st.st_ino) != (c.dev, c.ino):  # renamed since the listing
            os.close(fd)
            self._scan_soon = True
            return False
        if offset > st.st_size:
            log.warning(
                "Stored position is past the end of the file; reading it from the start",
                extra={"file": c.path, "stored_offset": offset, "size": st.st_size},
            )
            offset = 0
        tracked = TrackedFile(
            c.path, fd, st.st_dev, st.st_ino, offset, None, c.matched, self._splitter, self._settings
        )
        tracked.size = st.st_size
        if key is not None:
            tracked.key = key
            self._ids.given(key)
        if res is not None and base is not None:
            announce(c.path, res, base)
        self.files.append(tracked)
        log.info("Following file", extra={"file": c.path, "offset": offset})
        return True

    def _relabel(self, tracked: TrackedFile, path: str) -> None:
        log.info("File renamed", extra={"file": tracked.path, "renamed_to": path})
        forget_label(tracked.path)
        tracked.path = path

    def _truncated(
        self, tracked: TrackedFile, candidates: list[Candidate], key_of: Callable[[Candidate], str | None]
    ) -> None:
        """The open file was truncated or rewritten in place; its old content may live on in a copy.

        The inode itself is then picked up by the name pass of the scan as a new file from 0.
        """
        assert tracked.key is not None
        self.files.remove(tracked)
        old_path = tracked.path
        followed = {(f.dev, f.ino) for f in self.files}
        if move_to_copy(tracked, candidates, key_of, followed):
            self.files.append(tracked)
            log.info(
                "File copied and truncated; finishing the copy",
                extra={"file": old_path, "copy": tracked.path},
            )
            return
        # Records already read are still shipped; only bytes never read (and an unfinished last
        # line) are gone with the truncation.
        while (block := tracked.reader.take(hold_last=False)) is not None:
            self._orphans.append((tracked, block))
        lost = max(0, tracked.size - tracked.reader.next_read) + tracked.reader.buffered
        if lost:
            LOST_BYTES.inc(lost)
            log.error(
                "File truncated before it was read to the end; data lost",
                extra={"file": old_path, "lost_bytes": lost},
            )
        else:
            log.info("File truncated; reading it again from the start", extra={"file": old_path})
        tracked.close()
        self._retired.append(tracked)  # its chunks in flight still commit; it reads no more

    def _close(self, tracked: TrackedFile) -> None:
        """Stop following a finished file; its identity and position stay known (and stored) until
        the file is gone, so that a later scan does not take it for a rotated file never seen."""
        self.files.remove(tracked)
        if (position := tracked.position()) is not None:
            self._restored[position.key] = position
        tracked.close()
        forget_label(tracked.path)
        log.info("Closed file", extra={"file": tracked.path, "offset": tracked.acks.committed})

    def close(self) -> None:
        for tracked in self.files + self._retired:
            tracked.close()
