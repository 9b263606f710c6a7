"""Credentials in an engine URL authenticate; they never show in an error, a log, /health or dead letters."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from logship.acks import FileAcks
from logship.errors import ConfigError, EngineUnreachable
from logship.observe.health import HealthState
from logship.observe.metrics import RECORDS
from logship.settings import DeliverySettings, ElasticsearchSettings, load_settings
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import BulkClient, transport_warnings
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

from engine_fixture import free_port
from support.stderr import StderrLines

SECRET = "hunter2-s3cret"
ITEM = b'{"create":{"_index":"aichat-2026.11.26","_id":"f-1"}}\n{"n":1}\n'


@asynccontextmanager
async def engine(seen: list[str | None]) -> AsyncIterator[int]:
    """A stand-in engine that records the Authorization header of each request."""

    async def root(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"cluster_name": "c", "version": {"number": "9.0.0"}})

    app = web.Application()
    app.router.add_get("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


def test_url_credentials_authenticate() -> None:
    seen: list[str | None] = []

    async def go() -> None:
        async with engine(seen) as port:
            client = BulkClient(ElasticsearchSettings(hosts=[f"http://elastic:p%40ss:w@127.0.0.1:{port}"]))
            try:
                assert (await client.info()).status == 200
            finally:
                await client.close()

    asyncio.run(go())
    assert seen == ["Basic " + base64.b64encode(b"elastic:p@ss:w").decode()]


def test_url_credentials_next_to_username_or_api_key_are_a_configuration_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    for extra in ('username = "u"\npassword = "p"\n', 'api_key = "k"\n'):
        cfg.write_text(f'[elasticsearch]\nhosts = ["https://a:{SECRET}@es:9200"]\n{extra}')
        with pytest.raises(ConfigError) as err:
            load_settings(cfg)
        text = "\n".join(err.value.problems)
        assert "`elasticsearch.hosts`" in text and str(cfg) in text and SECRET not in text


def test_a_malformed_url_is_reported_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[elasticsearch]\nhosts = ["ftp://a:{SECRET}@es:9200"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "`elasticsearch.hosts`" in err.value.problems[0] and SECRET not in err.value.problems[0]


def test_unreachable_engine_error_is_redacted() -> None:
    async def go() -> str:
        client = BulkClient(ElasticsearchSettings(hosts=[f"http://u:{SECRET}@127.0.0.1:{free_port()}"]))
        try:
            await client.bulk(ITEM)
        except EngineUnreachable as exc:
            return str(exc)
        finally:
            await client.close()
        raise AssertionError("the engine answered")

    message = asyncio.run(go())
    assert "cannot reach http://u:***@127.0.0.1" in message and SECRET not in message


def test_transport_messages_quoting_a_url_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(*args: Any, **kwargs: Any) -> Any:
        raise aiohttp.ClientConnectionError(f"refused by http://elastic:{SECRET}@proxy:3128")

    async def go() -> str:
        client = BulkClient(ElasticsearchSettings())
        monkeypatch.setattr(client.pool, "_exchange", failing)
        try:
            await client.info()
        except EngineUnreachable as exc:
            return str(exc)
        finally:
            await client.close()
        raise AssertionError("no error")

    message = asyncio.run(go())
    assert "http://elastic:***@proxy:3128" in message and SECRET not in message


@pytest.fixture
def fresh_dead_letter_count() -> Iterator[None]:
    """The metrics are process-wide: leave `dead_lettered` at 0 for the tests that read /metrics."""
    yield
    RECORDS.remove("dead_lettered")
    RECORDS.labels(outcome="dead_lettered")


@pytest.mark.usefixtures("fresh_dead_letter_count")
def test_retry_warning_health_and_dead_letter_reason_are_redacted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    es = ElasticsearchSettings(hosts=[f"http://u:{SECRET}@127.0.0.1:{free_port()}"])
    delivery = DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.02, max_retries=1)
    health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
    dead = tmp_path / "dl.ndjson"
    sink = ElasticsearchSink(es, delivery, DeadLetterFile(dead), namespace="h", health=health)
    chunk = Chunk([ITEM], FileAcks(0).block(10))

    async def go() -> None:
        try:
            await asyncio.wait_for(sink.send([(chunk, [0])]), 30)
        finally:
            await sink.close()

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
    assert "Bulk request failed; retrying" in caplog.text
    assert SECRET not in caplog.text
    report = str(health.report()[1])
    assert "u:***@" in report and SECRET not in report
    text = dead.read_text()
    assert "u:***@" in text and SECRET not in text


def test_check_connect_output_is_redacted(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        f'[elasticsearch]\nhosts = ["http://u:{SECRET}@127.0.0.1:{free_port()}"]\n'
        "request_timeout_seconds = 2\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "logship", "check", "--connect", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "cannot reach" in result.stderr
    assert SECRET not in result.stdout + result.stderr


# -- TLS -----------------------------------------------------------------------------------------


def test_a_ca_file_that_is_not_a_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npositions_dir = "{tmp_path}"\n[dead_letter]\npath = "{tmp_path}/dl"\n'
        f'[http]\nenabled = false\n[elasticsearch]\nhosts = ["https://127.0.0.1:{free_port()}"]\n'
        f'ca_file = "{ca}"\n'
    )
    for command in ("check", "run"):
        result = subprocess.run(
            [sys.executable, "-m", "logship", command, "--config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (command, result.stderr)
        assert "`elasticsearch.ca_file`" in result.stderr and "not a PEM certificate" in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("es", "expected"),
    [
        ({"verify_certs": False, "hosts": ["https://es:9200"]}, ["verify_certs = false"]),
        ({"hosts": ["http://es.example:9200"], "username": "u", "password": "p"}, ["clear text"]),
        ({"hosts": [f"http://u:{SECRET}@10.0.0.5:9200"]}, ["clear text"]),
        ({"hosts": ["http://es.example:9200"], "api_key": "k"}, ["clear text"]),
        ({"hosts": ["http://127.0.0.1:9200", "http://[::1]:9200"], "api_key": "k"}, []),
        ({"hosts": ["http://localhost:9200"], "username": "u", "password": "p"}, []),
        ({"hosts": ["http://es.example:9200"]}, []),
        ({"hosts": ["https://es.example:9200"], "username": "u", "password": "p"}, []),
    ],
)
def test_transport_warnings(es: dict[str, Any], expected: list[str]) -> None:
    warnings = transport_warnings(ElasticsearchSettings.model_validate(es))
    assert len(warnings) == len(expected)
    for warning, fragment in zip(warnings, expected, strict=True):
        assert fragment in warning and SECRET not in warning


def test_run_warns_once_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[tail]\npaths = ["{tmp_path}/logs/*.log"]\npositions_dir = "{tmp_path}"\n'
        f'[dead_letter]\npath = "{tmp_path}/dl"\n[http]\nenabled = false\n'
        f'[elasticsearch]\nhosts = ["https://127.0.0.1:{free_port()}"]\nverify_certs = false\n'
        "[delivery]\nretry_initial_seconds = 0.05\nretry_max_seconds = 0.1\n"
    )
    lines = run_briefly(cfg)
    assert sum("verify_certs = false" in line for line in lines) == 1, lines


def run_briefly(cfg: Path, seconds: float = 2.0) -> list[str]:
    """``logship run`` until it started and ``seconds`` more (many retry rounds), then SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "logship", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = StderrLines(proc)
    try:
        lines.wait_for('"Started"')
        time.sleep(seconds)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return lines.text().splitlines()
