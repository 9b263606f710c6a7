"""Chaos: an interim answer (`100 Continue`) before every answer, with items refused by 429.

A client that takes the interim answer for the answer reads each request's answer as the next
one's: records counted as stored that never were, and positions committed past them. Through
``support.faultproxy`` in front of the real engine (the one stub allowed: a node does not refuse
items on demand), every record must arrive exactly once, and the positions written at the end must
be the ends of the files, reached only once everything before them was stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.faultproxy import FaultProxy
from support.harness import wait_until, write_logs
from support.rig import MakeRig, Rig

pytestmark = [pytest.mark.chaos, pytest.mark.opensearch]


def record_starts(path: Path) -> list[int]:
    """Byte offsets of the records of an application log (a traceback's lines continue a record)."""
    starts, offset = [], 0
    with path.open("rb") as f:
        for line in f:
            if line.startswith(b"{"):
                starts.append(offset)
            offset += len(line)
    return starts


def stored_offsets(rig: Rig, path: Path) -> set[int]:
    """The offsets of the records of ``path`` the engine holds (logship writes dotted keys)."""
    docs = rig.documents()
    return {int(d["log.offset"]) for d in docs if d.get("log.file.path") == str(path)}


def committed(rig: Rig, path: Path) -> int:
    """The position stored for ``path``, 0 before there is one."""
    try:
        files = json.loads(rig.positions.read_text())["files"]
    except (OSError, ValueError):
        return 0
    return next((int(e["offset"]) for e in files if e["path"] == str(path)), 0)


def test_interim_answers_with_refused_items_store_each_record_once(
    make_rig: MakeRig, search_engine: Any
) -> None:
    with FaultProxy(search_engine.url, item_reject_ratio=0.2, interim=True) as proxy:
        rig = make_rig("interim", es_url=proxy.url, overrides={"batch": {"max_documents": 200}})
        writer = write_logs(rig.logs, 6000, rate=1000, background=True)
        assert writer is not None
        try:
            log = rig.logs / "app.log"
            rig.start()
            wait_until(lambda: committed(rig, log) > 0, 120, what="a position past the first records")
            rig.ship.kill()  # SIGKILL: the positions are what was written last
            mid_run = writer.poll() is None
            position = committed(rig, log)
            stored = stored_offsets(rig, log)
            before = [o for o in record_starts(log) if o < position]
            missing = sum(o not in stored for o in before)
            print(
                f"position {position} (mid-run: {mid_run}): {len(before)} records before, {missing} missing"
            )
            assert before and missing == 0, f"{missing} records before the position are not in the engine"
            writer.communicate(timeout=120)
            rig.start()
            rig.finish(range(6000))
        finally:
            rig.kill_if_running()
            if writer.poll() is None:
                writer.kill()
            writer.communicate()
        stats = proxy.stats()
    assert stats["interim_answers"] == stats["requests"] > 0, stats
    assert stats["items_rejected"] > 0.1 * 6000, stats
