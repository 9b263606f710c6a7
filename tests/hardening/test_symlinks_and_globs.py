"""Discovery stays inside the configured globs: links are not followed out, `*` does not cross `/`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from logship.sources.tail.discovery import Candidate, Discovery, open_candidate

from engine_fixture import count, delete_indices, search_all
from support.harness import Logship, free_port, toml_config, wait_until

LINE = '{"timestamp": "2026-11-26 10:00:00", "level": "INFO", "message": "%s"}\n'


def names(discovery: Discovery) -> set[str]:
    return {os.path.basename(c.path) for c in discovery.scan()}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text(LINE % "app")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "shadow").write_text("root:$6$hash:19000:0:99999:7:::\n")
    (logs / "x.log").symlink_to(secret / "shadow")
    return tmp_path


def test_a_link_out_of_the_log_directory_is_not_followed(
    tree: Path, caplog: pytest.LogCaptureFixture
) -> None:
    discovery = Discovery([f"{tree}/logs/*.log"], [], set())
    with caplog.at_level(logging.WARNING):
        assert names(discovery) == {"app.log"}
        assert names(discovery) == {"app.log"}
    refused = [r for r in caplog.records if "symbolic link" in r.getMessage()]
    assert len(refused) == 1  # reported once, not at every scan
    assert "follow_symlinks_within" in str(refused[0].__dict__)


def test_a_link_into_an_allowed_root_is_followed_to_its_target(tree: Path) -> None:
    (tree / "logs" / "x.log").unlink()
    archive = tree / "archive"
    archive.mkdir()
    (archive / "old.log").write_text(LINE % "old")
    (tree / "logs" / "old.log").symlink_to(archive / "old.log")
    (tree / "logs" / "x.log").symlink_to(tree / "secret" / "shadow")
    discovery = Discovery([f"{tree}/logs/*.log"], [], set(), [str(archive)])
    found = {os.path.basename(c.path): c for c in discovery.scan()}
    assert set(found) == {"app.log", "old.log"}
    old = found["old.log"]
    assert old.open_path == str(archive / "old.log") and old.ino == (archive / "old.log").stat().st_ino


def test_a_link_whose_target_only_looks_inside_is_refused(tree: Path) -> None:
    # logs/allowed/../../secret/shadow resolves outside the allowed root
    (tree / "logs" / "allowed").mkdir()
    (tree / "logs" / "x.log").unlink()
    (tree / "logs" / "x.log").symlink_to(tree / "logs" / "allowed" / ".." / ".." / "secret" / "shadow")
    discovery = Discovery([f"{tree}/logs/*.log"], [], set(), [str(tree / "logs" / "allowed")])
    assert names(discovery) == {"app.log"}


def test_a_linked_directory_matched_by_a_wildcard_is_not_entered(tree: Path) -> None:
    (tree / "logs" / "x.log").unlink()
    (tree / "logs" / "svc").mkdir()
    (tree / "logs" / "svc" / "a.log").write_text(LINE % "a")
    (tree / "logs" / "evil").symlink_to(tree / "secret")
    (tree / "secret" / "b.log").write_text(LINE % "b")
    discovery = Discovery([f"{tree}/logs/*/*.log"], [], set())
    assert names(discovery) == {"a.log"}


def test_a_written_out_directory_may_be_a_link(tree: Path) -> None:
    (tree / "current").symlink_to(tree / "logs")
    (tree / "logs" / "x.log").unlink()
    assert names(Discovery([f"{tree}/current/*.log"], [], set())) == {"app.log"}


def test_star_does_not_cross_a_slash(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.log").write_text(LINE % "a")
    (tmp_path / "sub" / "b.log").write_text(LINE % "b")
    (tmp_path / "sub" / "c.txt").write_text(LINE % "c")
    # The second glob lists sub/; `*.log` of the first must not match sub/b.log through fnmatch's `*`.
    discovery = Discovery([f"{tmp_path}/*.log", f"{tmp_path}/sub/*.txt"], [], set())
    assert names(discovery) == {"a.log", "c.txt"}


def test_exclude_matches_per_component_and_by_name(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("a.log", "b.log", "sub/a.log", "sub/skip.log"):
        (tmp_path / name).write_text(LINE % name)
    discovery = Discovery(
        [f"{tmp_path}/*.log", f"{tmp_path}/sub/*.log"], [f"{tmp_path}/*/a.log", "skip.*"], set()
    )
    assert sorted(os.path.relpath(c.path, tmp_path) for c in discovery.scan()) == ["a.log", "b.log"]


def test_opening_does_not_follow_a_link_swapped_in_after_the_scan(tree: Path) -> None:
    (tree / "logs" / "x.log").unlink()
    (candidate,) = Discovery([f"{tree}/logs/app.log"], [], set()).scan()
    os.replace(tree / "logs" / "app.log", tree / "logs" / "app.log.1")
    (tree / "logs" / "app.log").symlink_to(tree / "secret" / "shadow")
    assert open_candidate(candidate) == -1


def test_opening_a_fifo_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.log")
    st = os.stat(tmp_path / "pipe.log")
    assert open_candidate(Candidate(str(tmp_path / "pipe.log"), st.st_dev, st.st_ino, 0, 0.0, True)) == -1


@pytest.mark.integration
def test_run_ships_the_log_and_not_the_linked_secret(search_engine: Any, tmp_path: Path) -> None:
    url = search_engine.url
    delete_indices(url, "it-links-*")
    logs = tmp_path / "logs"
    logs.mkdir()
    secret = tmp_path / "etc"
    secret.mkdir()
    (secret / "shadow").write_text(LINE % "SECRET")
    (logs / "x.log").symlink_to(secret / "shadow")
    (logs / "app.log").write_text(LINE % "app")
    port = free_port()
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=url,
        http_port=port,
        index_prefix="it-links",
    )
    proc = Logship(cfg, port, tmp_path / "logship.log").start()
    try:
        wait_until(lambda: count(url, "it-links-*") >= 1, 20, interval=0.2, what="app.log's record")
        proc.wait_settled()  # what it should not follow would be in flight or in the engine now
    finally:
        assert proc.stop() == 0, proc.log_tail()
    assert [d["message"] for d in search_all(url, "it-links-*")] == ["app"]
