"""`logship migrate fluentd` as users run it: exit codes, the written file, the report, nothing partial."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import pytest
from migrate.logfiles import entry, line_end, write_log

from logship import __version__
from logship.cli import main
from logship.settings import load_settings
from logship.sources.tail.positions import PositionStore, StoreState

DATA = Path(__file__).resolve().parent.parent / "data" / "fluentd"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_the_guide_block_converts_and_passes_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "logship.toml"
    positions = tmp_path / "positions"
    code = main(
        [
            "migrate",
            "fluentd",
            str(DATA / "monitoring-guide.conf"),
            "--output",
            str(out),
            "--positions-dir",
            str(positions),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = out.read_text()
    assert text.startswith(f"# logship configuration converted from the Fluentd configuration {DATA}")
    assert f"(logship {__version__}) on 20" in text.splitlines()[1]
    assert "`type_name` ignored" in text  # notes travel with the file
    settings = load_settings(out)
    assert settings.elasticsearch.hosts == ["http://elasticsearch:9200"]
    assert settings.enrich.fields["environment"] == "${ENVIRONMENT}"
    assert f"wrote {out}" in captured.out
    assert "pos_file /var/log/fluentd/aichat.log.pos does not exist here" in captured.err
    assert leftovers(tmp_path) == []
    # No pos_file: the store is written all the same, empty, and the file names it.
    assert settings.tail.positions_dir == positions
    assert PositionStore(positions).load() == StoreState({}, None, None)


def test_unmappable_items_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = DATA / "unsupported.conf"
    out = tmp_path / "logship.toml"
    assert main(["migrate", "fluentd", str(conf), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"  {conf}:1: <source> @type forward" in err
    assert f"  {conf}:38: <label @RETRY>" in err
    assert "nothing written" in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_force_writes_a_comment_for_each_item(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = DATA / "unsupported.conf"
    out = tmp_path / "logship.toml"
    positions = str(tmp_path / "positions")
    assert (
        main(["migrate", "fluentd", str(conf), "--output", str(out), "--force", "--positions-dir", positions])
        == 0
    )
    text = out.read_text()
    comments = [line for line in text.splitlines() if line.startswith("#   ")]
    for line in (1, 14, 19, 21, 22, 23, 27, 34, 35, 38):
        assert any(c.startswith(f"#   {conf}:{line}: ") for c in comments), line
    assert "NOT CONVERTED" in text
    load_settings(out)
    # Values with placeholders or Ruby are not carried over as if they were text.
    assert tomllib.loads(text)["enrich"]["fields"] == {}


def test_an_invalid_result_leaves_no_file_and_keeps_the_old_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "f.conf"
    conf.write_text((DATA / "monitoring-guide.conf").read_text().replace("prefix aichat", "prefix AIChat"))
    out = tmp_path / "logship.toml"
    out.write_text("# the operator's file\n")
    assert main(["migrate", "fluentd", str(conf), "--output", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["migrate", "fluentd", str(conf), "--output", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert f"{out}: setting `elasticsearch.index_prefix`" in err and ".tmp" not in err
    assert out.read_text() == "# the operator's file\n" and leftovers(tmp_path) == []


def test_pos_file_takeover_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    write_log(app, 50)
    pos_file = tmp_path / "fluentd" / "aichat.log.pos"
    pos_file.parent.mkdir()
    pos_file.write_text(entry(app, line_end(app, 20), app.stat().st_ino))
    conf = tmp_path / "fluent.conf"
    guide = (DATA / "monitoring-guide.conf").read_text()
    conf.write_text(
        guide.replace("/var/log/aichat/*.log", f"{logs}/*.log").replace(
            "/var/log/fluentd/aichat.log.pos", str(pos_file)
        )
    )
    positions = tmp_path / "state"
    args = [
        "migrate",
        "fluentd",
        str(conf),
        "--output",
        str(tmp_path / "l.toml"),
        "--positions-dir",
        str(positions),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"took over 1 position(s) from {pos_file}; cut-over point" in out
    assert "wrote the position store (1 file(s)); logship starts:" in out
    assert (
        f"{app} (inode {app.stat().st_ino}): resumes at byte {line_end(app, 20)} of {app.stat().st_size}"
        in out
    )
    assert load_settings(tmp_path / "l.toml").tail.positions_dir == positions
    # A second run refuses to replace the store logship may have advanced since.
    shutil.copy(positions / "positions.json", tmp_path / "saved.json")
    again = [*args[:4], str(tmp_path / "other.toml"), *args[5:], "--pos-file", str(pos_file)]
    assert main(again) == 2
    assert (
        f"{positions / 'positions.json'}: a logship position store exists already" in capsys.readouterr().err
    )
    assert not (tmp_path / "other.toml").exists()
    assert (positions / "positions.json").read_bytes() == (tmp_path / "saved.json").read_bytes()


def test_missing_pos_file_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "l.toml"
    code = main(
        [
            "migrate",
            "fluentd",
            str(DATA / "monitoring-guide.conf"),
            "--output",
            str(out),
            "--pos-file",
            "nope",
        ]
    )
    assert code == 2 and "nope: no such pos_file" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


def test_migrate_needs_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["migrate"])
    assert caught.value.code == 2


def test_dry_run_prints_the_file_and_where_each_file_starts_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    app = logs / "app.log"
    write_log(app, 50)
    fluentd_ino = app.stat().st_ino
    pos_file = tmp_path / "aichat.log.pos"
    pos_file.write_text(entry(app, line_end(app, 20), fluentd_ino))
    past = pos_file.stat().st_mtime - 10
    os.utime(app, (past, past))
    os.rename(app, logs / "app.log.1")  # rotated since Fluentd's last position update
    write_log(app, 5, start=50)
    conf = tmp_path / "fluent.conf"
    guide = (DATA / "monitoring-guide.conf").read_text()
    conf.write_text(
        guide.replace("/var/log/aichat/*.log", f"{logs}/*.log").replace(
            "/var/log/fluentd/aichat.log.pos", str(pos_file)
        )
    )
    out, positions = tmp_path / "l.toml", tmp_path / "state"
    args = ["migrate", "fluentd", str(conf), "--output", str(out), "--positions-dir", str(positions)]
    assert main([*args, "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert tomllib.loads(printed.split("dry run:")[0])["tail"]["positions_dir"] == str(positions)
    assert f"dry run: nothing written (would write {out} and {positions / 'positions.json'})" in printed
    rotated = logs / "app.log.1"
    at = f"resumes at byte {line_end(rotated, 20)} of {rotated.stat().st_size}"
    assert f"{rotated} (inode {fluentd_ino}): {at}" in printed
    assert f"{app} (inode {app.stat().st_ino}): from its start ({app.stat().st_size} bytes)" in printed
    assert not out.exists() and not positions.exists() and leftovers(tmp_path) == []
    # The same, for real, writes what the dry run announced.
    assert main(args) == 0
    assert capsys.readouterr().out.split("logship starts:")[1] == printed.split("logship starts:")[1]
