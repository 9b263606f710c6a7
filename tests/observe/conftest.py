"""Runs the real HttpServer on a free port and fetches from it (support.httpclient) in a thread.

The server exposes the metrics of a freshly started process: ``logship.observe.metrics`` loaded
once more into a registry of its own, so that counts left by other tests in this process (the
sink tests dead-letter records, for one) never show, whatever the order the tests run in.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Sequence

import pytest
from prometheus_client import CollectorRegistry

from logship.observe.health import HealthState
from logship.observe.server import HttpServer, HttpSettings

from support.httpclient import Response, get

Fetch = Callable[[HealthState, Sequence[str]], dict[str, Response]]


def fresh_registry() -> CollectorRegistry:
    """logship's metrics as a new process has them: every series created, every count zero."""
    spec = importlib.util.find_spec("logship.observe.metrics")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)  # not put in sys.modules: logship keeps its own
    spec.loader.exec_module(module)
    registry: CollectorRegistry = module.REGISTRY
    return registry


async def _serve_and_fetch(health: HealthState, paths: Sequence[str]) -> dict[str, Response]:
    server = HttpServer(HttpSettings(listen="127.0.0.1:0"), health, registry=fresh_registry())
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
