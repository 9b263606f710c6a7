"""The position store: atomic writes, damaged files reported and recovered from the previous store."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
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


# -- delivered ranges beyond the prefix (live-first catch-up) ----------------------------------

C = FilePosition("k3", "/logs/app.log", 1, 4, 100, 900, "abc", ((300, 400), (500, 700)))


def test_ranges_beyond_the_prefix_round_trip_and_are_written_only_when_there_are_any(tmp_path: Path) -> None:
    store = PositionStore(tmp_path)
    store.save([A, C], 5.0)
    state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A, "k3": C}
    written = orjson.loads((tmp_path / "positions.json").read_bytes())
    by_key = {entry["key"]: entry for entry in written["files"]}
    assert "delivered" not in by_key["k1"]  # a store without catch-up reads as before
    assert by_key["k3"]["offset"] == 100 and by_key["k3"]["delivered"] == [[300, 400], [500, 700]]
    assert C.undelivered == 900 - 100 - 100 - 200 and C.end == 700


def test_a_version_1_store_written_before_ranges_loads_unchanged(tmp_path: Path) -> None:
    # Verbatim what logship wrote before the delivered ranges (commit 036e252).
    (tmp_path / "positions.json").write_bytes(
        b'{"version":1,"scanned_at":1764770000.25,"files":[{"key":"9f86d081884c7d65","path":'
        b'"/var/log/aichat/app.log","dev":2049,"ino":131074,"offset":52311,"size":60000,'
        b'"check":"2c26b46b68ffc68f"},{"key":"60303ae22b998861","path":"/var/log/aichat/app.log.1",'
        b'"dev":2049,"ino":131070,"offset":10485760,"size":10485760,"check":null}]}'
    )
    state = PositionStore(tmp_path).load()
    assert state.recovered_from is None and state.scanned_at == 1764770000.25
    assert state.files == {
        "9f86d081884c7d65": FilePosition(
            "9f86d081884c7d65", "/var/log/aichat/app.log", 2049, 131074, 52311, 60000, "2c26b46b68ffc68f"
        ),
        "60303ae22b998861": FilePosition(
            "60303ae22b998861", "/var/log/aichat/app.log.1", 2049, 131070, 10485760, 10485760
        ),
    }
    assert all(p.delivered == () and p.ranges.joined for p in state.files.values())


@pytest.mark.parametrize(
    "delivered",
    [
        b"[[50, 60]]",  # inside the prefix
        b"[[0, 60]]",  # a second prefix
        b"[[300, 400], [350, 500]]",  # overlapping
        b"[[400, 300]]",  # empty
        b'"300-400"',  # not pairs
    ],
)
def test_malformed_delivered_ranges_fall_back_to_the_previous_store(tmp_path: Path, delivered: bytes) -> None:
    store = PositionStore(tmp_path)
    store.save([A], 1.0)
    store.save([A, C], 2.0)
    (tmp_path / "positions.json").write_bytes(
        b'{"version": 1, "files": [{"key": "k3", "path": "/logs/app.log", "dev": 1, "ino": 4, '
        b'"offset": 100, "size": 900, "check": null, "delivered": ' + delivered + b"}]}"
    )
    state = PositionStore(tmp_path).load()
    assert state.files == {"k1": A} and state.recovered_from is not None
    assert "/logs/app.log: delivered" in state.recovered_from
