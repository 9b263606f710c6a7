"""Tail behaviours against the real engine: new files, the last traceback, read_from = "tail".

Each test ships under its own index prefix (the ``index_prefix`` fixture); the fixed timestamp
of LINE only names the daily index under it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine_fixture import count, free_port, search_all
from support.harness import Logship, toml_config, wait_until, write_logs

pytestmark = pytest.mark.integration

LINE = (
    '{"timestamp": "2026-11-26 10:00:00", "level": "ERROR", "logger": "aichat", "message": "seq=%d boom"}\n'
)
TRACE = 'Traceback (most recent call last):\n  File "app.py", line 3, in f\nValueError: boom\n'


def start(tmp_path: Path, url: str, prefix: str, env: dict[str, str] | None = None) -> tuple[Logship, Path]:
    logs = tmp_path / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=port,
        index_prefix=prefix,
    )
    return Logship(cfg, port, tmp_path / "logship.log", env=env or {}).start(), logs


def test_new_file_is_picked_up_and_its_last_traceback_flushed(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url, mine = search_engine.url, f"{index_prefix}-*"
    proc, logs = start(tmp_path, url, index_prefix)
    try:
        time.sleep(1)
        written = time.monotonic()
        (logs / "worker.log").write_text(LINE % 1 + LINE % 2 + TRACE)  # the last record ends with a traceback
        wait_until(lambda: count(url, mine) >= 2, 15, interval=0.2, what="the new file's records")
        print(
            f"[new-file] both records indexed {time.monotonic() - written:.2f} s after the file was written"
        )
    finally:
        assert proc.stop() == 0, proc.log_tail()
    docs = sorted(search_all(url, mine), key=lambda d: d["log.offset"])
    assert [d["message"] for d in docs] == ["seq=1 boom", "seq=2 boom"]
    assert "error.stack_trace" not in docs[0]
    assert docs[1]["error.stack_trace"] == TRACE.rstrip("\n")


def test_read_from_tail_skips_what_was_there_before_the_first_start(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    url, mine = search_engine.url, f"{index_prefix}-*"
    write_logs(tmp_path / "logs", 500)
    proc, logs = start(tmp_path, url, index_prefix, env={"LOGSHIP_TAIL__READ_FROM": "tail"})
    try:
        wait_until(lambda: proc.metric("logship_files_tracked") >= 1, 30, interval=0.1, what="the first scan")
        write_logs(logs, 300, start_seq=500)
        wait_until(lambda: count(url, mine) >= 300, 30, what="the records written after the start")
        proc.wait_settled()
    finally:
        assert proc.stop() == 0, proc.log_tail()
    seqs = sorted(int(d["message"].split()[0][4:]) for d in search_all(url, mine))
    assert seqs == list(range(500, 800))


def test_truncation_restarts_the_file_at_zero(search_engine: Any, index_prefix: str, tmp_path: Path) -> None:
    url, mine = search_engine.url, f"{index_prefix}-*"
    proc, logs = start(tmp_path, url, index_prefix)
    try:
        app = logs / "app.log"
        app.write_text("".join(LINE % i for i in range(100)))
        wait_until(lambda: count(url, mine) >= 100, 30, what="the first 100 records")
        with app.open("w") as f:  # truncate in place, as `> app.log` does
            f.write("".join(LINE % i for i in range(100, 150)))
        wait_until(lambda: count(url, mine) >= 150, 30, what="the records after the truncation")
        proc.wait_settled()
        lost = proc.metric("logship_lost_bytes_total")
    finally:
        assert proc.stop() == 0, proc.log_tail()
    seqs = sorted(int(d["message"].split()[0][4:]) for d in search_all(url, mine))
    assert seqs == list(range(150)) and lost == 0
