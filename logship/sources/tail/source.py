"""TailSource: reads the followed files and emits their records in blocks.

A loop reads the LIVE cursors, file by file and block by block, pausing while the in-flight bound
is reached (the log files are the buffer); while catching up live-first (catchup.py) a second loop
reads the BACKFILL cursors within the backfill's share of the bound, so that its waits never hold
up the live records. A clock wakes them and runs the scan (scan.py), which keeps the
followed files in step with the directory through rotation and truncation. Identity is the
first-line fingerprint, made unique when two files share it (identity.py); device and inode are
hints for following a file across renames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from logship.acks import Lane
from logship.block import Block, Origin
from logship.budget import InflightBudget
from logship.observe.metrics import READ_BYTES, READ_LINES
from logship.settings import TailSettings
from logship.settings.delivery import DeliverySettings
from logship.sources import CatchUp, Emit
from logship.sources.tail.catchup import CatchUpPolicy
from logship.sources.tail.cursor import Cursor
from logship.sources.tail.fingerprint import fingerprint_fd
from logship.sources.tail.identity import base_of
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.positions import FilePosition, StoreState
from logship.sources.tail.scan import Scanner
from logship.sources.tail.tracked import TrackedFile

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
        delivery: DeliverySettings | None = None,
        unreachable: Callable[[], bool] = lambda: False,
    ) -> None:
        """``budget``: reading pauses while it is spent; ``ignore``: files never to read (logship's own);
        ``caught_up``: called when a pass that emitted records read all there was; ``delivery``:
        the catch-up settings (None: in order, never live-first); ``unreachable``: whether the
        destination's last request got no answer (a catch-up then keeps its live cursors at the end)."""
        self._caught_up = caught_up
        self._emitted = False  # a LIVE block went out since the last caught_up
        self._emitted_backfill = False  # and a BACKFILL one
        self._settings = tail
        self._flush_after = flush_timeout
        self._splitter = splitter
        self._budget = budget
        self._scanner = Scanner(tail, splitter, restored, ignore)
        self._policy = CatchUpPolicy(delivery, splitter, tail.read_block_bytes, unreachable)
        self.discovery = self._scanner.discovery
        self.scanned = asyncio.Event()  # set once the first scan is done
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()  # the tick: read what was appended since the last one
        self._backfill_wake = asyncio.Event()  # the tick, for the backfill reader

    # -- positions -------------------------------------------------------------------------

    @property
    def files(self) -> list[TrackedFile]:
        """The files followed now."""
        return self._scanner.files

    @property
    def scanned_at(self) -> float | None:
        """Wall clock of the last scan (kept in the store)."""
        return self._scanner.scanned_at

    def positions(self) -> list[FilePosition]:
        return self._scanner.positions()

    def lag(self) -> int:
        """Bytes not yet delivered: of the files followed, and of those that could not be opened."""
        return sum(f.lag for f in self.files) + self._scanner.unopened.lag()

    def unopened(self) -> list[str]:
        return self._scanner.unopened.paths()

    def catch_up(self) -> CatchUp | None:
        return self._policy.status(self.files)

    # -- the loop --------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._backfill_wake.set()

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        self._scanner.scan(initial=True)
        self._policy.tick(self.files, self._scanner.unopened.lag())
        self.scanned.set()
        # One clock wakes both the scan and the reading, so a quiet or steady file costs one wakeup
        # per tick. Discovery keeps ticking while reading waits for room under the in-flight bound:
        # files the application rotates meanwhile are still opened, so their content outlives deletion.
        ticker = asyncio.create_task(self._tick())
        backfill = asyncio.create_task(self._read_backfill(), name="backfill reader")
        try:
            await self._read()
        finally:
            for task in (ticker, backfill):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
            scanner = self._scanner
            due = scanner.soon or bool(scanner.unopened.files) or ticks % scan_every == 0
            if due or any(f.renamed_away() for f in self.files):
                scanner.soon = False
                scanner.scan(initial=False)
            self._policy.tick(self.files, scanner.unopened.lag())
            self._wake.set()
            self._backfill_wake.set()

    async def _read(self) -> None:
        """Read the LIVE cursors: one block of each in turn while any is behind, then wait for
        the tick."""
        while not self._stopping.is_set():
            self._wake.clear()
            while self._scanner.orphans:
                await self._emit_block(*self._scanner.orphans.pop(0))
            behind = await self._pass(Lane.LIVE)
            if self._stopping.is_set():
                return
            if not behind:
                # Caught up: what the application writes meanwhile is read as one block at the
                # next tick, rather than record by record as it arrives.
                if self._emitted:
                    self._emitted = False
                    self._caught_up()
                await self._wake.wait()

    async def _read_backfill(self) -> None:
        """Read the BACKFILL cursors, in a task of their own: waiting for the backfill's room (to
        read, or in ``emit`` for a chunk larger than what is left of it) never holds up a live
        cursor."""
        while not self._stopping.is_set():
            self._backfill_wake.clear()
            if not await self._pass(Lane.BACKFILL):
                if self._emitted_backfill:  # its last records go now, not after the flush interval
                    self._emitted_backfill = False
                    self._caught_up()
                await self._backfill_wake.wait()

    async def _pass(self, lane: Lane) -> bool:
        """Read one block of each cursor of ``lane``; True when any has more waiting."""
        behind = False
        for tracked in list(self.files):
            for cursor in [c for c in tracked.cursors if c.lane is lane]:
                await self._budget.wait_for_room(lane)
                if self._stopping.is_set():
                    return False
                # a scan may have closed the file meanwhile, a tick dropped the cursor or moved it
                # to the other lane (read by the other loop from then on)
                if tracked.fd < 0 or cursor not in tracked.cursors or cursor.lane is not lane:
                    continue
                if await self._pump(tracked, cursor):
                    behind = True
        return behind

    async def _pump(self, tracked: TrackedFile, cursor: Cursor) -> bool:
        """Read one block of ``cursor`` and emit what is complete; True when the block was full
        (more is waiting to be read)."""
        reader = cursor.reader
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
                self._scanner.soon = True
                return False
        try:
            got = reader.read()
        except OSError as exc:
            log.error("Cannot read file", extra={"file": tracked.path, "error": exc.strerror})
            return False
        now = time.monotonic()
        if got:
            if cursor is tracked.head:  # the file grew (a backfill cursor reads what was there)
                tracked.last_growth = now
            READ_BYTES.labels(tracked.path).inc(got)
            READ_LINES.labels(tracked.path).inc(reader.last_lines)
            tracked.size = max(tracked.size, reader.next_read)
        if tracked.key is None and not self._scanner.identify(tracked):
            return bool(got)
        block = reader.take(hold_last=True)
        if block is None and reader.buffered and now - tracked.last_growth >= self._flush_after:
            block = reader.take(hold_last=False)
        if block is not None:
            await self._emit_block(tracked, cursor, block)
            # Emitting waits only when the in-flight bound is reached: yield once per block so a
            # backlog never keeps the senders and the health endpoints from running.
            await asyncio.sleep(0)
        return got == reader.block_bytes

    async def _emit_block(self, tracked: TrackedFile, cursor: Cursor, block: Block) -> None:
        assert tracked.key is not None
        block.origin = Origin(tracked.path, tracked.key)
        block.ack = cursor.acks.block(block.end)
        if cursor.lane is Lane.LIVE:
            self._emitted = True
        else:
            self._emitted_backfill = True
        await self._emit(block)

    def close(self) -> None:
        self._scanner.close()
