"""The command line as users run it: real processes, exit codes, messages."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from logship.cli import _parser
from logship.exitcodes import Exit

from engine_fixture import free_port
from support.harness import toml_config, write_logs

ROOT = Path(__file__).resolve().parent.parent


def logship(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logship", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_version_and_help() -> None:
    assert logship("--version").stdout.startswith("logship ")
    for command in ("run", "replay", "check", "setup", "prune"):
        result = logship(command, "--help")
        assert result.returncode == 0 and "--config" in result.stdout


def test_the_readme_table_lists_every_command_and_option_with_the_exit_codes() -> None:
    section = (ROOT / "README.md").read_text().split("## Command line and exit codes")[1].split("\n## ")[0]
    header, *rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert header == "| command | " + " | ".join(f"exit {int(code)}" for code in Exit if code < 3) + " |"
    usage = {row.split("`")[1].split()[1]: row.split("`")[1] for row in rows}  # command -> its synopsis
    commands = subcommands(_parser())
    assert sorted(usage) == sorted(commands)
    for name, parser in commands.items():
        if name == "migrate":
            name, parser = "fluentd", subcommands(parser)["fluentd"]
            usage[name] = usage.pop("migrate")
        options = {
            o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"
        }
        assert options <= set(usage[name].replace("[", " ").replace("]", " ").split()), name


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next(dict(a.choices) for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_check_accepts_the_shipped_files(tmp_path: Path) -> None:
    for name in ("logship.toml", "local.toml"):
        result = logship("check", "--config", str(ROOT / "conf" / name), cwd=tmp_path)
        # /var/lib/logship may not be writable here; the problem must then be named.
        assert result.returncode in (0, 2), result.stderr
        if result.returncode == 2:
            assert "tail.positions_dir" in result.stderr


def test_check_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[tail]\nread_from = "middle"\n[elasticsearch]\nhosts = ["ftp://x"]\n')
    result = logship("check", "--config", str(cfg))
    assert result.returncode == 2
    assert "`tail.read_from`" in result.stderr and "`elasticsearch.hosts`" in result.stderr
    assert str(cfg) in result.stderr


def test_check_redacts_secrets(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        '[elasticsearch]\nusername = "u"\npassword = "hunter2"\n'
    )
    result = logship("check", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr


def test_check_connect_reports_an_engine_that_does_not_answer(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        f'[elasticsearch]\nhosts = ["http://127.0.0.1:{free_port()}"]\nrequest_timeout_seconds = 2\n'
    )
    result = logship("check", "--connect", "--config", str(cfg))
    assert result.returncode == 1 and "cannot reach" in result.stderr


def test_replay_print_contacts_nothing_and_prints_documents(tmp_path: Path) -> None:
    write_logs(tmp_path / "logs", 300, traceback_every=50, quote_every=20)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[elasticsearch]\nhosts = ["http://127.0.0.1:{free_port()}"]\n')
    result = logship("replay", str(tmp_path / "logs" / "app.log"), "--print", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    docs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(docs) == 300
    assert sum("error.stack_trace" in d for d in docs) == 6
    # Every 20th message holds a quote unless that record is a traceback (every 50th) instead.
    quoted = sum(1 for seq in range(300) if seq % 20 == 19 and seq % 50 != 49)
    assert sum("recovered_by_pattern" in d.get("tags", []) for d in docs) == quoted
    assert all(d["@timestamp"].endswith("Z") for d in docs)
    assert "records read: 300, printed: 300," in result.stderr


def test_replay_usage_errors_exit_2(tmp_path: Path) -> None:
    assert logship("replay", str(tmp_path / "missing.log")).returncode == 2
    assert logship("replay").returncode == 2
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[nope]\n")
    (tmp_path / "a.log").write_text("{}\n")
    result = logship("replay", str(tmp_path / "a.log"), "--config", str(cfg))
    assert result.returncode == 2 and "`nope`" in result.stderr


def test_replay_without_an_engine_exits_1_after_its_retries(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text('{"timestamp": "2026-11-26 10:00:00", "message": "x"}\n')
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[elasticsearch]\nhosts = ["http://127.0.0.1:{free_port()}"]\n'
        f"[delivery]\nretry_initial_seconds = 0.01\nretry_max_seconds = 0.02\n"
        f'[dead_letter]\npath = "{tmp_path}/dl"\n'
    )
    result = logship("replay", str(tmp_path / "a.log"), "--config", str(cfg), "--max-retries", "2")
    assert result.returncode == 1
    assert "not delivered: 1" in result.stdout


# A bug planted in the sender, in the real process: nothing else makes a part of the pipeline fail.
_FAILING_SENDER = """
import sys
from logship.sinks.elasticsearch import sink

async def send(self, batch):
    raise RuntimeError("a bug in the sink")

sink.ElasticsearchSink.send = send
from logship.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_run_exits_1_when_a_part_of_the_pipeline_fails(tmp_path: Path) -> None:
    """`logship run` stops by itself and exits 1 (so that systemd or Kubernetes restarts it), with
    the failure and its stack trace in a JSON log line."""
    logs = tmp_path / "logs"
    write_logs(logs, 10)
    cfg = toml_config(
        tmp_path / "c.toml",
        logs=logs,
        state=tmp_path / "state",
        es_url=f"http://127.0.0.1:{free_port()}",
        http_port=free_port(),
        index_prefix="unused",
    )
    result = subprocess.run(
        [sys.executable, "-c", _FAILING_SENDER, "run", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    (last,) = [line for line in lines if line["level"] == "CRITICAL"]
    assert last["message"] == "Stopped after a failure inside the pipeline"
    assert "RuntimeError: a bug in the sink" in last["error.stack_trace"]
    assert any(line["message"] == "A part of the pipeline failed; stopping" for line in lines)


def test_check_refuses_an_index_date_format_the_engine_would_refuse(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        '[elasticsearch]\nindex_date_format = "%Y %m/%d"\n'
    )
    result = logship("check", "--config", str(cfg))
    assert result.returncode == 2
    assert "`elasticsearch.index_date_format`" in result.stderr and "'2026 01/02'" in result.stderr
