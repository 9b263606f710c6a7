"""The position store: atomic writes, damaged files reported and recovered from the previous store."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logship.errors import PositionsError
from logship.sources.tail.positions import FilePosition, PositionStore

from support.tmpfs import fill, tiny_tmpfs

A = FilePosition("k1", "/logs/app.log", 1, 2, 100, 200)
B = FilePosition("k2", "/logs/app.log.1", 1, 3, 50, 50)


def test_round_trip(tmp_path: Path) -> None:
    store = PositionStore(tmp_path)
    store.save([A, B], 123.5)
    state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A, "k2": B} and state.scanned_at == 123.5 and state.recovered_from is None
    assert not list(tmp_path.glob("*.tmp"))


def test_first_start_is_empty(tmp_path: Path) -> None:
    state = PositionStore(tmp_path / "new").load()
    assert state.files == {} and state.scanned_at is None and state.recovered_from is None


def test_torn_file_falls_back_to_the_previous_store(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = PositionStore(tmp_path)
    store.save([A], 1.0)
    store.save([A, B], 2.0)
    (tmp_path / "positions.json").write_bytes(b'{"version": 1, "files": [{"key": "k1", "pa')
    with caplog.at_level(logging.ERROR):
        state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A} and state.recovered_from is not None
    assert "positions.json" in state.recovered_from
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert list(tmp_path.glob("positions.json.corrupt-*"))


def test_garbage_without_previous_store_reads_files_from_the_start(tmp_path: Path) -> None:
    (tmp_path / "positions.json").write_bytes(b"\x00\x01garbage")
    state = PositionStore(tmp_path).load()
    assert state.files == {} and state.recovered_from is not None


@pytest.mark.parametrize(
    "body",
    [
        b'{"version": 1, "files": [1]}',  # raised TypeError out of load()
        b'{"version": 1, "files": [{}]}',  # raised KeyError
        b'{"version": 1, "files": [{"key": "k", "path": "p", "dev": [], "ino": 1, "offset": 0, "size": 0}]}',
        b'{"version": 1, "files": [], "scanned_at": [1]}',
    ],
)
def test_a_well_formed_store_with_malformed_entries_falls_back_to_the_previous_store(
    tmp_path: Path, body: bytes
) -> None:
    store = PositionStore(tmp_path)
    store.save([A], 1.0)
    store.save([A, B], 2.0)
    (tmp_path / "positions.json").write_bytes(body)
    state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A} and state.recovered_from is not None
    assert "malformed entry" in state.recovered_from
    assert list(tmp_path.glob("positions.json.corrupt-*"))


def test_interrupted_rename_uses_the_previous_store(tmp_path: Path) -> None:
    store = PositionStore(tmp_path)
    store.save([A], 1.0)
    store.save([A, B], 2.0)
    (tmp_path / "positions.json").unlink()  # crash between the two renames
    state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A} and state.recovered_from is not None


def test_a_full_disk_keeps_the_good_store(tmp_path: Path) -> None:
    with tiny_tmpfs(tmp_path / "mnt") as mnt:
        store = PositionStore(mnt)
        store.save([A, B], 1.0)
        fill(mnt, leave=2048)
        many = [FilePosition(f"k{i}", f"/logs/app-{i}.log", 1, i, i, i) for i in range(500)]
        with pytest.raises(PositionsError, match=r"tail\.positions_dir"):
            store.save(many, 2.0)
        state = PositionStore(mnt).load()
        assert state.files == {"k1": A, "k2": B} and state.recovered_from is None
