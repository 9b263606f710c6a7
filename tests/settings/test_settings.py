"""Configuration: defaults equal conf/logship.toml, environment overrides, every problem reported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from logship.errors import ConfigError
from logship.settings import Settings, load_settings
from logship.transforms.enrich import expand, resolve_fields

ROOT = Path(__file__).resolve().parents[2]


def test_builtin_defaults_equal_the_shipped_production_file() -> None:
    assert load_settings(ROOT / "conf" / "logship.toml") == Settings()


def test_quickstart_file_loads() -> None:
    settings = load_settings(ROOT / "conf" / "local.toml")
    assert settings.elasticsearch.hosts == ["http://127.0.0.1:9200"]


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-config-reference"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[elasticsearch]\nhosts = ["http://a:9200"]\nindex_prefix = "x"\n')
    monkeypatch.setenv("LOGSHIP_ELASTICSEARCH__INDEX_PREFIX", "from-env")
    settings = load_settings(cfg)
    assert settings.elasticsearch.index_prefix == "from-env"
    assert settings.elasticsearch.hosts == ["http://a:9200"]


def test_every_problem_names_setting_and_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        '[tail]\nread_from = "middle"\nfingerprint_bytes = 1\n[elasticsearch]\nhosts = ["localhost"]\n'
        '[parse]\ntimezone = "Mars/Olympus"\n[batch]\nmax_docs = 3\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    text = "\n".join(err.value.problems)
    for key in (
        "tail.read_from",
        "tail.fingerprint_bytes",
        "elasticsearch.hosts",
        "parse.timezone",
        "batch.max_docs",
    ):
        assert f"`{key}`" in text, text
    assert str(cfg) in text and "unknown setting" in text and "Mars/Olympus" in text


def test_broken_toml_says_where(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text("[tail\npaths = 3\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "broken.toml" in err.value.problems[0] and "line 1" in err.value.problems[0]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")


def test_variables_expand_with_defaults() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert expand("${A}-${B:-dflt}-${EMPTY:-e}", env, "s") == "x-dflt-e"
    assert expand("$A ${A", env, "s") == "$A ${A"  # no other syntax, nothing evaluated


def test_unset_variable_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"enrich\.fields\.env.*NOPE"):
        resolve_fields({"env": "${NOPE}"}, {})


def test_unset_hostname_falls_back_to_the_machine_name() -> None:
    import socket

    assert resolve_fields({"hostname": "${HOSTNAME}"}, {}) == {"hostname": socket.gethostname()}


def test_index_prefix_follows_the_engine_rules(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[elasticsearch]\nindex_prefix = "AI Chat"\n')
    with pytest.raises(ConfigError, match=r"elasticsearch\.index_prefix.*not a valid index name"):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("date_format", "rendered"),
    [("%Y.%b.%d", "2026.Jan.02"), ("%Y %m/%d", "2026 01/02"), ("%Y.%m.%d#%H", "2026.01.02#13")],
)
def test_index_date_format_must_render_a_valid_index_name(
    tmp_path: Path, date_format: str, rendered: str
) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[elasticsearch]\nindex_date_format = "{date_format}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    message = str(caught.value)
    assert "elasticsearch.index_date_format" in message and str(cfg) in message
    assert repr(rendered) in message and "not valid in an index name" in message


@pytest.mark.parametrize("date_format", ["%Y.%m.%d", "%Y-%m-%d", "%Y.%m", "%Y.%m.%d_%H"])
def test_index_date_formats_giving_valid_names_pass(tmp_path: Path, date_format: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[elasticsearch]\nindex_date_format = "{date_format}"\n')
    assert load_settings(cfg).elasticsearch.index_date_format == date_format
