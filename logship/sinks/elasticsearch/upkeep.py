"""What the Elasticsearch sink does beside sending: the readiness ping, `check --connect`'s
question, and at `logship run` the engine's setup (`index.setup`) and logship's own retention.

The setup is checked again whenever the engine answers after being unreachable, so the ping
tells it; the first requests wait (briefly) for its first check, because an index created before
its template would miss the mappings.
"""

from __future__ import annotations

import asyncio

import orjson

from logship.deadletter_files import total_bytes
from logship.errors import EngineRedirected, EngineRejected, EngineUnreachable
from logship.observe.logs import redact
from logship.observe.metrics import DEAD_LETTER_BYTES
from logship.settings import Settings
from logship.sinks.elasticsearch.bulk import Transport
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.ensure import FIRST_CHECK_WAIT_SECONDS, EngineSetup
from logship.sinks.elasticsearch.nodes import NodePool
from logship.sinks.elasticsearch.prune import prune_daily

__all__ = ["Upkeep"]


class Upkeep:
    """The engine-side work of one Elasticsearch sink."""

    def __init__(self, client: Transport, dead_letters: DeadLetterFile, settings: Settings | None) -> None:
        """``settings``: the whole configuration when the sink serves `logship run` (setup and
        retention run beside it); None for the replays and the commands."""
        self._client = client
        self._dead_letters = dead_letters
        self._settings = settings
        self._setup: EngineSetup | None = None
        self.first_check: asyncio.Event | None = None  # the first sends wait for it (bounded)
        self.first_check_wait = FIRST_CHECK_WAIT_SECONDS

    def start(self, pool: NodePool | None) -> list[asyncio.Task[None]]:
        if self._settings is None:
            return []
        setup = self._setup = EngineSetup(self._settings, pool)
        self.first_check = setup.first_check
        return [
            asyncio.create_task(setup.run(), name="engine setup"),
            asyncio.create_task(prune_daily(self._settings, pool), name="retention"),
        ]

    async def ping(self) -> None:
        # The dead-letter files' size too, not only at writes: a replay may have removed some.
        DEAD_LETTER_BYTES.set(await asyncio.to_thread(total_bytes, self._dead_letters.path))
        try:
            await self._client.info()
        except (EngineUnreachable, EngineRedirected):
            if self._setup is not None:
                self._setup.engine_failed()
            raise
        if self._setup is not None:
            self._setup.engine_answered()

    async def describe(self) -> str:
        response = await self._client.info()
        if response.status != 200:
            raise EngineRejected(
                f"answered HTTP {response.status}: "
                f"{redact(response.body[:300].decode('utf-8', 'replace'))} "
                "(check `elasticsearch.username`/`password`/`api_key`)"
            )
        info = orjson.loads(response.body)
        version = info.get("version", {})
        return (
            f"{version.get('distribution', 'elasticsearch')} {version.get('number')} "
            f"(cluster {info.get('cluster_name')})"
        )
