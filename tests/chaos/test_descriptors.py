"""Running short of file descriptors during an engine outage is never silent.

The outage: every bulk request answered 503 (the fault proxy), so logship holds the files it
follows open while the application rotates fast. With a low RLIMIT_NOFILE (set, soft and hard,
in the child before exec, so that logship cannot raise it back), the files it cannot open are
retried at every tick, make /health/detailed fail, and those rotation deletes first are counted
in `logship_lost_bytes_total` with an ERROR line naming each. With the usual limit nothing is lost.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support.faultproxy import FaultProxy
from support.harness import check_documents, wait_until, write_logs
from support.rig import MakeRig, Rig

TOTAL = 30_000


def outage_with_fast_rotation(s: Rig, proxy: FaultProxy, *, files_failing: bool) -> dict[str, Any]:
    """Write TOTAL records rotated every 200 KB (3 backups: each file lives seconds, many ticks)
    while the engine refuses everything; with ``files_failing``, wait until /health/detailed says
    files cannot be opened. Return what /health/detailed and the metrics said during the outage."""
    proxy.burst(503, 10**7)
    s.start()
    write_logs(s.logs, TOTAL, rate=500, max_bytes=200_000, backup_count=3)
    if files_failing:
        wait_until(
            lambda: json.loads(s.ship.get("/health/detailed").body)["checks"]["files"]["status"] == "fail",
            30,
            interval=0.2,
            what="the files check to fail",
        )
    health = s.ship.get("/health/detailed")
    metrics = s.ship.metrics()
    proxy.clear_bursts()
    return {"status": health.status, "body": json.loads(health.body), "metrics": metrics}


def settle(s: Rig) -> dict[str, float]:
    """Wait until nothing is in flight, no file waits to be opened and the lag is 0; stop."""
    s.ship.wait_settled(120)
    metrics = s.ship.metrics()
    s.stop()
    return metrics


@pytest.mark.chaos
def test_short_of_descriptors_every_record_is_shipped_or_counted_as_lost(
    make_rig: MakeRig, search_engine: Any
) -> None:
    with FaultProxy(upstream=search_engine.url) as proxy:
        s = make_rig("fd-short", es_url=proxy.url, overrides={"http": {"engine_timeout_seconds": 60.0}})
        s.ship.nofile = 48
        during = outage_with_fast_rotation(s, proxy, files_failing=True)
        after = settle(s)
    result = check_documents(s.documents(), range(TOTAL))
    lost = after["logship_lost_bytes_total"]
    failures = after['logship_file_open_failures_total{reason="descriptors"}']
    said = [r for r in s.errors() if r.get("message") == "File deleted before it could be opened; data lost"]
    print(
        f"\n[{s.name}] nofile=48: found={result.found} missing={len(result.missing)} "
        f"duplicates={len(result.duplicates)} lost_bytes={lost:.0f} open_failures={failures:.0f} "
        f"not_opened_during_outage={during['metrics'].get('logship_files_not_opened', 0):.0f} "
        f"health_during={during['status']} {during['body']['checks']['files']}"
    )
    # Short of descriptors, and it says so: failures counted, health failing, files in the lag.
    assert failures > 0
    assert during["status"] == 503 and during["body"]["checks"]["files"]["status"] == "fail"
    assert not result.duplicates and not result.malformed
    # Nothing silently skipped: records missing exactly when bytes are counted as lost, each
    # lost file named in an ERROR line whose bytes add up to the counter.
    assert bool(result.missing) == (lost > 0)
    assert sum(r["lost_bytes"] for r in said) == lost
    assert all(r.get("file") for r in said)
    # and they add up: no record is shorter than 100 bytes or longer than 4 KB
    assert 100 * len(result.missing) <= lost <= 4096 * len(result.missing)


@pytest.mark.chaos
def test_with_the_limit_raised_the_same_outage_loses_nothing(make_rig: MakeRig, search_engine: Any) -> None:
    with FaultProxy(upstream=search_engine.url) as proxy:
        s = make_rig("fd-enough", es_url=proxy.url, overrides={"http": {"engine_timeout_seconds": 60.0}})
        during = outage_with_fast_rotation(s, proxy, files_failing=False)
        after = settle(s)
    result = check_documents(s.documents(), range(TOTAL))
    print(
        f"\n[{s.name}] usual limit: found={result.found} missing={len(result.missing)} "
        f"lost_bytes={after['logship_lost_bytes_total']:.0f} health_during={during['status']}"
    )
    result.assert_exactly_once()
    assert after["logship_lost_bytes_total"] == 0
    assert sum(v for k, v in after.items() if k.startswith("logship_file_open_failures_total")) == 0
