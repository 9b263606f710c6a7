"""Runs the real HttpServer on a free port and fetches from it (support.httpclient) in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest
from support.httpclient import Response, get

from logship.observe.health import HealthState
from logship.observe.server import HttpServer, HttpSettings

Fetch = Callable[[HealthState, Sequence[str]], dict[str, Response]]


async def _serve_and_fetch(health: HealthState, paths: Sequence[str]) -> dict[str, Response]:
    server = HttpServer(HttpSettings(listen="127.0.0.1:0"), health)
    await server.start()
    try:
        answers = {}
        for path in paths:
            # In a thread: the server answers on this event loop, which must stay free.
            # An error status (503) is an answer too: it carries the JSON report.
            answers[path] = await asyncio.to_thread(get, f"http://127.0.0.1:{server.port}{path}")
        return answers
    finally:
        await server.stop()


@pytest.fixture
def fetch() -> Fetch:
    """``fetch(health, ["/health", ...])`` -> answers of a freshly started server."""

    def run(health: HealthState, paths: Sequence[str]) -> dict[str, Response]:
        return asyncio.run(_serve_and_fetch(health, paths))

    return run
