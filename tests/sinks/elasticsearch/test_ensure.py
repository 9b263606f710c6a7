"""`index.setup`: what `logship run` does about the template and policy, against the in-process
engine that answers as the engines document (support.fake_engine)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from logship.settings import Settings
from logship.sinks.elasticsearch.ensure import EngineSetup

from engine_fixture import free_port
from support.fake_engine import FakeEngine


def settings(url: str, **index: Any) -> Settings:
    return Settings.model_validate({"elasticsearch": {"hosts": [url]}, "index": index})


def check(engine: FakeEngine, **index: Any) -> bool:
    async def go() -> bool:
        async with engine.serve() as url:
            return await EngineSetup(settings(url, **index), None).check_once()

    return asyncio.run(go())


def test_install_creates_what_is_missing_once(caplog: pytest.LogCaptureFixture) -> None:
    engine = FakeEngine("elasticsearch")
    with caplog.at_level(logging.INFO):
        assert check(engine)
    assert [p for _, p, _ in engine.writes()] == [
        "/_ilm/policy/aichat-logship-retention",
        "/_index_template/aichat-logship",
    ]
    properties = engine.templates["aichat-logship"]["template"]["mappings"]["properties"]
    assert properties["level"]["type"] == "keyword" and properties["line"]["type"] == "integer"
    assert sum(r.getMessage() == "Installed on the engine" for r in caplog.records) == 2
    engine.requests.clear()
    assert check(engine)
    assert engine.writes() == []


def test_install_never_replaces_a_foreign_or_outdated_object_but_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = FakeEngine("opensearch", lifecycle=False)
    engine.templates["aichat-logship"] = {"index_patterns": ["aichat-*"], "template": {}}
    with caplog.at_level(logging.WARNING):
        assert check(engine)
    assert engine.writes() == [] and engine.templates["aichat-logship"]["index_patterns"] == ["aichat-*"]
    assert any("`logship setup --overwrite`" in r.getMessage() for r in caplog.records)

    engine = FakeEngine("opensearch", lifecycle=False)
    check(engine)  # installs the template for shards = 1
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert check(engine, shards=3)
    assert [p for _, p, _ in engine.writes()] == ["/_index_template/aichat-logship"]  # the first install
    assert any(r.getMessage().startswith("Outdated on the engine") for r in caplog.records)


def test_check_only_warns(caplog: pytest.LogCaptureFixture) -> None:
    engine = FakeEngine("elasticsearch")
    with caplog.at_level(logging.WARNING):
        assert check(engine, setup="check")
    assert engine.writes() == []
    assert sum(r.getMessage().startswith("Missing on the engine") for r in caplog.records) == 2


def test_an_engine_down_at_start_is_set_up_when_it_answers_again() -> None:
    engine = FakeEngine("elasticsearch", lifecycle=False)

    async def go() -> None:
        down = EngineSetup(settings(f"http://127.0.0.1:{free_port()}"), None)
        assert not await down.check_once()  # no answer: no error, a later try
        async with engine.serve() as url:
            setup = EngineSetup(settings(url), None)
            setup.engine_failed()  # the engine probe saw it down at start
            task = asyncio.create_task(setup.run())
            async with asyncio.timeout(10):
                while not engine.templates:
                    await asyncio.sleep(0.05)
            writes = len(engine.writes())
            setup.engine_failed()
            setup.engine_answered()  # back after an outage: checked again (up to date: no write)
            async with asyncio.timeout(10):
                while sum(p == "/_index_template/aichat-logship" for _, p, _ in engine.requests) < 2:
                    await asyncio.sleep(0.05)
            task.cancel()
            assert len(engine.writes()) == writes == 1

    asyncio.run(go())


def test_off_sends_nothing() -> None:
    engine = FakeEngine("elasticsearch")

    async def go() -> None:
        async with engine.serve() as url:
            await EngineSetup(settings(url, setup="off"), None).run()

    asyncio.run(go())
    assert engine.requests == []
