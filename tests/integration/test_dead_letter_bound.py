"""The bounded dead-letter file against a real engine that refuses every record with 400.

The refusal is a real mapping conflict: an index template maps `level` as an integer, and every
record carries "INFO" or "ERROR" there. With `dead_letter.max_bytes` small, the bound is reached:
nothing is lost, reading pauses (positions stay behind), the metric and /health/detailed say so;
a restart with a larger bound, or fixing the mapping and replaying the dead-letter files, resumes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship import deadletter_files

from engine_fixture import count, delete_indices, free_port, http_json, search_all
from support.harness import SEQ, Logship, check_documents, toml_config, wait_until, write_logs

pytestmark = [pytest.mark.integration]

RECORDS = 6000
BOUND = 256 * 1024


def refuse_every_record(url: str, prefix: str) -> None:
    status, body = http_json(
        "PUT",
        f"{url}/_index_template/{prefix}-conflict",
        {
            "index_patterns": [f"{prefix}-*"],
            "priority": 500,
            "template": {"mappings": {"properties": {"level": {"type": "integer"}}}},
        },
    )
    assert status == 200, body


def fix_the_mapping(url: str, prefix: str) -> None:
    status, body = http_json("DELETE", f"{url}/_index_template/{prefix}-conflict")
    assert status == 200, body
    assert delete_indices(url, f"{prefix}-*")  # the index made with the conflicting mapping


def dead_letter_seqs(path: Path) -> list[int]:
    seqs = []
    for p in deadletter_files.existing(path):
        for line in p.read_bytes().splitlines():
            match = SEQ.search(orjson.loads(line)["document"]["message"])
            assert match, line[:200]
            seqs.append(int(match.group(1)))
    return seqs


def replay_dead_letters(cfg: Path, dead: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logship", "replay", "--dead-letter", "--config", str(cfg), str(dead)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def committed(positions: Path) -> int:
    if not positions.exists():
        return 0
    return sum(int(f["offset"]) for f in orjson.loads(positions.read_bytes())["files"])


def config(tmp_path: Path, url: str, prefix: str, port: int, bound: int) -> Path:
    return toml_config(
        tmp_path / "c.toml",
        logs=tmp_path / "logs",
        state=tmp_path / "state",
        es_url=url,
        http_port=port,
        index_prefix=prefix,
        overrides={
            "dead_letter": {"max_bytes": bound, "max_files": 4},
            "delivery": {"max_inflight_bytes": 1024 * 1024},
            "batch": {"max_documents": 200},
            "pipeline": {"drain_timeout_seconds": 3.0},
        },
    )


def wait_full(ship: Logship, positions: Path, log_bytes: int) -> dict[str, Any]:
    wait_until(lambda: ship.metric("logship_dead_letter_full") == 1, 120, what="the dead-letter bound")
    health = ship.get("/health/detailed")
    assert health.status == 503
    check = orjson.loads(health.body)["checks"]["dead_letter"]
    assert check["status"] == "fail" and check["detail"].startswith("full: "), check
    assert "`dead_letter.max_bytes`" in check["detail"]
    metrics = ship.metrics()
    assert metrics["logship_dead_letter_bytes"] <= BOUND
    assert committed(positions) < log_bytes  # the positions wait: reading paused, not skipped
    return metrics


def test_the_bound_pauses_reading_and_a_larger_bound_resumes_without_loss(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url = search_engine.url
    refuse_every_record(url, index_prefix)
    write_logs(tmp_path / "logs", RECORDS)
    log_bytes = (tmp_path / "logs" / "app.log").stat().st_size
    dead = tmp_path / "state" / "dead-letter.ndjson"
    positions = tmp_path / "state" / "positions" / "positions.json"
    port = free_port()
    ship = Logship(config(tmp_path, url, index_prefix, port, BOUND), port, tmp_path / "logship.log").start()
    try:
        wait_full(ship, positions, log_bytes)
        before = ship.metric('logship_read_lines_total{path="%s"}' % (tmp_path / "logs" / "app.log"))
        assert 0 < before < RECORDS, "reading must pause at the in-flight bound"
    finally:
        ship.stop()
    held = dead_letter_seqs(dead)
    assert len(held) == len(set(held)) and len(held) < RECORDS
    assert deadletter_files.total_bytes(dead) <= BOUND
    assert [p.name for p in deadletter_files.existing(dead)][-1] == dead.name

    port = free_port()
    ship = Logship(
        config(tmp_path, url, index_prefix, port, 64 << 20), port, tmp_path / "logship2.log"
    ).start()
    try:
        wait_until(lambda: committed(positions) == log_bytes, 120, what="every position committed")
        assert ship.metric("logship_dead_letter_full") == 0
        assert orjson.loads(ship.get("/health/detailed").body)["checks"]["dead_letter"]["status"] == "pass"
    finally:
        assert ship.stop() == 0, ship.log_tail()
    seqs = dead_letter_seqs(dead)
    assert sorted(seqs) == list(range(RECORDS)), "every record is in the dead-letter files, once"
    assert count(url, f"{index_prefix}-*") == 0


def test_replaying_the_dead_letter_files_after_a_fix_frees_the_bound_and_resumes(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url = search_engine.url
    mine = f"{index_prefix}-*"
    refuse_every_record(url, index_prefix)
    write_logs(tmp_path / "logs", RECORDS)
    log_bytes = (tmp_path / "logs" / "app.log").stat().st_size
    dead = tmp_path / "state" / "dead-letter.ndjson"
    positions = tmp_path / "state" / "positions" / "positions.json"
    port = free_port()
    cfg = config(tmp_path, url, index_prefix, port, BOUND)
    ship = Logship(cfg, port, tmp_path / "logship.log").start()
    try:
        wait_full(ship, positions, log_bytes)
        fix_the_mapping(url, index_prefix)
        # What was refused before the fix and still waits (up to the in-flight bound, more than
        # the dead-letter bound here) fills the files again: the operator replays until it is gone.
        for _ in range(10):
            replay = replay_dead_letters(cfg, dead)
            assert replay.returncode == 0, replay.stdout + replay.stderr
            assert "dead-lettered: 0, not delivered: 0" in replay.stdout
            try:
                wait_until(lambda: committed(positions) == log_bytes, 20, what="logship to resume")
                break
            except AssertionError:
                assert ship.metric("logship_dead_letter_full") == 1
        assert committed(positions) == log_bytes
        wait_until(lambda: ship.metric("logship_dead_letter_full") == 0, 30, what="room again")
    finally:
        assert ship.stop() == 0, ship.log_tail()
    # What waited when the mapping was fixed went to the dead-letter file (it had been refused);
    # everything else is in the engine. Nothing is lost, nothing is in both.
    waiting = dead_letter_seqs(dead)
    docs = search_all(url, mine)
    indexed = check_documents(docs, sorted(set(range(RECORDS)) - set(waiting)))
    indexed.assert_exactly_once()
    assert len(waiting) == len(set(waiting))
    # A last replay brings those in as well.
    final = replay_dead_letters(cfg, dead)
    assert final.returncode == 0, final.stdout + final.stderr
    assert deadletter_files.existing(dead) == []
    check_documents(search_all(url, mine), range(RECORDS)).assert_exactly_once()
    assert count(url, mine) == RECORDS


def test_a_second_replay_of_the_same_input_writes_no_document_twice(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url = search_engine.url
    refuse_every_record(url, index_prefix)
    write_logs(tmp_path / "logs", 2000)
    cfg = config(tmp_path, url, index_prefix, free_port(), 64 << 20)
    dead = tmp_path / "state" / "dead-letter.ndjson"
    sizes = []
    for _ in range(2):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "logship",
                "replay",
                "--config",
                str(cfg),
                str(tmp_path / "logs" / "app.log"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 1 and "dead-lettered: 2000" in result.stdout, (
            result.stdout + result.stderr
        )
        sizes.append(deadletter_files.total_bytes(dead))
    assert sizes[0] == sizes[1] > 0
    assert sorted(dead_letter_seqs(dead)) == list(range(2000))
