from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from logship.errors import LogshipError
from logship.observe.health import HealthState
from logship.observe.server import HttpListenError, HttpServer, HttpSettings

# The `fetch` fixture (conftest.py): start a real HttpServer, GET the paths, stop it.
Fetch = Callable[[HealthState, Sequence[str]], dict[str, Any]]


def health() -> HealthState:
    return HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)


def test_liveness(fetch: Fetch) -> None:
    answer = fetch(health(), ["/health"])["/health"]
    assert answer.status == 200
    assert answer.content_type.startswith("application/json")
    body = json.loads(answer.body)
    assert set(body) == {"status", "timestamp", "version"}
    assert body["status"] == "healthy"


def test_readiness_200_when_healthy_and_503_when_engine_fails(fetch: Fetch) -> None:
    state = health()
    ok = fetch(state, ["/health/detailed"])["/health/detailed"]
    assert ok.status == 200
    assert json.loads(ok.body)["status"] == "healthy"

    state.engine_failed("connection refused")
    bad = fetch(state, ["/health/detailed", "/health"])
    assert bad["/health/detailed"].status == 503
    body = json.loads(bad["/health/detailed"].body)
    assert body["status"] == "unhealthy"
    assert body["checks"]["search_engine"]["status"] == "fail"
    assert body["checks"]["positions"]["status"] == "pass"
    # Liveness does not depend on the engine: restarting would not help.
    assert bad["/health"].status == 200


def test_metrics_in_prometheus_text_format(fetch: Fetch) -> None:
    answer = fetch(health(), ["/metrics"])["/metrics"]
    assert answer.status == 200
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    text = answer.body.decode()
    assert "# TYPE logship_records_total counter" in text
    assert 'logship_records_total{outcome="dead_lettered"} 0.0' in text
    assert 'logship_build_info{python="' in text


def test_unknown_path_is_404(fetch: Fetch) -> None:
    assert fetch(health(), ["/nope"])["/nope"].status == 404


def test_port_in_use_names_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HttpServer(HttpSettings(listen=f"127.0.0.1:{port}"), health())
        with pytest.raises(HttpListenError, match=r"\[http\] listen = '127\.0\.0\.1:\d+'.*in use") as info:
            asyncio.run(server.start())
    assert isinstance(info.value, LogshipError)
    assert "free host:port" in str(info.value)


def test_disabled_server_does_not_listen() -> None:
    server = HttpServer(HttpSettings(enabled=False), health())
    asyncio.run(server.start())
    assert server.port is None


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("127.0.0.1:9611", "127.0.0.1", 9611),
        ("[::]:9611", "::", 9611),
        ("0.0.0.0:80", "0.0.0.0", 80),
        ("localhost:0", "localhost", 0),
    ],
)
def test_listen_accepted(listen: str, host: str, port: int) -> None:
    settings = HttpSettings(listen=listen)
    assert (settings.host, settings.port) == (host, port)


@pytest.mark.parametrize(
    "listen", ["9611", ":9611", "::1:9611", "[nothost]:9611", "host:port", "host:70000", "host:"]
)
def test_listen_rejected(listen: str) -> None:
    with pytest.raises(ValidationError, match="listen"):
        HttpSettings(listen=listen)


def test_settings_defaults_are_documented() -> None:
    settings = HttpSettings()
    assert (settings.enabled, settings.listen) == (True, "127.0.0.1:9611")
    assert (settings.engine_timeout_seconds, settings.stall_seconds) == (60, 300)
    for name, field in HttpSettings.model_fields.items():
        assert field.description, name
