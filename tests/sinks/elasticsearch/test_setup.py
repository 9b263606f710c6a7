"""`logship setup` and `logship prune` against an in-process engine answering as the docs say.

The lifecycle services (ILM, ISM) exist on no test node, so their requests and idempotence are
checked here; the template, the mappings and prune against real engines are in
tests/integration/test_setup_and_prune.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from logship.errors import ConfigError, EngineRejected
from logship.settings import Settings, load_settings
from logship.sinks.elasticsearch.prune import expired, period_end, prune
from logship.sinks.elasticsearch.setup import install
from logship.sinks.elasticsearch.templates import index_patterns, refresh_interval

from support.fake_engine import FakeEngine

DIGITS = [f"aichat-{d}*" for d in "0123456789"]


def settings(**index: Any) -> Settings:
    return Settings.model_validate({"index": index})


def at(s: Settings, url: str) -> Settings:
    return s.model_copy(update={"elasticsearch": s.elasticsearch.model_copy(update={"hosts": [url]})})


def run_setup(engine: FakeEngine, s: Settings, **kw: Any) -> tuple[bool, list[str]]:
    lines: list[str] = []

    async def go() -> bool:
        async with engine.serve() as url:
            return await install(at(s, url), out=lines.append, **kw)

    return asyncio.run(go()), lines


def run_prune(engine: FakeEngine, s: Settings, lines: list[str], **kw: Any) -> list[str]:
    async def go() -> list[str]:
        async with engine.serve() as url:
            return await prune(at(s, url), out=lines.append, now=NOW, **kw)

    return asyncio.run(go())


def test_elasticsearch_with_ilm_gets_a_policy_attached_by_the_template() -> None:
    engine = FakeEngine("elasticsearch")
    ok, lines = run_setup(engine, settings(retention_days=30))
    assert ok, lines
    assert [(m, p) for m, p, _ in engine.writes()] == [
        ("PUT", "/_ilm/policy/aichat-logship-retention"),
        ("PUT", "/_index_template/aichat-logship"),
    ]
    policy = engine.ilm["aichat-logship-retention"]["policy"]
    assert policy["phases"] == {"delete": {"min_age": "31d", "actions": {"delete": {}}}}
    assert policy["_meta"]["managed_by"] == "logship"
    template = engine.templates["aichat-logship"]
    assert template["index_patterns"] == DIGITS
    assert template["template"]["settings"]["index"]["lifecycle"] == {
        "name": "aichat-logship-retention",
        "parse_origination_date": True,
    }
    assert template["template"]["mappings"]["properties"]["message"] == {"type": "match_only_text"}
    assert "ILM policy aichat-logship-retention" in lines[1] and lines[1].endswith(": created")
    assert any(line.startswith("retention: 30 days, by the engine (ILM") for line in lines)

    engine.requests.clear()
    ok, lines = run_setup(engine, settings(retention_days=30))
    assert ok and engine.writes() == []
    assert sum(line.endswith("already up to date") for line in lines) == 2, lines

    ok, lines = run_setup(engine, settings(retention_days=7))
    assert engine.ilm["aichat-logship-retention"]["version"] == 2
    assert engine.ilm["aichat-logship-retention"]["policy"]["phases"]["delete"]["min_age"] == "8d"
    assert any("ILM policy" in line and line.endswith(": updated") for line in lines)


def test_opensearch_with_ism_gets_a_policy_with_an_ism_template() -> None:
    engine = FakeEngine("opensearch")
    ok, lines = run_setup(engine, settings(retention_days=14))
    assert ok, lines
    stored = engine.ism["aichat-logship-retention"]["policy"]
    assert stored["ism_template"] == [{"index_patterns": DIGITS, "priority": 200}]
    assert stored["states"][0]["transitions"] == [
        {"state_name": "delete", "conditions": {"min_index_age": "15d"}}
    ]
    assert stored["states"][1]["actions"] == [{"delete": {}}]
    # ISM attaches through ism_template, not through an index setting.
    assert "lifecycle" not in engine.templates["aichat-logship"]["template"]["settings"]["index"]

    engine.requests.clear()
    ok, lines = run_setup(engine, settings(retention_days=14))
    assert ok and engine.writes() == [], lines

    seq = engine.ism["aichat-logship-retention"]["_seq_no"]
    ok, lines = run_setup(engine, settings(retention_days=60))
    assert ok, lines
    puts = [p for m, p, _ in engine.writes() if "_ism" in p]
    assert puts == [f"/_plugins/_ism/policies/aichat-logship-retention?if_seq_no={seq}&if_primary_term=1"]
    assert engine.ism["aichat-logship-retention"]["_version"] == 2


ENGINES_WITHOUT_LIFECYCLE = [("elasticsearch", ""), ("elasticsearch", "8.19.8"), ("opensearch", "")]


@pytest.mark.parametrize(("distribution", "version"), ENGINES_WITHOUT_LIFECYCLE)
def test_without_a_lifecycle_service_auto_falls_back(distribution: str, version: str) -> None:
    engine = FakeEngine(distribution, lifecycle=False, match_only_text=False, version=version)
    ok, lines = run_setup(engine, settings())
    assert ok
    service = "ILM" if distribution == "elasticsearch" else "ISM"
    assert any(
        line.startswith("retention: 30 days, by logship") and f"no {service}" in line for line in lines
    )
    assert [p for _, p, _ in engine.writes()] == ["/_index_template/aichat-logship"]
    assert "lifecycle" not in engine.templates["aichat-logship"]["template"]["settings"]["index"]
    assert engine.templates["aichat-logship"]["template"]["mappings"]["properties"]["message"] == {
        "type": "text"
    }
    assert any(line.startswith("field `message`: text (the engine has no match_only_text") for line in lines)

    with pytest.raises(EngineRejected, match=f"no {service} service"):
        run_setup(FakeEngine(distribution, lifecycle=False, version=version), settings(retention="engine"))


def test_retention_off_installs_no_policy() -> None:
    for s in (settings(retention="off"), settings(retention_days=0)):
        engine = FakeEngine("elasticsearch")
        ok, lines = run_setup(engine, s)
        assert ok and engine.ilm == {} and lines[-1].startswith("retention: off")


def test_dry_run_prints_the_requests_and_sends_no_write() -> None:
    engine = FakeEngine("elasticsearch")
    ok, lines = run_setup(engine, settings(), dry_run=True)
    assert ok and engine.writes() == []
    text = "\n".join(lines)
    policy = "ILM policy aichat-logship-retention (delete the aichat daily indices 30 days after their day)"
    assert f"{policy}: would be created" in text
    assert 'PUT /_ilm/policy/aichat-logship-retention\n{\n  "policy": {' in text
    assert 'PUT /_index_template/aichat-logship\n{\n  "index_patterns": [' in text


def test_a_template_logship_did_not_install_is_left_alone_unless_overwrite() -> None:
    engine = FakeEngine("opensearch", lifecycle=False)
    engine.templates["aichat-logship"] = {"index_patterns": ["aichat-*"], "template": {}}
    ok, lines = run_setup(engine, settings())
    assert not ok
    assert any("not installed by logship; left alone (pass --overwrite" in line for line in lines)
    assert engine.templates["aichat-logship"]["index_patterns"] == ["aichat-*"]
    ok, lines = run_setup(engine, settings(), overwrite=True)
    assert ok and engine.templates["aichat-logship"]["index_patterns"] == DIGITS
    assert any(line.endswith(": updated") for line in lines)


def test_elasticsearch_8_gets_its_ilm_policy_too() -> None:
    engine = FakeEngine("elasticsearch", version="8.19.8")
    ok, lines = run_setup(engine, settings(retention_days=30))
    assert ok, lines
    assert [(m, p) for m, p, _ in engine.writes()] == [
        ("PUT", "/_ilm/policy/aichat-logship-retention"),
        ("PUT", "/_index_template/aichat-logship"),
    ]
    assert lines[0].startswith("engine: Elasticsearch 8.19.8 at http://127.0.0.1:")


def test_index_patterns_follow_the_date_format() -> None:
    assert index_patterns("aichat", "%Y.%m.%d") == DIGITS
    assert index_patterns("aichat", "day-%Y.%m.%d") == [f"aichat-day-{d}*" for d in "0123456789"]
    assert index_patterns("aichat", "%b-%Y") == ["aichat-*"]
    assert [refresh_interval(x) for x in (0, 1, 5.0, 0.25)] == ["-1", "1s", "5s", "250ms"]


NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def test_expired_reads_the_date_from_the_name_and_nothing_else() -> None:
    names = [
        "aichat-2026.02.03",  # 40 days old
        "aichat-2026.02.12",  # its day ended 30 days and 12 hours ago
        "aichat-2026.02.13",  # its day ended 29 days and 12 hours ago: kept
        "aichat-2026.03.15",  # today
        "aichat-archive-2026.01.01",  # another prefix
        "aichat-2026.1.5",  # parses, but logship never writes it
        "aichat-latest",
        "aichatx-2026.01.01",
    ]
    assert expired(names, "aichat", "%Y.%m.%d", 30, NOW) == ["aichat-2026.02.03", "aichat-2026.02.12"]
    assert expired(names, "aichat-archive", "%Y.%m.%d", 30, NOW) == ["aichat-archive-2026.01.01"]
    assert period_end("aichat-2026.02", "aichat", "%Y.%m") == datetime(2026, 3, 1, tzinfo=UTC)
    assert period_end("aichat-2026.02.03.07", "aichat", "%Y.%m.%d.%H") == datetime(2026, 2, 3, 8, tzinfo=UTC)


def test_prune_deletes_by_name_and_dry_run_deletes_nothing() -> None:
    engine = FakeEngine("elasticsearch")
    engine.indices = ["aichat-2026.02.03", "aichat-2026.03.15", "aichat-archive-2026.01.01"]
    lines: list[str] = []
    old = run_prune(engine, settings(), lines, dry_run=True)
    assert old == ["aichat-2026.02.03"] and engine.writes() == []
    assert lines[0] == "DELETE /aichat-2026.02.03"
    old = run_prune(engine, settings(), lines)
    assert engine.indices == ["aichat-2026.03.15", "aichat-archive-2026.01.01"]


def test_index_settings_are_validated_naming_the_setting_and_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[index]\nretention = "sometimes"\nshards = 0\nretention_days = -1\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    text = "\n".join(caught.value.problems)
    for key in ("index.retention", "index.shards", "index.retention_days"):
        assert f"{cfg}: setting `{key}`" in text
    cfg.write_text('[elasticsearch]\nindex_date_format = "%m.%d"\n')
    with pytest.raises(ConfigError, match=r"elasticsearch\.index_date_format"):
        load_settings(cfg)
    cfg.write_text('[elasticsearch]\nindex_date_format = "%m.%d"\n[index]\nretention = "off"\n')
    assert load_settings(cfg).index.retention == "off"
