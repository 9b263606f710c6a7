"""The catch-up scenario (issue 22): an outage, then a slow engine, while the application writes on.

The application (bench/aichat_logger.py, the real logging module and RotatingFileHandler) writes
at a steady rate and records when each line was written (``--times``); `logship run` ships through
a fault proxy in front of the real engine. The proxy cuts the engine off (connections refused or
reset), then lets it back but slowed down (bytes per second), so that the backlog takes a while to
drain while the application keeps writing.

Each record's delay from write to searchable is measured per seq:

* *indexed*: the proxy sees the engine's answer to each bulk item (the first 201 for its seq);
* *searchable*: a record becomes visible to search at the first refresh after it was indexed. A
  poller asks the engine for the documents' count every ``POLL_S`` (a search, as an on-call engineer
  searching during catch-up does; it never forces a refresh); the count rises at each refresh. A
  record indexed at ``t`` is searchable at the first poll that saw the count rise and whose previous
  poll began after ``t``: an upper bound at most two poll intervals late. A record that no such poll
  covers (the last refresh came before the next poll) is searchable, at the latest, at the first poll
  that counted every record written.

The run itself is support/catchup_scenario.py, used by tests/integration/test_catch_up.py and
bench/catch_up_bench.py.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
import urllib.parse
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.httpclient import http_json

SEQ = re.compile(rb"seq=(\d+)")
POLL_S = 0.25


class SeqTimes:
    """A time per seq (0.0: none yet), growing as seqs come."""

    def __init__(self) -> None:
        self.at = array("d")

    def set_first(self, seq: int, t: float) -> bool:
        """Set the time of ``seq`` unless it has one; False if it had."""
        if seq >= len(self.at):
            self.at.extend([0.0] * (seq + 100_000 - len(self.at)))
        if self.at[seq]:
            return False
        self.at[seq] = t
        return True

    def get(self, seq: int) -> float:
        return self.at[seq] if seq < len(self.at) else 0.0


class Indexed:
    """The proxy's observer: when each seq was first indexed, and seqs indexed twice (two 201s)."""

    def __init__(self) -> None:
        self.times = SeqTimes()
        self.twice: list[int] = []
        self.items = 0
        self.item_bytes = 0
        self._lock = threading.Lock()
        self._missing = 0  # every seq below it was indexed

    def __call__(self, items: list[tuple[list[bytes], int]], answered_at: float) -> None:
        with self._lock:
            for lines, status in items:
                self.items += 1
                self.item_bytes += sum(len(line) for line in lines)
                match = SEQ.search(lines[-1])
                if match is None or status not in (200, 201, 409):
                    continue
                seq = int(match.group(1))
                if not self.times.set_first(seq, answered_at) and status != 409:
                    self.twice.append(seq)

    def first_missing(self) -> int:
        """The lowest seq not indexed yet."""
        with self._lock:
            at = self.times.at
            while self._missing < len(at) and at[self._missing]:
                self._missing += 1
            return self._missing


class WriteTimes:
    """The writer's ``--times`` file, read as it grows: the write time of each seq written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.times = SeqTimes()
        self.written = 0
        self._offset = 0

    def update(self) -> int:
        """Read what was appended; return how many records were written so far."""
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        for line in chunk[:end].splitlines():
            seq, _, t = line.partition(b" ")
            self.times.set_first(int(seq), float(t))
            self.written += 1
        return self.written


class RefreshPoller:
    """Polls the documents' count (a search, no refresh) and keeps the polls where it rose."""

    def __init__(self, engine_url: str, pattern: str) -> None:
        self.url = (
            f"{engine_url.rstrip('/')}/{urllib.parse.quote(pattern, safe=',*')}/_count"
            "?ignore_unavailable=true&allow_no_indices=true"
        )
        self.rises: list[float] = []  # start of each poll that saw the count rise
        self.after: list[float] = []  # start of the poll before it
        self.counts: list[int] = []  # the count each rise saw
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refresh-poller", daemon=True)

    def start(self) -> RefreshPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last, previous = -1, time.time()
        while not self._stop.wait(POLL_S):
            began = time.time()
            try:
                status, payload = http_json("GET", self.url)
            except OSError:
                continue  # a poll that failed says nothing; the next one covers the interval
            if status == 200:
                n = int(payload["count"])
                if n > last:
                    self.rises.append(began)
                    self.after.append(previous)
                    self.counts.append(n)
                last = n
            previous = began

    def searchable_at(self, indexed_at: float, total: int) -> float:
        """The first poll that saw a refresh begun after ``indexed_at``, else the first that counted
        ``total`` documents (0.0: neither yet)."""
        i = bisect_left(self.after, indexed_at)
        if i < len(self.rises):
            return self.rises[i]
        return self.all_counted(total)

    def all_counted(self, total: int) -> float:
        """The first poll that counted ``total`` documents or more (0.0: none yet)."""
        i = bisect_left(self.counts, total)
        return self.rises[i] if i < len(self.rises) else 0.0


@dataclass
class Plan:
    """One run of the scenario."""

    catch_up: str = "live-first"
    rate: int = 5_000  # records written per second
    outage_s: float = 60.0
    capacity: int = 8_000  # records per second the slowed engine takes (bytes/s from their size)
    max_bytes: int = 10 * 1024 * 1024  # the writer's rotation
    kills_after_s: tuple[float, ...] = ()  # kill -9 of logship these seconds after the engine is back
    drain_deadline_s: float = 600.0
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Figures:
    """What a run measured; latencies in seconds, for the records written while the backlog drained."""

    plan: Plan
    live: int = 0
    indexed: list[float] = field(default_factory=list)
    searchable: list[float] = field(default_factory=list)
    before_outage: list[float] = field(default_factory=list)  # searchable, with no backlog
    drain_s: float = 0.0
    total_s: float = 0.0
    written: int = 0
    in_engine: int = 0
    missing: list[int] = field(default_factory=list)
    twice: list[int] = field(default_factory=list)
    rotations_in_catch_up: int = 0
    kills: int = 0
    metrics: dict[str, float] = field(default_factory=dict)  # logship's, at the end
    # (seconds into the window measured, median, max) of write->searchable, per 10 s of writing
    timeline: list[tuple[int, float, float]] = field(default_factory=list)
    proxy: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        def q(xs: list[float]) -> str:
            return f"median {quantile(xs, 0.5):.1f} s, p99 {quantile(xs, 0.99):.1f} s" if xs else "none"

        def lane(name: str) -> int:
            return int(self.metrics.get(f'logship_requests_total{{lane="{name}"}}', 0))

        return (
            f"[catch-up {self.plan.catch_up}] write->searchable while draining: {q(self.searchable)} "
            f"({self.live} records, written at {self.live / max(self.drain_s, 1e-9):.0f}/s; "
            f"write->indexed {q(self.indexed)}); "
            f"before the outage {q(self.before_outage)}; "
            f"backlog drained in {self.drain_s:.0f} s; total {self.total_s:.0f} s; "
            f"written {self.written}, in the engine {self.in_engine}, missing {len(self.missing)}, "
            f"twice {len(self.twice)}; kills {self.kills}, rotations during catch-up "
            f"{self.rotations_in_catch_up}; bulk requests {self.proxy.get('bulk_requests', 0)} "
            f"(logship's last run: live {lane('live')}, backfill {lane('backfill')})\n"
            f"  write->searchable per 10 s of writing (from, median, max): "
            + ", ".join(f"{t}s {m:.1f}/{x:.1f}" for t, m, x in self.timeline)
        )


def quantile(xs: list[float], q: float) -> float:
    if len(xs) < 2:
        return xs[0] if xs else 0.0
    return statistics.quantiles(xs, n=100, method="inclusive")[round(q * 100) - 1] if q < 1 else max(xs)
