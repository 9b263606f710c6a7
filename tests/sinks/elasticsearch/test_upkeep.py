"""What the Elasticsearch sink does beside sending, through the ``Sink`` protocol: `check
--connect`'s question and the readiness ping against a real engine and a closed port, and the
engine's setup that ``start`` runs for `logship run` only."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from logship.errors import EngineUnreachable
from logship.settings import Settings
from logship.wiring import build_sink

from engine_fixture import SearchNode, free_port
from support.fake_engine import FakeEngine


def settings(tmp_path: Path, url: str, **index: Any) -> Settings:
    return Settings.model_validate(
        {
            "elasticsearch": {"hosts": [url], "request_timeout_seconds": 5},
            "dead_letter": {"path": str(tmp_path / "dead-letter.ndjson")},
            "index": index,
        }
    )


def test_describe_and_ping_ask_the_engine(tmp_path: Path, search_engine: SearchNode) -> None:
    async def go() -> str:
        sink = build_sink(settings(tmp_path, search_engine.url), None)
        try:
            await sink.ping()
            return await sink.describe()
        finally:
            await sink.close()

    answer = asyncio.run(go())
    assert search_engine.engine in answer and "(cluster " in answer


def test_describe_and_ping_raise_when_nothing_answers(tmp_path: Path) -> None:
    async def go() -> None:
        sink = build_sink(settings(tmp_path, f"http://127.0.0.1:{free_port()}"), None)
        try:
            with pytest.raises(EngineUnreachable):
                await sink.ping()
            with pytest.raises(EngineUnreachable):
                await sink.describe()
        finally:
            await sink.close()

    asyncio.run(go())


@pytest.mark.parametrize("long_run", [True, False])
def test_start_sets_the_engine_up_for_logship_run_only(tmp_path: Path, long_run: bool) -> None:
    engine = FakeEngine("elasticsearch")

    async def go() -> list[str]:
        async with engine.serve() as url:
            sink = build_sink(settings(tmp_path, url, setup="install"), None, long_run=long_run)
            tasks = sink.start()
            try:
                if tasks:
                    await asyncio.wait_for(_installed(engine), 30)
            finally:
                for task in tasks:
                    task.cancel()
                if tasks:
                    await asyncio.wait(tasks)
                await sink.close()
        return [path for _, path, _ in engine.writes()]

    written = asyncio.run(go())
    if long_run:
        assert "/_index_template/aichat-logship" in written
    else:
        assert written == []


async def _installed(engine: FakeEngine) -> None:
    while not any(path == "/_index_template/aichat-logship" for _, path, _ in engine.writes()):
        await asyncio.sleep(0.01)
