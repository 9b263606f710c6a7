"""Taking over a Fluentd pos_file: real files written by `logging`, real inodes, logship's own store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from migrate.logfiles import entry, line_end, write_log

from logship.errors import ConfigError
from logship.migrate.posfile import read_pos_file, write_positions
from logship.migrate.takeover import plan_takeover
from logship.settings import TailSettings
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


def tail_settings(logs: Path, read_from: str = "tail") -> TailSettings:
    return TailSettings(paths=[f"{logs}/*.log"], read_from=read_from)


def age(path: Path, seconds: float) -> None:
    """Set the file's mtime ``seconds`` in the past (before Fluentd's last pos_file write)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_positions_resume_exactly_where_fluentd_stopped(tmp_path: Path, logs: dict[str, Path]) -> None:
    app, worker = logs["app"], logs["worker"]
    ino = {name: p.stat().st_ino for name, p in logs.items()}
    app_pos, worker_pos = line_end(app, 60), line_end(worker, 100)
    gone_pos = line_end(logs["gone"], 10)
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text(
        entry(app, 17, ino["app"])  # an older line for the same path: the later one wins
        + entry(app, app_pos, ino["app"])
        + entry(worker, worker_pos, ino["worker"])
        + entry(logs["gone"], gone_pos, ino["gone"])
        + entry(logs["rotated"], line_end(logs["rotated"], 10), ino["rotated"])
        + entry(logs["unwatched"], 0xFFFFFFFFFFFFFFFF, ino["unwatched"])
        + entry(logs["cut"], logs["cut"].stat().st_size + 10, ino["cut"])
        + entry(logs["mid"], line_end(logs["mid"], 10) - 5, ino["mid"])
        + "garbage line\n"
    )
    for p in logs.values():
        age(p, 60)
    age(pos_file, 30)  # Fluentd's last position update: the cut-over point
    logs["gone"].unlink()
    os.rename(logs["rotated"], logs["rotated"].with_suffix(".log.1"))
    write_log(logs["rotated"], 5)  # a new file under the old name, written since: another inode
    assert logs["rotated"].stat().st_ino != ino["rotated"]
    write_log(app, 3, start=100)  # Fluentd stopped; the application went on writing

    plan = plan_takeover([pos_file], tail_settings(app.parent))
    store_dir = tmp_path / "positions"
    write_positions(store_dir, plan.positions, plan.cutover, force=False)

    state = PositionStore(store_dir).load()
    by_path = {p.path: p for p in state.files.values()}
    resumed = by_path[str(app)]
    assert resumed.key == fingerprint_path(str(app), 1024) and state.files[resumed.key] == resumed
    assert (resumed.offset, resumed.ino, resumed.dev) == (app_pos, ino["app"], app.stat().st_dev)
    assert resumed.size == app.stat().st_size
    # The next byte logship reads is the first record Fluentd did not ship: no gap, no repeat.
    with app.open("rb") as f:
        f.seek(resumed.offset)
        assert b"seq=60" in f.readline()
    assert by_path[str(worker)].offset == worker.stat().st_size
    assert state.scanned_at == pos_file.stat().st_mtime == plan.cutover
    # Fluentd's rotated file, found at its new name, resumes at Fluentd's position in it.
    moved = by_path[f"{logs['rotated']}.1"]
    assert (moved.ino, moved.offset) == (ino["rotated"], line_end(logs["rotated"].with_suffix(".log.1"), 10))
    # The new file under the old name was written since the cut-over: from its start.
    assert by_path[str(logs["rotated"])].offset == 0
    # Unwatched: finished by Fluentd, at its end.
    assert by_path[str(logs["unwatched"])].offset == logs["unwatched"].stat().st_size
    # Positions past the end or mid-line cannot be used: then `read_from` decides (here "tail").
    assert by_path[str(logs["cut"])].offset == logs["cut"].stat().st_size
    assert by_path[str(logs["mid"])].offset == line_end(logs["mid"], 100)

    skipped = "\n".join(plan.skipped)
    assert f"{pos_file}:9: not a pos_file entry" in skipped
    assert any(str(logs["cut"]) in s and "beyond the file's size" in s for s in plan.skipped), skipped
    assert any(str(logs["mid"]) in s and "not the end of a line" in s for s in plan.skipped), skipped
    assert len(plan.skipped) == 3
    assert plan.lost == [
        f"{pos_file}:4: {logs['gone']} (inode {ino['gone']}): lost: neither at its path nor at a rotated "
        f"name of it (rotated away and deleted); what Fluentd had not shipped of it, after byte {gone_pos}, "
        "is gone; how much cannot be known (the pos_file records no size)"
    ]
    starts = "\n".join(plan.starts)
    assert f"{app} (inode {ino['app']}): resumes at byte {app_pos} of {app.stat().st_size}" in starts
    assert f"{logs['rotated']}.1 (inode {ino['rotated']}): resumes at byte" in starts
    assert f"rotated from {logs['rotated']}" in starts
    assert f"{logs['unwatched']} (inode {ino['unwatched']}): finished by Fluentd" in starts


def test_rotations_after_the_cut_over_are_shipped_from_their_start_and_older_ones_not_again(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    write_log(app.with_suffix(".log.3"), 100, start=0)  # finished by Fluentd long ago
    age(app.with_suffix(".log.3"), 120)
    write_log(app, 100, start=100)  # the file Fluentd was reading
    fluentd_ino = app.stat().st_ino
    pos = line_end(app, 60)  # Fluentd shipped seq 100..159
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text(entry(app, pos, fluentd_ino))
    age(app, 70)
    age(pos_file, 60)
    # Two rotations since, as RotatingFileHandler does them: app.log -> .1 -> .2
    os.rename(app, app.with_suffix(".log.1"))
    write_log(app, 100, start=200)
    os.rename(app.with_suffix(".log.1"), app.with_suffix(".log.2"))
    os.rename(app, app.with_suffix(".log.1"))
    write_log(app, 100, start=300)

    for read_from in ("head", "tail"):
        plan = plan_takeover([pos_file], tail_settings(logs, read_from))
        got = {Path(p.path).name: (p.ino, p.offset, p.size) for p in plan.positions}
        size = {n: (logs / n).stat() for n in ("app.log", "app.log.1", "app.log.2", "app.log.3")}
        assert got == {
            "app.log.2": (fluentd_ino, pos, size["app.log.2"].st_size),
            "app.log.1": (size["app.log.1"].st_ino, 0, size["app.log.1"].st_size),
            "app.log": (size["app.log"].st_ino, 0, size["app.log"].st_size),
            "app.log.3": (size["app.log.3"].st_ino, size["app.log.3"].st_size, size["app.log.3"].st_size),
        }, read_from
        assert plan.lost == [] and plan.skipped == []
        keys = {Path(p.path).name: p.key for p in plan.positions}
        for name, key in keys.items():
            assert key == fingerprint_path(str(logs / name), 1024)


def test_a_matched_file_fluentd_never_followed_is_read_per_read_from(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    other = logs / "other.log"
    write_log(other, 10)
    age(other, 60)
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text("")
    age(pos_file, 30)
    head = plan_takeover([pos_file], tail_settings(logs, "head"))
    tail = plan_takeover([pos_file], tail_settings(logs, "tail"))
    assert [p.offset for p in head.positions] == [0]
    assert [p.offset for p in tail.positions] == [other.stat().st_size]
    assert "Fluentd never followed it" in tail.starts[0]


def test_an_existing_store_is_not_replaced_without_force(tmp_path: Path, logs: dict[str, Path]) -> None:
    app = logs["app"]
    pos_file = tmp_path / "aichat.pos"
    pos_file.write_text(entry(app, line_end(app, 5), app.stat().st_ino))
    plan = plan_takeover([pos_file], tail_settings(app.parent))
    write_positions(tmp_path / "positions", plan.positions, plan.cutover, force=False)
    before = (tmp_path / "positions" / "positions.json").read_bytes()
    with pytest.raises(ConfigError, match="position store exists already"):
        write_positions(tmp_path / "positions", plan.positions, plan.cutover, force=False)
    assert (tmp_path / "positions" / "positions.json").read_bytes() == before
    write_positions(tmp_path / "positions", plan.positions, plan.cutover, force=True)


def test_unreadable_pos_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the pos_file"):
        read_pos_file(tmp_path / "missing.pos")
