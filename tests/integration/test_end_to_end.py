"""The end-to-end path against the real engine: workload -> `logship run` -> <prefix>-YYYY.MM.DD.

Each test ships under its own index prefix (the ``index_prefix`` fixture) and reads back only that.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine_fixture import count, free_port, http_json, search_all
from support.harness import Logship, check_documents, toml_config, wait_until, write_logs

pytestmark = [pytest.mark.integration, pytest.mark.opensearch]


def test_workload_lands_in_daily_indices_exactly_once(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url = search_engine.url
    mine = f"{index_prefix}-*"
    logs, state = tmp_path / "logs", tmp_path / "state"
    port = free_port()
    cfg = toml_config(
        tmp_path / "c.toml", logs=logs, state=state, es_url=url, http_port=port, index_prefix=index_prefix
    )
    started = time.monotonic()
    proc = Logship(cfg, port, tmp_path / "logship.log").start()
    try:
        write_logs(
            logs,
            20_000,
            rate=10_000,
            max_bytes=1_000_000,
            backup_count=10,
            traceback_every=250,
            quote_every=100,
        )
        wait_until(lambda: count(url, mine) >= 20_000, 120, what="20,000 documents")
        proc.wait_settled()  # anything extra would be in the engine now
        metrics = proc.metrics()
        health = proc.get("/health/detailed")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    docs = search_all(url, mine)
    delivery = check_documents(docs, range(20_000))
    print(delivery.report("end-to-end", time.monotonic() - started))
    delivery.assert_exactly_once()

    assert metrics['logship_records_total{outcome="indexed"}'] == 20_000
    lines = sum(v for k, v in metrics.items() if k.startswith("logship_read_lines_total"))
    traceback_lines = 4 * (20_000 // 250)  # "Traceback ...", "File ...", the raise line, the error
    assert lines == 20_000 + traceback_lines
    quoted = sum(1 for seq in range(20_000) if seq % 100 == 99 and seq % 250 != 249)
    assert metrics['logship_parse_failures_total{reason="recovered_by_pattern"}'] == quoted
    assert metrics['logship_records_total{outcome="dead_lettered"}'] == 0
    assert health.status == 200 and json.loads(health.body)["status"] == "healthy"
    for d in docs:
        src = d
        assert re.fullmatch(re.escape(index_prefix) + r"-\d{4}\.\d{2}\.\d{2}", d["_index"])
        assert d["_index"] == f"{index_prefix}-" + src["@timestamp"][:10].replace("-", ".")
        assert (src["hostname"], src["environment"], src["service"]) == (
            "test-host",
            "test",
            "aichat-backend",
        )
    traces = [d for d in docs if "error.stack_trace" in d]
    assert len(traces) == 20_000 // 250 and all("Traceback" in t["error.stack_trace"] for t in traces)
    recovered = [d for d in docs if "recovered_by_pattern" in d.get("tags", [])]
    assert recovered and all('"' in r["message"] for r in recovered)

    index = docs[0]["_index"]
    status, answer = http_json("GET", f"{url}/{index}/_mapping", timeout=30)
    assert status == 200, answer
    mapping = answer[index]["mappings"]["properties"]
    assert mapping["@timestamp"]["type"] == "date"


def test_replay_of_a_shipped_file_adds_nothing(search_engine: Any, index_prefix: str, tmp_path: Path) -> None:
    url = search_engine.url
    prefix = index_prefix
    logs = tmp_path / "logs"
    write_logs(logs, 3_000, traceback_every=100)
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=free_port(),
        index_prefix=prefix,
    )

    def replay() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "logship", "replay", str(logs / "app.log"), "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=300,
        )

    first = replay()
    assert first.returncode == 0, first.stderr
    assert "indexed: 3000" in first.stdout
    second = replay()
    assert second.returncode == 0, second.stderr
    assert "indexed: 0, already present: 3000" in second.stdout
    delivery = check_documents(search_all(url, f"{prefix}-*"), range(3_000))
    delivery.assert_exactly_once()


def test_gzip_bodies_are_accepted(search_engine: Any, index_prefix: str, tmp_path: Path) -> None:
    url = search_engine.url
    prefix = index_prefix
    logs = tmp_path / "logs"
    write_logs(logs, 2_000)
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=free_port(),
        index_prefix=prefix,
    )
    result = subprocess.run(
        [sys.executable, "-m", "logship", "replay", str(logs / "app.log"), "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LOGSHIP_ELASTICSEARCH__GZIP": "true"},
    )
    assert result.returncode == 0, result.stderr
    assert "indexed: 2000" in result.stdout
    check_documents(search_all(url, f"{prefix}-*"), range(2_000)).assert_exactly_once()


def test_items_the_engine_has_no_index_for_wait_for_it(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    """The engine may not create the test's indices (`action.auto_create_index`), so it answers
    every item 404, no such index, as a cluster also does for a moment while it recovers its state.
    The records stay in the pipeline, none is dead-lettered; once the engine may create the index,
    every record lands exactly once."""
    url = search_engine.url
    mine = f"{index_prefix}-*"
    logs, state = tmp_path / "logs", tmp_path / "state"
    port = free_port()
    cfg = toml_config(
        tmp_path / "c.toml", logs=logs, state=state, es_url=url, http_port=port, index_prefix=index_prefix
    )
    forbid = {"persistent": {"action.auto_create_index": f"-{mine},+*"}}
    status, answer = http_json("PUT", f"{url}/_cluster/settings", forbid)
    assert status == 200, answer
    allowed = False
    proc = Logship(cfg, port, tmp_path / "logship.log").start()
    try:
        write_logs(logs, 500)
        retried = 'logship_retries_total{reason="item_4xx"}'
        wait_until(lambda: proc.metric(retried) >= 1000, 60, what="every item refused twice")
        assert count(url, mine) == 0
        assert proc.metric('logship_records_total{outcome="dead_lettered"}') == 0
        assert not (state / "dead-letter.ndjson").exists()
        status, answer = http_json(
            "PUT", f"{url}/_cluster/settings", {"persistent": {"action.auto_create_index": None}}
        )
        assert status == 200, answer
        allowed = True
        wait_until(lambda: count(url, mine) >= 500, 60, what="500 documents once the index may be created")
        assert proc.metric('logship_records_total{outcome="indexed"}') == 500
    finally:
        if not allowed:
            http_json("PUT", f"{url}/_cluster/settings", {"persistent": {"action.auto_create_index": None}})
        assert proc.stop() == 0, proc.log_tail()
    check_documents(search_all(url, mine), range(500)).assert_exactly_once()
    assert "index_not_found_exception" in proc.log_path.read_text()
