"""A live-first catch-up as the health answer shows it: the backlog, and the time it has left,
estimated from how fast it shrank over the last minute."""

from __future__ import annotations

from collections import deque
from typing import Protocol

__all__ = ["Backlog", "BacklogTrend", "describe"]

WINDOW_SECONDS = 60.0
# Two looks closer together than this say nothing reliable about a rate.
MIN_SPAN_SECONDS = 2.0


class Backlog(Protocol):
    """What a source reports while catching up (`logship.sources.CatchUp`)."""

    @property
    def backlog_bytes(self) -> int: ...

    @property
    def oldest_seconds(self) -> float | None: ...

    @property
    def files(self) -> int: ...


class BacklogTrend:
    """The backlog's size at each look over the last ``window`` seconds."""

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self._window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, backlog: Backlog | None) -> None:
        """A look at ``now``; None (not catching up) forgets the past ones."""
        if backlog is None:
            self._samples.clear()
            return
        self._samples.append((now, backlog.backlog_bytes))
        # Keep one look at or before the window's start, so the rate spans the whole window.
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()

    def seconds_left(self) -> float | None:
        """At the rate the backlog shrank over the window, when it will be gone; None when it
        did not shrink (it grows, or holds) or the looks span too short a time."""
        if len(self._samples) < 2:
            return None
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 < MIN_SPAN_SECONDS or b1 >= b0:
            return None
        return b1 / ((b0 - b1) / (t1 - t0))


def describe(backlog: Backlog, seconds_left: float | None) -> str:
    """The health answer's sentence about a catch-up."""
    oldest = "" if backlog.oldest_seconds is None else f", oldest record {backlog.oldest_seconds:.0f}s old"
    left = (
        "time left unknown (the backlog did not shrink over the last minute)"
        if seconds_left is None
        else f"about {seconds_left:.0f}s left"
    )
    files = f"{backlog.files} file" + ("" if backlog.files == 1 else "s")
    return f"catching up live-first: {backlog.backlog_bytes} bytes of backlog in {files}{oldest}, {left}"
