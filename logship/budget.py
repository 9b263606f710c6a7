"""Backpressure: a bound on encoded bytes read but not yet delivered.

Readers wait for room before reading and before handing on a chunk; delivery releases the bytes
of each chunk once all its records are delivered. The log files themselves are the buffer.

While catching up live-first, the backfill may hold three quarters of the bound at most: the rest
is kept for the live cursor's records, so that a backlog never keeps what is written now waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from logship.acks import Lane

__all__ = ["InflightBudget"]


class InflightBudget:
    """Bytes read but not yet delivered; readers wait while it is spent."""

    def __init__(
        self, limit: int, on_change: Callable[[int], None], on_paused: Callable[[float], None]
    ) -> None:
        self.limit = limit
        self.backfill_limit = limit * 3 // 4
        self.used = 0
        self.wanted = 0  # bytes the readers wait to fit, together (0: none waits)
        self._released = asyncio.Event()
        self._on_change = on_change
        self._on_paused = on_paused

    def release(self, n: int) -> None:
        self.used -= n
        self._released.set()
        self._on_change(self.used)

    async def acquire(self, n: int, lane: Lane = Lane.LIVE) -> None:
        """Wait until ``n`` more bytes fit under the limit, then spend them.

        A single chunk larger than the whole limit still goes, alone, so nothing wedges.
        """
        cap = self._cap(lane)
        self.wanted += n
        try:
            await self._pause(lambda: not self.used or self.used + n <= cap, lane)
        finally:
            self.wanted -= n
        self.used += n
        self._on_change(self.used)

    async def wait_for_room(self, lane: Lane = Lane.LIVE) -> None:
        """Wait until anything at all fits: readers check before reading a block."""
        await self._pause(lambda: self.room(lane), lane)

    def room(self, lane: Lane = Lane.LIVE) -> bool:
        """Whether a block of ``lane`` may be read now."""
        return self.used < self._cap(lane)

    def _cap(self, lane: Lane) -> int:
        return self.limit if lane is Lane.LIVE else self.backfill_limit

    async def _pause(self, done: Callable[[], bool], lane: Lane) -> None:
        """Wait until ``done()``, re-checked at each release.

        The pause is credited to the metric every second, not only when it ends, so a long
        outage shows in ``rate()`` while it lasts. Only the live reader's: the backfill waits at
        its share of the bound by design while catching up, and counting both would let the
        metric grow by two seconds a second.
        """
        last = time.monotonic()
        while not done():
            self._released.clear()
            try:
                await asyncio.wait_for(self._released.wait(), 1.0)
            except TimeoutError:
                pass
            now = time.monotonic()
            if lane is Lane.LIVE:
                self._on_paused(now - last)
            last = now
