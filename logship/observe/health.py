"""Health state the pipeline reports to, and the ``/health/detailed`` report built from it.

Six checks, each with a status (``pass``/``fail``) and a human-readable detail:

- ``search_engine``: the engine answered (any HTTP status) within ``engine_timeout_seconds`` and
  the last attempt did not fail. Before any request it passes ("no request yet"), so a fresh
  pod becomes ready. The pipeline must reach the engine at least that often, idle or not.
- ``positions``: the last position-file write succeeded.
- ``dead_letter``: the last write of rejected documents to the dead-letter file succeeded (while
  it fails, those records stay undelivered and their files' positions do not advance).
- ``files``: fails while files to follow cannot be opened (descriptors short, no permission);
  their bytes are in the lag, and they are retried at every tick.
- ``delivery``: fails when bytes are waiting (lag > 0) and nothing was delivered for
  ``stall_seconds``; counted from construction when nothing was ever delivered.
- ``catch_up``: always passes (catching up is no failure); says whether logship is catching up
  live-first, with the backlog and an estimate of the time left. The body's ``catch_up`` member
  carries the same as numbers.

Times come from a monotonic clock (injectable for tests) so wall-clock jumps do not flip checks.
Plain attributes, no locks: the pipeline and the HTTP server share one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from logship.observe._common import utc_timestamp, version
from logship.observe.catchup import Backlog, BacklogTrend, describe

__all__ = ["CheckResult", "HealthState"]

CheckResult = dict[str, str]


class HealthState:
    """What the pipeline last saw of the engine, the position store and delivery."""

    def __init__(
        self,
        *,
        engine_timeout_seconds: float,
        stall_seconds: float,
        lag_bytes: Callable[[], int],
        unopened: Callable[[], list[str]] = list,
        catch_up: Callable[[], Backlog | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine_timeout = engine_timeout_seconds
        self._stall = stall_seconds
        self._lag_bytes = lag_bytes
        self._unopened = unopened
        self._catch_up = catch_up
        self._trend = BacklogTrend()
        self._clock = clock
        self._started = clock()
        self._engine_answer: float | None = None
        self._engine_failure: str | None = None
        self._positions_written: float | None = None
        self._positions_failure: str | None = None
        self._delivered: float | None = None
        self._dead_letter_failure: str | None = None
        self._dead_letter_full: str | None = None

    # -- updates from the pipeline ------------------------------------------------------------

    def engine_answered(self) -> None:
        """The engine sent an HTTP response (any status: it is up and reachable)."""
        self._engine_answer = self._clock()
        self._engine_failure = None

    def engine_failed(self, reason: str) -> None:
        """A request got no HTTP response (connection refused, timeout, TLS error...)."""
        self._engine_failure = reason

    @property
    def engine_unreachable(self) -> bool:
        """The engine's last request (a bulk request or the probe) got no answer, nor has any
        since: the engine is down or cut off, not merely slow."""
        return self._engine_failure is not None

    def positions_written(self) -> None:
        self._positions_written = self._clock()
        self._positions_failure = None

    def positions_failed(self, reason: str) -> None:
        self._positions_failure = reason

    def dead_letter_written(self) -> None:
        self._dead_letter_failure = None

    def dead_letter_failed(self, reason: str) -> None:
        self._dead_letter_failure = reason

    def dead_letter_full(self, reason: str | None) -> None:
        """The dead-letter files reached their bound (``reason``), or have room again (None)."""
        self._dead_letter_full = reason

    def delivered(self) -> None:
        """A batch reached its final outcome (indexed, already present or dead-lettered)."""
        self._delivered = self._clock()

    def look_at_catch_up(self) -> Backlog | None:
        """Ask the source about its catch-up and note the backlog's size (the service does so
        every few seconds, so that the estimate does not depend on how often health is asked)."""
        try:
            backlog = self._catch_up()
        except Exception:  # a broken probe must report, not crash the endpoint
            backlog = None
        self._trend.add(self._clock(), backlog)
        return backlog

    # -- report -------------------------------------------------------------------------------

    def report(self) -> tuple[bool, dict[str, object]]:
        """``(healthy, body)`` in the monitoring guide's ``/health/detailed`` shape."""
        now = self._clock()
        backlog = self.look_at_catch_up()
        checks = {
            "search_engine": self._check_engine(now),
            "positions": self._check_positions(now),
            "dead_letter": self._check_dead_letter(),
            "files": self._check_files(),
            "delivery": self._check_delivery(now),
            "catch_up": _pass("following: no backlog" if backlog is None else self._catching_up(backlog)),
        }
        healthy = all(check["status"] == "pass" for check in checks.values())
        body: dict[str, object] = {
            "status": "healthy" if healthy else "unhealthy",
            "timestamp": utc_timestamp(),
            "version": version(),
            "checks": checks,
            "catch_up": self._catch_up_numbers(backlog),
        }
        return healthy, body

    def _catching_up(self, backlog: Backlog) -> str:
        return describe(backlog, self._trend.seconds_left())

    def _catch_up_numbers(self, backlog: Backlog | None) -> dict[str, object]:
        if backlog is None:
            return {"catching_up": False}
        return {
            "catching_up": True,
            "backlog_bytes": backlog.backlog_bytes,
            "files": backlog.files,
            "oldest_seconds": backlog.oldest_seconds,
            "seconds_left": self._trend.seconds_left(),
        }

    def _check_engine(self, now: float) -> CheckResult:
        if self._engine_failure is not None:
            return _fail(f"last request failed: {self._engine_failure}")
        if self._engine_answer is None:
            return _pass("no request yet")
        age = now - self._engine_answer
        if age > self._engine_timeout:
            return _fail(f"no answer for {age:.0f}s (limit {self._engine_timeout:g}s)")
        return _pass(f"answered {age:.0f}s ago")

    def _check_positions(self, now: float) -> CheckResult:
        if self._positions_failure is not None:
            return _fail(f"last write failed: {self._positions_failure}")
        if self._positions_written is None:
            return _pass("not written yet")
        return _pass(f"written {now - self._positions_written:.0f}s ago")

    def _check_dead_letter(self) -> CheckResult:
        if self._dead_letter_failure is not None:
            return _fail(f"last write failed: {self._dead_letter_failure}")
        if self._dead_letter_full is not None:
            return _fail(f"full: {self._dead_letter_full}")
        return _pass("writable")

    def _check_files(self) -> CheckResult:
        try:
            unopened = self._unopened()
        except Exception as exc:  # a broken probe must report, not crash the endpoint
            return _fail(f"files unavailable: {exc!r}")
        if unopened:
            shown = ", ".join(unopened[:5]) + (", ..." if len(unopened) > 5 else "")
            return _fail(f"{len(unopened)} files cannot be opened (retried at every tick): {shown}")
        return _pass("all files open")

    def _check_delivery(self, now: float) -> CheckResult:
        try:
            lag = self._lag_bytes()
        except Exception as exc:  # a broken probe must report, not crash the endpoint
            return _fail(f"lag unavailable: {exc!r}")
        since = self._delivered if self._delivered is not None else self._started
        idle = now - since
        if lag > 0 and idle >= self._stall:
            when = "since start" if self._delivered is None else "since last delivery"
            return _fail(
                f"{lag} bytes waiting, nothing delivered for {idle:.0f}s {when} (limit {self._stall:g}s)"
            )
        return _pass(f"lag {lag} bytes")


def _pass(detail: str) -> CheckResult:
    return {"status": "pass", "detail": detail}


def _fail(detail: str) -> CheckResult:
    return {"status": "fail", "detail": detail}
