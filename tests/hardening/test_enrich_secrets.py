"""`${VAR}` in `[enrich.fields]` cannot copy logship's credentials into every document."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from logship.errors import ConfigError
from logship.settings import ElasticsearchSettings, Settings
from logship.transforms.enrich import configured_fields, resolve_fields


def settings(**es: object) -> Settings:
    return Settings(
        enrich={"fields": {"service": "aichat", "leak": "${SOURCE}"}},
        elasticsearch=ElasticsearchSettings.model_validate(es),
    )


@pytest.mark.parametrize(
    "name", ["LOGSHIP_ELASTICSEARCH__PASSWORD", "LOGSHIP_ELASTICSEARCH__API_KEY", "logship_x"]
)
def test_logship_variables_are_refused(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve_fields({"leak": f"${{{name}}}"}, {name: "s3cret-value"})
    (problem,) = err.value.problems
    assert "`enrich.fields.leak`" in problem and name in problem
    assert "s3cret-value" not in problem


def test_logship_variables_are_refused_even_with_a_default() -> None:
    with pytest.raises(ConfigError, match=r"enrich\.fields\.leak"):
        resolve_fields({"leak": "${LOGSHIP_ELASTICSEARCH__PASSWORD:-none}"}, {})


@pytest.mark.parametrize(
    "es",
    [
        {"username": "u", "password": "hunter2-long"},
        {"api_key": "hunter2-long"},
        {"hosts": ["https://u:hunter2-long@es.example:9200"]},
        {"hosts": ["https://u:hunter2%2Dlong@es.example:9200"]},
    ],
)
def test_a_variable_holding_a_configured_secret_is_refused(es: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as err:
        configured_fields(settings(**es), {"SOURCE": "hunter2-long"})
    (problem,) = err.value.problems
    assert "`enrich.fields.leak`" in problem and "SOURCE" in problem and "hunter2" not in problem


def test_ordinary_variables_still_expand() -> None:
    fields = configured_fields(settings(username="u", password="a"), {"SOURCE": "web-a-1"})
    assert fields == {"service": "aichat", "leak": "web-a-1"}


def test_check_names_the_field_and_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        '[enrich.fields]\nsecret = "${LOGSHIP_ELASTICSEARCH__PASSWORD}"\n'
    )
    env = {"LOGSHIP_ELASTICSEARCH__PASSWORD": "hunter2", "LOGSHIP_ELASTICSEARCH__USERNAME": "u", "PATH": ""}
    for command in ("check", "run"):
        result = subprocess.run(
            [sys.executable, "-m", "logship", command, "--config", str(cfg)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2, result.stderr
        assert "`enrich.fields.secret`" in result.stderr and str(cfg) in result.stderr
        assert "hunter2" not in result.stdout + result.stderr
