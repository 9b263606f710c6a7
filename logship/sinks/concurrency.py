"""Adaptive request concurrency: how many batches are sent at once, following the engine's answers.

Additive increase, multiplicative decrease, as Vector's adaptive request concurrency and TCP do: one
more request in flight after an answer without pushback, half as many after pushback (a 429, a
503, items rejected as too busy), between 1 and `delivery.max_concurrent_requests`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

__all__ = ["AdaptiveConcurrency"]


class AdaptiveConcurrency:
    def __init__(self, maximum: int, on_change: Callable[[int], None]) -> None:
        self.maximum = maximum
        self.limit = maximum
        self._in_flight = 0
        self._room = asyncio.Condition()
        self._on_change = on_change
        on_change(self.limit)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def __aenter__(self) -> None:
        async with self._room:
            await self._room.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        async with self._room:
            self._in_flight -= 1
            self._room.notify_all()

    async def observe(self, pushback: bool) -> None:
        """Adjust the limit after an answer."""
        limit = max(1, self.limit // 2) if pushback else min(self.maximum, self.limit + 1)
        if limit != self.limit:
            self.limit = limit
            self._on_change(limit)
            async with self._room:
                self._room.notify_all()
