"""Taking over a Fluentd pos_file: real files written by `logging`, real inodes, logship's own store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from migrate.logfiles import entry, line_end, write_log

from logship.errors import ConfigError
from logship.migrate.posfile import plan_takeover, read_pos_file, write_positions
from logship.sources.tail.fingerprint import fingerprint_path
from logship.sources.tail.positions import PositionStore


@pytest.fixture
def logs(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "logs"
    d.mkdir()
    files = {
        name: d / f"{name}.log" for name in ("app", "worker", "gone", "rotated", "unwatched", "cut", "mid")
    }
    for path in files.values():
        write_log(path, 100)
    return files


def test_positions_resume_exactly_where_fluentd_stopped(tmp_path: Path, logs: dict[str, Path]) -> None:
    app, worker = logs["app"], logs["worker"]
    ino = {name: p.stat().st_ino for name, p in logs.items()}
    app_pos, worker_pos = line_end(app, 60), line_end(worker, 100)
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text(
        entry(app, 17, ino["app"])  # an older line for the same path: the later one wins
        + entry(app, app_pos, ino["app"])
        + entry(worker, worker_pos, ino["worker"])
        + entry(logs["gone"], line_end(logs["gone"], 10), ino["gone"])
        + entry(logs["rotated"], line_end(logs["rotated"], 10), ino["rotated"])
        + entry(logs["unwatched"], 0xFFFFFFFFFFFFFFFF, ino["unwatched"])
        + entry(logs["cut"], logs["cut"].stat().st_size + 10, ino["cut"])
        + entry(logs["mid"], line_end(logs["mid"], 10) - 5, ino["mid"])
        + "garbage line\n"
    )
    logs["gone"].unlink()
    os.rename(logs["rotated"], logs["rotated"].with_suffix(".log.1"))
    write_log(logs["rotated"], 5)  # a new file under the old name: another inode
    assert logs["rotated"].stat().st_ino != ino["rotated"]
    write_log(app, 3, start=100)  # Fluentd stopped; the application went on writing

    plan = plan_takeover([pos_file], 1024)
    store_dir = tmp_path / "positions"
    write_positions(store_dir, plan, force=False)

    state = PositionStore(store_dir).load()
    by_path = {p.path: p for p in state.files.values()}
    assert set(by_path) == {str(app), str(worker)}
    resumed = by_path[str(app)]
    assert resumed.key == fingerprint_path(str(app), 1024) and state.files[resumed.key] == resumed
    assert (resumed.offset, resumed.ino, resumed.dev) == (app_pos, ino["app"], app.stat().st_dev)
    assert resumed.size == app.stat().st_size
    # The next byte logship reads is the first record Fluentd did not ship: no gap, no repeat.
    with app.open("rb") as f:
        f.seek(resumed.offset)
        assert b"seq=60" in f.readline()
    assert by_path[str(worker)].offset == worker.stat().st_size
    assert state.scanned_at is not None

    skipped = "\n".join(plan.skipped)
    assert f"{pos_file}:9: not a pos_file entry" in skipped
    for name, reason in (
        ("gone", "no longer exists"),
        ("rotated", f"Fluentd's position is for inode {ino['rotated']}"),
        ("unwatched", "unwatched"),
        ("cut", "beyond the file's size"),
        ("mid", "not the end of a line"),
    ):
        assert any(str(logs[name]) in s and reason in s for s in plan.skipped), (name, skipped)
    assert len(plan.skipped) == 6
    assert [t.split(":")[0] for t in plan.taken] == [str(app), str(worker)]


def test_an_existing_store_is_not_replaced_without_force(tmp_path: Path, logs: dict[str, Path]) -> None:
    app = logs["app"]
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text(entry(app, line_end(app, 5), app.stat().st_ino))
    plan = plan_takeover([pos_file], 1024)
    write_positions(tmp_path / "positions", plan, force=False)
    before = (tmp_path / "positions" / "positions.json").read_bytes()
    with pytest.raises(ConfigError, match="position store exists already"):
        write_positions(tmp_path / "positions", plan, force=False)
    assert (tmp_path / "positions" / "positions.json").read_bytes() == before
    write_positions(tmp_path / "positions", plan, force=True)


def test_unreadable_pos_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the pos_file"):
        read_pos_file(tmp_path / "missing.pos")
