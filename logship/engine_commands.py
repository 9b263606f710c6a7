"""The commands that talk to the search engine by hand: `check --connect`, `setup`, `prune`.

Each prints what the engine answered and returns the exit code: 1 when it does not answer or refuses.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from logship.errors import EngineRejected, EngineUnreachable
from logship.exitcodes import Exit
from logship.settings import Settings
from logship.wiring import build_sink

__all__ = ["check_connection", "prune", "setup"]


def check_connection(settings: Settings) -> int:
    """Whether the engine answers with these settings' address and credentials."""
    return asyncio.run(_connect(settings))


def setup(settings: Settings, dry_run: bool, overwrite: bool) -> int:
    from logship.sinks.elasticsearch.setup import install

    return _admin(install(settings, dry_run=dry_run, overwrite=overwrite))


def prune(settings: Settings, dry_run: bool) -> int:
    from logship.sinks.elasticsearch.prune import prune

    return _admin(prune(settings, dry_run=dry_run))


async def _connect(settings: Settings) -> int:
    sink = build_sink(settings, None)
    try:
        answer = await sink.describe()
    except EngineUnreachable as exc:
        print(f"search engine: {exc}", file=sys.stderr)
        return Exit.FAILED
    except EngineRejected as exc:
        print(f"search engine {exc}", file=sys.stderr)
        return Exit.FAILED
    finally:
        await sink.close()
    print(f"search engine answered: {answer}", file=sys.stderr)
    return Exit.OK


def _admin(work: Coroutine[Any, Any, object]) -> int:
    try:
        result = asyncio.run(work)
    except (EngineUnreachable, EngineRejected) as exc:
        print(f"logship: search engine: {exc}", file=sys.stderr)
        return Exit.FAILED
    return Exit.FAILED if result is False else Exit.OK
