"""Live-first catch-up: when to start a live cursor, which files read as the backfill, the backlog.

Looked at once per tick. The backlog is what ``lag`` counts: bytes written and not yet delivered.
When it holds more than ``max(catch_up_min_bytes, catch_up_after_seconds x write rate)``, each
file written now (followed under a name `tail.paths` matches, not renamed or copied away, grown
within the last ``catch_up_after_seconds``) gets a live cursor from the start of the last record
it held at the previous tick (what was written since is read live); what was behind it, and every
other followed file, is read as the backfill; a live cursor whose file is rotated away reads on to
its end (the records written just before the rotation), and the application's new file is read
live from its start. While the destination is unreachable (``unreachable()``: its last request got
no answer), a live cursor that has delivered nothing for a second with more than a second of
writes unread starts again further on, what it had not read joining the backfill: after an outage,
what is written then goes out first, not the outage's records. A destination that answers, however
slowly, moves a live cursor only once it has delivered nothing for ``catch_up_after_seconds`` (as
long as it takes a backlog to start a catch-up; an engine that takes connections and never answers
is unreachable only when a request times out): what a live cursor has not read was written since,
and would wait behind the whole backlog were it handed to the backfill. Catching up ends when
every backfill cursor has joined its live cursor and the backlog is under half the threshold (not
the threshold itself: a backlog hovering about it would start and end catch-ups tick after tick).

The write rate is the growth of the followed files between ticks, smoothed over about ten
seconds. The age of the oldest undelivered byte comes from per-file (wall time, size) samples
taken when a tick sees a file grow: a byte's write time is that of the first sample holding it
(at most one tick late); for the bytes a file held when it was first seen, its mtime then (they
were written at or before it, so their age is a lower bound).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable

from logship.acks import Lane
from logship.observe.metrics import BACKLOG_BYTES, BACKLOG_OLDEST_SECONDS, CATCHING_UP
from logship.settings.delivery import DeliverySettings
from logship.sources import CatchUp
from logship.sources.tail.cursor import live_start
from logship.sources.tail.multiline import RecordSplitter
from logship.sources.tail.tracked import TrackedFile

__all__ = ["CatchUpPolicy"]

log = logging.getLogger(__name__)

_SMOOTHING_SECONDS = 10.0  # time constant of the write rate's moving average
_SAMPLES = 512  # size samples kept per file; past it every other one is dropped (coarser, bounded)
_LIVE_SLACK_SECONDS = 1.0  # writes a stalled live cursor may leave unread before it starts again further on


class _Growth:
    """One file's growth: size samples for the age of its bytes, when it last grew, its size at
    this tick and the one before."""

    __slots__ = ("grew_at", "previous", "samples", "size")

    def __init__(self, tracked: TrackedFile, now: float, wall: float) -> None:
        try:
            mtime = os.fstat(tracked.fd).st_mtime
        except OSError:
            mtime = wall
        self.samples: list[tuple[float, int]] = [(min(mtime, wall), tracked.size)] if tracked.size else []
        self.grew_at = now
        self.size = self.previous = tracked.size

    def ticked(self, size: int) -> None:
        self.previous, self.size = self.size, size

    def grew(self, size: int, now: float, wall: float) -> None:
        self.grew_at = now
        self.samples.append((wall, size))
        if len(self.samples) > _SAMPLES:
            self.samples = self.samples[:1] + self.samples[1:-1:2] + self.samples[-1:]

    def written_at(self, offset: int) -> float | None:
        """Wall time by which the byte at ``offset`` was written (None: not seen yet)."""
        samples = self.samples
        while len(samples) > 1 and samples[0][1] <= offset:
            del samples[0]  # older than every byte still undelivered
        if samples and samples[0][1] > offset:
            return samples[0][0]
        return None


class CatchUpPolicy:
    """Decides live-first catch-up from the followed files, tick by tick; publishes the backlog."""

    def __init__(
        self,
        delivery: DeliverySettings | None,
        splitter: RecordSplitter,
        block_bytes: int,
        unreachable: Callable[[], bool],
    ) -> None:
        """``delivery`` None: never catch up live-first (in-order, or a source without settings);
        ``unreachable``: whether the destination's last request got no answer."""
        self._live_first = delivery is not None and delivery.catch_up == "live-first"
        self._after = delivery.catch_up_after_seconds if delivery is not None else 10.0
        self._min_bytes = delivery.catch_up_min_bytes if delivery is not None else 0
        self._splitter = splitter
        self._block = block_bytes
        self._unreachable = unreachable
        self.rate = 0.0  # bytes written per second, smoothed
        self.catching = False
        self.backlog = 0
        self._growth: dict[int, _Growth] = {}  # per followed file, by id()
        self._last: float | None = None
        # per live cursor (by id): its committed offset, and since when it has not moved
        self._progress: dict[int, tuple[int, float]] = {}

    @property
    def threshold(self) -> int:
        return max(self._min_bytes, int(self._after * self.rate))

    def tick(self, files: list[TrackedFile], extra_lag: int) -> None:
        """Sample the files' sizes, decide, publish; ``extra_lag``: bytes of files not opened."""
        now, wall = time.monotonic(), time.time()
        fresh = self._sample(files, now, wall)
        for tracked in files:
            tracked.drop_finished()
        self.backlog = sum(f.lag for f in files) + extra_lag
        if self._live_first:
            if self.catching:  # opened meanwhile: in the backfill until known to be written now
                for tracked in fresh:
                    tracked.head.lane = Lane.BACKFILL
            self._decide(files, now, {id(f) for f in fresh})
        BACKLOG_BYTES.set(self.backlog)
        oldest = self.oldest_seconds(files, wall)
        BACKLOG_OLDEST_SECONDS.set(oldest if oldest is not None else 0.0)
        CATCHING_UP.set(1 if self.catching else 0)

    def status(self, files: list[TrackedFile]) -> CatchUp | None:
        if not self.catching:
            return None
        # behind the live cursors: what they have not delivered is not the backlog
        live = sum(max(0, f.size - f.head.acks.committed) for f in files if f.head.lane is Lane.LIVE)
        behind = [f for f in files if f.lag and (len(f.cursors) > 1 or f.head.lane is Lane.BACKFILL)]
        return CatchUp(max(0, self.backlog - live), self.oldest_seconds(files, time.time()), len(behind))

    def oldest_seconds(self, files: Iterable[TrackedFile], wall: float) -> float | None:
        """Age of the oldest undelivered byte of the followed files (None: all delivered)."""
        oldest: float | None = None
        for tracked in files:
            growth = self._growth.get(id(tracked))
            if growth is None or tracked.lag == 0:
                continue
            at = growth.written_at(tracked.ranges().committed)
            if at is not None and (oldest is None or at < oldest):
                oldest = at
        return None if oldest is None else max(0.0, wall - oldest)

    def _sample(self, files: list[TrackedFile], now: float, wall: float) -> list[TrackedFile]:
        """Bring the sizes up to date and the write rate with them; return the files new to it."""
        grown = 0
        fresh: list[TrackedFile] = []
        seen: dict[int, _Growth] = {}
        for tracked in files:
            growth = self._growth.get(id(tracked))
            before = tracked.size
            if tracked.fd >= 0:
                try:
                    tracked.size = max(before, os.fstat(tracked.fd).st_size)
                except OSError:
                    pass
            if growth is None:
                growth = _Growth(tracked, now, wall)
                fresh.append(tracked)
            else:
                growth.ticked(tracked.size)
                if tracked.size > (last := growth.samples[-1][1] if growth.samples else 0):
                    grown += tracked.size - last
                    growth.grew(tracked.size, now, wall)
            seen[id(tracked)] = growth
        self._growth = seen
        if self._last is not None and now > self._last:
            dt = now - self._last
            alpha = 1.0 - math.exp(-dt / _SMOOTHING_SECONDS)
            self.rate += alpha * (grown / dt - self.rate)
        self._last = now
        return fresh

    def _written_now(self, tracked: TrackedFile, now: float) -> bool:
        growth = self._growth.get(id(tracked))
        recent = growth is not None and now - growth.grew_at <= self._after
        return tracked.matched and tracked.listed and not tracked.moved and recent

    def _decide(self, files: list[TrackedFile], now: float, fresh: set[int]) -> None:
        threshold = self.threshold
        if not self.catching and self.backlog > threshold:
            self.catching = True
            log.info(
                "Catching up live-first: shipping what is written now ahead of the backlog",
                extra={"backlog_bytes": self.backlog, "threshold_bytes": threshold},
            )
            for tracked in files:
                tracked.head.lane = Lane.BACKFILL
        elif self.catching and self.backlog <= threshold // 2 and all(len(f.cursors) == 1 for f in files):
            self.catching = False
            log.info("Caught up: following the files in order again", extra={"backlog_bytes": self.backlog})
            for tracked in files:
                tracked.head.lane = Lane.LIVE
            return
        if not self.catching:
            return
        progress, self._progress = self._progress, {}
        down = self._unreachable()
        for tracked in files:
            # Moves on while the destination is unreachable; or once it has been silent for as
            # long as starts a catch-up: an engine that takes connections and never answers is
            # unreachable only when a request times out.
            silent = self._silent_for(tracked, progress, now)
            stalled = silent >= _LIVE_SLACK_SECONDS and (down or silent >= self._after)
            if not self._written_now(tracked, now):
                # Renamed away or quiet: a live cursor reads on to the end of its file (what was
                # written just before a rotation is recent), unless the destination is down: then
                # what it had left by the previous tick is the outage's, and joins the backfill.
                if stalled and tracked.head.lane is Lane.LIVE:
                    self._go_live(tracked, self._block)
                continue
            slack = max(self._block, int(_LIVE_SLACK_SECONDS * self.rate))
            if tracked.head.lane is Lane.BACKFILL or (stalled and tracked.head.unread(tracked.size) > slack):
                # A file written now and first seen at this tick (the application's new file after a
                # rotation, a new log) holds what was written since it was created: read live from
                # its start, unless it holds more than a catch-up's worth (found late).
                self._go_live(tracked, threshold if id(tracked) in fresh else self._block)

    def _silent_for(self, tracked: TrackedFile, progress: dict[int, tuple[int, float]], now: float) -> float:
        """Seconds since the file's open-ended cursor last delivered (or started)."""
        head = tracked.head
        committed = head.acks.committed
        seen = progress.get(id(head))
        since = seen[1] if seen is not None and seen[0] == committed else now
        self._progress[id(head)] = (committed, since)
        return now - since

    def _go_live(self, tracked: TrackedFile, behind: int) -> None:
        """A file written now reads LIVE: when its cursor has more than ``behind`` bytes unread,
        from a live cursor at the last record it held at the previous tick. What was written
        since is read live whatever happens: were the destination back within the tick, unseen
        yet, it was written after its return."""
        head = tracked.head
        if tracked.key is not None and head.unread(tracked.size) > behind:
            growth = self._growth.get(id(tracked))
            at = growth.previous if growth is not None else tracked.size
            try:
                start = live_start(tracked.fd, at, self._splitter)
            except OSError:
                start = None
            if start is not None and start > head.reader.next_read:
                first = len(tracked.cursors) == 1  # later ones come once a second during an outage
                tracked.split(start)
                log.log(
                    logging.INFO if first else logging.DEBUG,
                    "Live cursor started; the records before it are shipped as the backfill",
                    extra={"file": tracked.path, "live_from": start, "backfill_from": head.acks.committed},
                )
                return
        head.lane = Lane.LIVE
