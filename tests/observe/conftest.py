"""Runs the real HttpServer on a free port and fetches from it with urllib in a thread."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from logship.observe.health import HealthState
from logship.observe.server import HttpServer, HttpSettings


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


Fetch = Callable[[HealthState, Sequence[str]], dict[str, Answer]]


def _get(url: str) -> Answer:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return Answer(response.status, response.headers["Content-Type"], response.read())
    except urllib.error.HTTPError as error:  # 503 still carries the JSON report
        with error:
            return Answer(error.code, error.headers["Content-Type"], error.read())


async def _serve_and_fetch(health: HealthState, paths: Sequence[str]) -> dict[str, Answer]:
    server = HttpServer(HttpSettings(listen="127.0.0.1:0"), health)
    await server.start()
    try:
        answers = {}
        for path in paths:
            # In a thread: the server answers on this event loop, which must stay free.
            answers[path] = await asyncio.to_thread(_get, f"http://127.0.0.1:{server.port}{path}")
        return answers
    finally:
        await server.stop()


@pytest.fixture
def fetch() -> Fetch:
    """``fetch(health, ["/health", ...])`` -> answers of a freshly started server."""

    def run(health: HealthState, paths: Sequence[str]) -> dict[str, Answer]:
        return asyncio.run(_serve_and_fetch(health, paths))

    return run
