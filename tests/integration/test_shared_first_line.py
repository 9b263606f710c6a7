"""Files that share their first line (a banner written by several processes in the same second)
are distinct files: every record of every one of them is indexed once, into the real engine.

Before identities could be told apart, the second file's ids were those of the first: the engine
answered 409 to each of its records and logship counted them as already present.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engine_fixture import count, free_port, search_all
from support.harness import Logship, toml_config, wait_until

pytestmark = pytest.mark.integration

BANNER = (
    '{"timestamp": "2026-12-02 10:00:00", "level": "INFO", "logger": "aichat", '
    '"message": "Starting worker", "pid": 1}\n'
)
LINE = '{"timestamp": "2026-12-02 10:00:%02d", "level": "INFO", "logger": "aichat", "message": "%s seq=%d"}\n'


def records(name: str, first: int, n: int) -> str:
    # Lengths vary with the name: offsets coincide between files only by chance, as in practice.
    return "".join(LINE % (i % 60, name, i) for i in range(first, first + n))


def run_files(tmp_path: Path, url: str, prefix: str, paths: list[Path], patterns: tuple[str, ...]) -> None:
    """Write the banner and 200 records to each file, start logship, append 300 more to each."""
    logs = tmp_path / "logs"
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(BANNER + records(path.stem, 0, 200))
    port = free_port()
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=port,
        index_prefix=prefix,
        patterns=patterns,
    )
    proc = Logship(cfg, port, tmp_path / "logship.log").start()
    expected = len(paths) * 501
    try:
        for path in paths:
            with path.open("a") as f:
                f.write(records(path.stem, 200, 300))
        wait_until(lambda: count(url, f"{prefix}-*") >= expected, 60, what="every record of every file")
        proc.wait_settled()  # anything extra (a duplicate) would be in the engine now
        already = proc.metric('logship_records_total{outcome="already_present"}')
        new_identity = proc.metric('logship_identity_collisions_total{resolution="new_identity"}')
    finally:
        assert proc.stop() == 0, proc.log_tail()
    docs = search_all(url, f"{prefix}-*")
    seen = Counter((d["log.file.path"], d["message"]) for d in docs)
    want = Counter(
        [(str(p), "Starting worker") for p in paths]
        + [(str(p), f"{p.stem} seq={i}") for p in paths for i in range(500)]
    )
    assert seen == want  # every record of every file, once
    assert already == 0
    assert new_identity == len(paths) - 1  # the first file keeps its first-line identity


def test_two_files_with_the_same_first_line_in_one_directory(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    run_files(tmp_path, search_engine.url, index_prefix, [logs / "api.log", logs / "worker.log"], ("*.log",))


def test_ten_files_with_the_same_first_line_in_one_directory(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    paths = [logs / f"worker-{n}.log" for n in range(10)]
    run_files(tmp_path, search_engine.url, index_prefix, paths, ("*.log",))


def test_two_files_with_the_same_first_line_in_two_directories(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    paths = [logs / "api" / "app.log", logs / "worker" / "app.log"]
    run_files(tmp_path, search_engine.url, index_prefix, paths, ("api/*.log", "worker/*.log"))


def test_ten_files_with_the_same_first_line_in_two_directories(
    search_engine: Any, index_prefix: str, tmp_path: Path
) -> None:
    logs = tmp_path / "logs"
    paths = [logs / d / f"w{n}.log" for d in ("a", "b") for n in range(5)]
    run_files(tmp_path, search_engine.url, index_prefix, paths, ("a/*.log", "b/*.log"))
