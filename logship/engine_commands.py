"""The commands that talk to the search engine by hand: `check --connect`, `setup`, `prune`.

Each prints what the engine answered and returns the exit code: 1 when it does not answer or refuses.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

import orjson

from logship.errors import EngineRejected, EngineUnreachable
from logship.exitcodes import Exit
from logship.observe.logs import redact
from logship.settings import Settings
from logship.sinks.elasticsearch.bulk import BulkClient

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
    client = BulkClient(settings.elasticsearch)
    try:
        response = await client.info()
    except EngineUnreachable as exc:
        print(f"search engine: {exc}", file=sys.stderr)
        return Exit.FAILED
    finally:
        await client.close()
    if response.status != 200:
        print(
            f"search engine answered HTTP {response.status}: "
            f"{redact(response.body[:300].decode('utf-8', 'replace'))} "
            "(check `elasticsearch.username`/`password`/`api_key`)",
            file=sys.stderr,
        )
        return Exit.FAILED
    info = orjson.loads(response.body)
    version = info.get("version", {})
    print(
        f"search engine answered: {version.get('distribution', 'elasticsearch')} {version.get('number')} "
        f"(cluster {info.get('cluster_name')})",
        file=sys.stderr,
    )
    return Exit.OK


def _admin(work: Coroutine[Any, Any, object]) -> int:
    try:
        result = asyncio.run(work)
    except (EngineUnreachable, EngineRejected) as exc:
        print(f"logship: search engine: {exc}", file=sys.stderr)
        return Exit.FAILED
    return Exit.FAILED if result is False else Exit.OK
