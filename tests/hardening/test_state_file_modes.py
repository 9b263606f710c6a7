"""State files (positions, their .prev/.tmp, the dead-letter file) are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sources.tail.positions import FilePosition, PositionStore

ITEM = b'{"create":{"_index":"aichat-2026.11.26","_id":"x"}}\n{"message":"m"}\n'


@pytest.fixture(params=[0o022, 0o000])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_position_store_files_get_the_mode(tmp_path: Path, umask: int, mode: int) -> None:
    store = PositionStore(tmp_path, mode)
    store.save([FilePosition("k", "/logs/app.log", 1, 2, 3, 4)], None)
    store.save([FilePosition("k", "/logs/app.log", 1, 2, 5, 6)], None)
    assert mode_of(store.path) == mode
    assert mode_of(store.previous) == mode


def test_a_leftover_world_readable_tmp_file_is_not_reused_as_is(tmp_path: Path, umask: int) -> None:
    store = PositionStore(tmp_path)
    tmp = tmp_path / "positions.json.tmp"
    tmp.write_bytes(b"")
    tmp.chmod(0o666)
    store.save([], None)
    assert mode_of(store.path) == 0o600


@pytest.mark.parametrize("mode", [0o600, 0o640])
def test_dead_letter_file_gets_the_mode(tmp_path: Path, umask: int, mode: int) -> None:
    path = tmp_path / "dl" / "dead-letter.ndjson"
    DeadLetterFile(path, mode).write([DeadLetter(ITEM, 400, "mapping")])
    assert mode_of(path) == mode


def test_an_existing_world_readable_dead_letter_file_is_made_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "dead-letter.ndjson"
    path.write_bytes(b"")
    path.chmod(0o644)
    DeadLetterFile(path).write([DeadLetter(ITEM, 400, "mapping")])
    assert mode_of(path) == 0o600
