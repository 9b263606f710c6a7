"""Bad Fluentd input: each refused with its file and line, exit 2, and nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from logship.cli import main

DATA = Path(__file__).resolve().parent.parent / "data" / "fluentd"
GUIDE = (DATA / "monitoring-guide.conf").read_text()


def migrate(tmp_path: Path, conf: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    code = main(
        [
            "migrate",
            "fluentd",
            str(conf),
            "--output",
            str(out / "logship.toml"),
            "--positions-dir",
            str(out / "positions"),
            *extra,
        ]
    )
    assert sorted(p.name for p in out.iterdir()) == [], "nothing may be written"
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "setting", "left"),
    [
        # unquoted, Fluentd leaves Ruby as text; in double quotes it evaluates it
        ("path /var/log/aichat/*.log", "path /var/log/#{ENV['APP']}/*.log", "tail.paths", "#{ENV['APP']}"),
        (
            "path /var/log/aichat/*.log",
            'path "/var/log/#{Time.now.year}/*.log"',
            "tail.paths",
            "#{Time.now.year}",
        ),
        ("path /var/log/aichat/*.log", "path ${LOGDIR}/*.log", "tail.paths", "${LOGDIR}"),
        ("host elasticsearch", "host \"#{ENV['ES_HOST']}\"", "elasticsearch.hosts", "${ES_HOST}"),
        (
            "  time_key timestamp\n  time_format",
            "  time_key \"#{ENV['TK']}\"\n  time_format",
            "parse.time_key",
            "${TK}",
        ),
        (
            "logstash_prefix aichat",
            'logstash_prefix "aichat-#{Date.today}"',
            "elasticsearch.index_prefix",
            "#{Date.today}",
        ),
    ],
)
def test_a_value_logship_would_not_expand_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, setting: str, left: str
) -> None:
    conf = tmp_path / "fluent.conf"
    assert old in GUIDE
    line = GUIDE[: GUIDE.index(old)].count("\n") + 1
    conf.write_text(GUIDE.replace(old, new, 1))
    code, err = migrate(tmp_path, conf, capsys)
    assert code == 2
    assert f"  {conf}:{line}: `{setting}` would keep {left!r}, which logship does not expand" in err
    assert "nothing written" in err


def test_placeholders_in_record_fields_are_still_expanded_by_logship(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "logship.toml"
    conf = str(DATA / "monitoring-guide.conf")
    positions = str(tmp_path / "positions")
    assert main(["migrate", "fluentd", conf, "--output", str(out), "--positions-dir", positions]) == 0
    assert 'environment = "${ENVIRONMENT}"' in out.read_text()


def test_sections_nested_thousands_deep_are_refused_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "deep.conf"
    conf.write_text(GUIDE + "<system>\n" + "<a>\n" * 5000 + "</a>\n" * 5000 + "</system>\n")
    code, err = migrate(tmp_path, conf, capsys)
    assert code == 2
    opened_at = GUIDE.count("\n") + 1 + 64  # the 64th <a>: the 65th section open
    assert f"{conf}:{opened_at}: <a> is nested more than 64 sections deep" in err


def test_a_json_value_nested_thousands_deep_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "deep.conf"
    conf.write_text(GUIDE.replace("  port 9200\n", "  port 9200\n  hosts " + "[" * 5000 + "]" * 5000 + "\n"))
    code, err = migrate(tmp_path, conf, capsys)
    assert code == 2
    assert f"{conf}:25: JSON array nested more than 64 levels deep" in err


def test_an_include_that_doubles_at_every_level_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # level k includes level k+1 twice: 2**30 files' worth if expanded
    for k in range(30):
        (tmp_path / f"l{k}.conf").write_text(f"@include l{k + 1}.conf\n@include l{k + 1}.conf\n")
    (tmp_path / "l30.conf").write_text("<system>\n</system>\n")
    conf = tmp_path / "fluent.conf"
    conf.write_text(GUIDE + "@include l0.conf\n")
    code, err = migrate(tmp_path, conf, capsys)
    assert code == 2
    assert "@include expands to more than 1000 files or 16 MiB" in err
    assert f"{tmp_path}/l" in err.split("@include expands")[0]  # names the including file and line


def test_an_include_of_huge_files_is_bounded_by_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.conf"
    big.write_text(("# " + "x" * 1000 + "\n") * 3000)  # 3 MB of comments
    conf = tmp_path / "fluent.conf"
    conf.write_text(GUIDE + "@include big.conf\n" * 6)
    code, err = migrate(tmp_path, conf, capsys)
    assert code == 2
    assert f"{conf}:{GUIDE.count(chr(10)) + 6}: @include expands to more than" in err


def test_output_naming_a_directory_is_refused_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "etc"
    target.mkdir()
    for extra in ([], ["--force"]):
        code = main(
            ["migrate", "fluentd", str(DATA / "monitoring-guide.conf"), "--output", str(target), *extra]
        )
        err = capsys.readouterr().err
        assert code == 2
        assert f"{target}: is a directory; --output names the TOML file to write" in err
        assert "Traceback" not in err
        assert list(target.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["etc"]
