"""Live-first catch-up (issue 22) into the real engine: fresh records first after an outage, every
record once.

The application writes 5,000 records/s through the real logging module; `logship run` ships through
a fault proxy that cuts the engine off (connections refused, open ones reset), then lets it back
slowed down, so that the backlog takes over a minute to drain while the application writes on.
What is measured and how: tests/support/catchup.py. Each test prints its figures; the comparison
with ``catch_up = "in-order"`` is bench/catch_up_bench.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine_fixture import SearchNode, delete_index_templates, delete_indices, unique_prefix
from support.catchup import Figures, Plan, quantile
from support.catchup_scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.chaos]


def run(plan: Plan, engine: SearchNode, work: Path, name: str) -> Figures:
    prefix = unique_prefix(name)
    try:
        with Scenario(plan, engine.url, work, prefix) as scenario:
            figures = scenario.run()
        print("\n" + figures.line(), flush=True)
        return figures
    finally:
        delete_indices(engine.url, f"{prefix}-*")
        delete_index_templates(engine.url, f"{prefix}-*")


def assert_exactly_once(f: Figures) -> None:
    assert not f.missing, f"{len(f.missing)} records lost, e.g. seq {f.missing[:10]}"
    assert not f.twice, f"{len(f.twice)} records stored twice, e.g. seq {f.twice[:10]}"
    assert f.in_engine == f.written, f"{f.in_engine} documents for {f.written} records"
    lost = f.metrics.get("logship_lost_bytes_total", 0.0)
    assert lost == 0, f"logship counted {lost:.0f} bytes lost"


def test_records_written_after_an_outage_are_searchable_first(
    search_engine: SearchNode, tmp_path: Path
) -> None:
    # 60 s cut off at 5,000 records/s: a backlog of 300,000; then 8,000 records/s get through, so
    # that it drains in over a minute whichever the order. The index refreshes every second (the
    # engine's own default): logship's 5 s adds 2.5 s to the median by itself, with or without a
    # backlog (bench/catch_up_bench.py measures with it).
    plan = Plan(
        catch_up="live-first",
        outage_s=60.0,
        capacity=8_000,
        overrides={"index": {"refresh_interval_seconds": 1.0}},
    )
    f = run(plan, search_engine, tmp_path, "catchup-live")
    assert f.drain_s > 60, f"the backlog drained in {f.drain_s:.0f} s: no catch-up to speak of"
    median, p99 = quantile(f.searchable, 0.5), quantile(f.searchable, 0.99)
    # The targets: 5 s median, 15 s p99 (about 2 s and 5 s here; 25 s and 65 s in order).
    assert median <= 5.0 and p99 <= 15.0, (
        f"records written while the backlog drained became searchable after a median of {median:.1f} s "
        f"and a p99 of {p99:.1f} s (targets: 5 s and 15 s)"
    )
    assert_exactly_once(f)


def test_kill_9_twice_and_a_rotation_during_catch_up(search_engine: SearchNode, tmp_path: Path) -> None:
    # A shorter outage (100,000 records, past the 10 s of writing that starts a catch-up), a slower
    # drain, logship killed 5 s and 20 s into it, and the live file rotated every 4 MB (3 s or so).
    plan = Plan(outage_s=20.0, capacity=7_000, max_bytes=4 * 1024 * 1024, kills_after_s=(5.0, 20.0))
    f = run(plan, search_engine, tmp_path, "catchup-crash")
    assert f.kills == 2
    assert f.rotations_in_catch_up >= 1, "the live file did not rotate while the backlog drained"
    assert_exactly_once(f)
