"""The replay progress bar: bytes, records per second and time left, on a terminal only."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from logship.pipeline import ReplayProgress

__all__ = ["ProgressReporter", "render"]

MiB = 1024 * 1024


def render(p: ReplayProgress, now: float, width: int = 30) -> str:
    elapsed = max(now - p.started, 1e-6)
    share = min(1.0, p.read_bytes / p.total_bytes) if p.total_bytes else 1.0
    filled = int(share * width)
    rate = p.records / elapsed
    speed = p.read_bytes / elapsed
    left = (p.total_bytes - p.read_bytes) / speed if speed > 0 else 0.0
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {share * 100:5.1f}% "
        f"{p.read_bytes / MiB:8.1f}/{p.total_bytes / MiB:.1f} MiB  {rate:9,.0f} records/s  "
        f"{left:5.0f}s left"
    )


class ProgressReporter:
    """Redraws one line on ``stream`` while a replay runs, if ``stream`` is a terminal."""

    def __init__(self, progress: ReplayProgress, stream: TextIO, interval: float = 0.2) -> None:
        self._progress = progress
        self._stream = stream
        self._interval = interval

    async def follow(self, task: asyncio.Task[Any]) -> None:
        if not self._stream.isatty():
            return
        while not task.done():
            self._stream.write("\r" + render(self._progress, time.monotonic()))
            self._stream.flush()
            await asyncio.wait([task], timeout=self._interval)
        self._stream.write("\r" + render(self._progress, time.monotonic()) + "\n")
        self._stream.flush()
