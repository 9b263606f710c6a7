"""Start-up and reload refusals: unwritable positions, non-JSON environment lists, an empty file at SIGHUP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from logship.errors import ConfigError, PositionsError
from logship.settings import load_settings
from logship.sources.tail.positions import PositionStore

from engine_fixture import free_port
from support.stderr import StderrLines


def logship(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logship", *args], capture_output=True, text=True, env=env, timeout=60
    )


def unwritable_directory(tmp_path: Path) -> Path:
    """An existing directory this process cannot create files in (root ignores permission bits)."""
    if os.geteuid() != 0:
        directory = tmp_path / "read-only"
        directory.mkdir()
        directory.chmod(0o500)
        return directory
    if os.path.isdir("/sys/kernel") and not os.access("/sys/kernel/x", os.F_OK):
        return Path("/sys/kernel")
    pytest.skip("no directory that root cannot write to")


def config(tmp_path: Path, positions: Path, extra: str = "") -> Path:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npaths = ["{tmp_path}/logs/*.log"]\npositions_dir = "{positions}"\n'
        f'[dead_letter]\npath = "{tmp_path}/dl"\n[http]\nenabled = false\n'
        f'[elasticsearch]\nhosts = ["http://127.0.0.1:{free_port()}"]\n{extra}'
    )
    return cfg


def test_run_refuses_to_start_without_a_writable_positions_directory(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text('{"timestamp": "2026-11-26 10:00:00", "message": "x"}\n')
    result = logship("run", "--config", str(config(tmp_path, unwritable_directory(tmp_path))))
    assert result.returncode == 1, result.stderr
    assert "`tail.positions_dir`" in result.stderr and "Traceback" not in result.stderr
    assert "everything read was delivered" not in result.stderr


def test_check_writable_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(PositionsError, match=r"`tail\.positions_dir`.*write access"):
        PositionStore(tmp_path / "file" / "positions").check_writable()
    PositionStore(tmp_path / "fresh").check_writable()
    assert list((tmp_path / "fresh").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGSHIP_TAIL__PATHS", "/var/log/*.log"),
        ("LOGSHIP_TAIL__EXCLUDE", "[unclosed"),
        ("LOGSHIP_ENRICH__FIELDS", "service=aichat"),
    ],
)
def test_a_non_json_list_in_the_environment_is_a_configuration_error(name: str, value: str) -> None:
    result = logship("check", env={**os.environ, name: value})
    assert result.returncode == 2, result.stderr
    assert name in result.stderr and "JSON" in result.stderr and "Traceback" not in result.stderr


def test_load_settings_refuses_an_empty_file_only_on_reload(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("# being rewritten\n")
    load_settings(cfg)  # at start an empty file means the defaults, as documented
    with pytest.raises(ConfigError, match="holds no setting"):
        load_settings(cfg, refuse_empty=True)


def test_sighup_with_an_empty_file_keeps_the_running_configuration(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    cfg = config(tmp_path, tmp_path / "positions")
    proc = subprocess.Popen(
        [sys.executable, "-m", "logship", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = StderrLines(proc)
    try:
        lines.wait_for('"Started"')  # its signal handlers are installed before the pipeline starts
        cfg.write_text("")
        proc.send_signal(signal.SIGHUP)
        lines.wait_for("Configuration reload refused")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = lines.text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Configuration reload refused" in err and "holds no setting" in err
    assert "Configuration reloaded" not in err
