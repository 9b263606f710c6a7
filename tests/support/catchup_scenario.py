"""The catch-up scenario run (issue 22): see support/catchup.py for what it measures and how."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from engine_fixture import free_port, refresh
from support.catchup import SEQ, Figures, Indexed, Plan, RefreshPoller, WriteTimes
from support.faultproxy import FaultProxy
from support.harness import WORKLOAD, Logship, toml_config, wait_until
from support.httpclient import request


class Scenario:
    """One run: writer, proxy, poller and `logship run` in ``work``, documents under ``prefix``."""

    def __init__(self, plan: Plan, engine_url: str, work: Path, prefix: str) -> None:
        self.plan = plan
        self.engine_url = engine_url.rstrip("/")
        self.pattern = f"{prefix}-*"
        self.logs = work / "logs"
        self.logs.mkdir(parents=True)
        self.indexed = Indexed()
        self.proxy = FaultProxy(self.engine_url, observe=self.indexed)
        self.writes = WriteTimes(work / "write-times")
        self.poller = RefreshPoller(self.engine_url, self.pattern)
        self.ship = Logship(work / "logship.toml", free_port(), work / "logship.log")
        self.state = work / "state"
        self.prefix = prefix
        self.writer: subprocess.Popen[bytes] | None = None
        self.figures = Figures(plan)

    def __enter__(self) -> Scenario:
        self.proxy.start()
        self.poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.writer is not None and self.writer.poll() is None:
            self.writer.kill()
            self.writer.wait(30)
        if self.ship.proc is not None and self.ship.proc.poll() is None:
            self.ship.kill()
        self.poller.stop()
        self.proxy.stop()

    def run(self, say: Callable[[str], None] = print) -> Figures:
        """The whole scenario; returns its figures (what to assert is the caller's)."""
        plan, f = self.plan, self.figures
        # The product's flush interval (the harness shortens it for speed), the plan's catch-up mode.
        overrides: dict[str, dict[str, Any]] = {
            "delivery": {"catch_up": plan.catch_up},
            "batch": {"flush_interval_seconds": 1.0},
        }
        for section, values in plan.overrides.items():
            overrides.setdefault(section, {}).update(values)
        toml_config(
            self.ship.config,
            logs=self.logs,
            state=self.state,
            es_url=self.proxy.url,
            http_port=self.ship.http_port,
            index_prefix=self.prefix,
            overrides=overrides,
        )
        self.ship.start()
        self._start_writer()
        wait_until(self._caught_up, 120, what="logship to follow the writer within 3 s")
        steady_from = time.time()
        time.sleep(5)  # five seconds of steady state, measured as the reference
        cut = time.time()
        self.proxy.cut()
        say(f"[catch-up {plan.catch_up}] engine cut off for {plan.outage_s:.0f} s")
        time.sleep(plan.outage_s)  # the outage itself: the scenario, not a check
        per_item = self.indexed.item_bytes / max(1, self.indexed.items)
        self.proxy.throttle(plan.capacity * per_item)
        files_back = self._log_files()
        self.proxy.restore()
        back = time.time()
        say(f"[catch-up {plan.catch_up}] engine back, {plan.capacity} records/s ({per_item:.0f} B each)")
        drained = self._drain(back)
        f.rotations_in_catch_up = len(self._log_files() - files_back)
        self._stop_writer()
        f.written = self.writes.written
        wait_until(
            lambda: self.indexed.first_missing() >= f.written, 600, what="every record written to be indexed"
        )
        last = max(self.indexed.times.get(s) for s in range(f.written))
        f.total_s = last - back
        self.ship.wait_settled(120)
        f.metrics = self.ship.metrics()
        code = self.ship.stop()
        assert code == 0, f"logship exited with {code} on SIGTERM:\n{self.ship.log_tail()}"
        wait_until(lambda: self.poller.all_counted(f.written), 60, what="every record searchable")
        f.drain_s = drained - back
        f.before_outage = self._latencies(steady_from, cut - 2.0)[1]
        f.indexed, f.searchable = self._latencies(back, drained)
        f.live = len(f.searchable)
        f.twice = list(self.indexed.twice)
        f.proxy = self.proxy.stats()
        self._check_engine()
        return f

    def _start_writer(self) -> None:
        plan = self.plan
        self.writer = subprocess.Popen(
            [
                sys.executable,
                str(WORKLOAD),
                "--dir",
                str(self.logs),
                "--records",
                str(plan.rate * 3600),
                "--rate",
                str(plan.rate),
                "--max-bytes",
                str(plan.max_bytes),
                "--backup-count",
                "10000",  # the application's rotation deletes nothing of the backlog
                "--times",
                str(self.writes.path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _stop_writer(self) -> None:
        assert self.writer is not None
        self.writer.terminate()
        _, err = self.writer.communicate(timeout=60)
        assert self.writer.returncode == 0, err.decode()
        self.writes.update()

    def _caught_up(self) -> bool:
        """The oldest record not indexed yet was written less than 3 s ago."""
        self.writes.update()
        written_at = self.writes.times.get(self.indexed.first_missing())
        return self.writes.written > 0 and (not written_at or written_at > time.time() - 3.0)

    def _log_files(self) -> set[str]:
        return {p.name for p in self.logs.iterdir()}

    def _drain(self, back: float) -> float:
        """Wait until every record written before ``back`` is indexed, killing logship as planned;
        return when."""
        kills = [back + s for s in self.plan.kills_after_s]
        deadline = back + self.plan.drain_deadline_s
        while time.time() < deadline:
            self.writes.update()
            written_at = self.writes.times.get(self.indexed.first_missing())
            if not written_at or written_at >= back:
                if kills:
                    raise AssertionError(
                        f"the backlog drained {time.time() - back:.0f} s after the engine came back, "
                        f"before the kill planned {kills[0] - back:.0f} s after it"
                    )
                return time.time()
            if kills and time.time() >= kills[0]:
                kills.pop(0)
                self.ship.kill()
                self.figures.kills += 1
                self.ship.start()
            time.sleep(0.2)
        raise AssertionError(
            f"the backlog did not drain within {self.plan.drain_deadline_s:.0f} s:\n{self.ship.log_tail()}"
        )

    def _latencies(self, since: float, until: float) -> tuple[list[float], list[float]]:
        """Write->indexed and write->searchable of the records written within [since, until]; the
        latter's medians per 10 s of writing go to the figures' timeline."""
        indexed, searchable = [], []
        windows: dict[int, list[float]] = {}
        at = self.writes.times.at
        for seq in range(self.writes.written):
            written_at = at[seq]
            if since <= written_at <= until:
                done = self.indexed.times.get(seq)
                indexed.append(done - written_at)
                searchable.append(self.poller.searchable_at(done, self.writes.written) - written_at)
                windows.setdefault(int((written_at - since) // 10), []).append(searchable[-1])
        self.figures.timeline = [
            (10 * w, statistics.median(xs), max(xs)) for w, xs in sorted(windows.items())
        ]
        return indexed, searchable

    def _check_engine(self) -> None:
        """Count the documents per seq in the engine itself: each written seq once."""
        counts = engine_seqs(self.engine_url, self.pattern)
        f = self.figures
        f.in_engine = sum(counts.values())
        f.missing = [s for s in range(f.written) if s not in counts]
        f.twice = sorted(set(f.twice) | {s for s, n in counts.items() if n > 1})


def engine_seqs(url: str, pattern: str) -> dict[int, int]:
    """How many documents of the matching indices carry each seq (read with the scroll API)."""
    refresh(url, pattern)
    base = url.rstrip("/")
    query = {"size": 10_000, "sort": ["_doc"], "_source": ["message"]}
    answer = request("POST", f"{base}/{urllib.parse.quote(pattern, safe=',*')}/_search?scroll=2m", query)
    counts: dict[int, int] = {}
    scroll_id = None
    try:
        while True:
            assert answer.status == 200, answer.body[:500]
            page = orjson.loads(answer.body)
            scroll_id = page.get("_scroll_id", scroll_id)
            hits = page["hits"]["hits"]
            if not hits:
                return counts
            for hit in hits:
                match = SEQ.search(hit["_source"].get("message", "").encode())
                seq = int(match.group(1)) if match else -1
                counts[seq] = counts.get(seq, 0) + 1
            answer = request("POST", f"{base}/_search/scroll", {"scroll": "2m", "scroll_id": scroll_id})
    finally:
        if scroll_id:
            request("DELETE", f"{base}/_search/scroll", {"scroll_id": [scroll_id]})
