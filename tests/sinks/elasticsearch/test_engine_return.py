"""A request the engine refused during an outage goes again as soon as the engine answers the
probe, not at the end of its backoff: against a real engine, cut off and let back by the fault
proxy (connections refused, then accepted)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from logship.acks import FileAcks
from logship.errors import EngineUnreachable
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

from engine_fixture import SearchNode, delete_indices, unique_prefix
from support.faultproxy import FaultProxy

pytestmark = pytest.mark.integration


def items(index: str, n: int) -> list[bytes]:
    return [b'{"create":{"_index":"%s","_id":"r-%d"}}\n{"n":%d}\n' % (index.encode(), i, i) for i in range(n)]


def test_a_refused_request_goes_once_the_probe_finds_the_engine_back(
    search_engine: SearchNode, tmp_path: Path
) -> None:
    prefix = unique_prefix("engine-return")

    async def main(proxy: FaultProxy) -> float:
        es = ElasticsearchSettings(hosts=[proxy.url], index_prefix=prefix)
        # The first retry comes 30 to 60 s after the refusal (the backoff's jitter); the engine is
        # back after 2 s.
        delivery = DeliverySettings(retry_initial_seconds=60, retry_max_seconds=60)
        sink = ElasticsearchSink(
            es, delivery, DeadLetterFile(tmp_path / "dl.ndjson"), namespace="h", health=None
        )
        acks = FileAcks(0)
        batch: Batch = [(Chunk(items(f"{prefix}-2026.12.03", 10), acks.block(1000)), range(10))]
        try:
            proxy.cut()
            sending = asyncio.create_task(sink.send(batch))
            await asyncio.sleep(2)
            assert not sending.done()
            proxy.restore()
            back = time.monotonic()
            while True:  # the service's probe, once a second while the engine does not answer
                try:
                    await sink.ping()
                    break
                except EngineUnreachable:
                    await asyncio.sleep(1)
            sent = await asyncio.wait_for(sending, 25)
            assert sent.tally[Outcome.INDEXED] == 10
            assert acks.committed == 1000
            return time.monotonic() - back
        finally:
            await sink.close()

    try:
        with FaultProxy(search_engine.url) as proxy:
            after = asyncio.run(main(proxy))
        print(f"\nsent {after:.1f} s after the engine came back")
    finally:
        delete_indices(search_engine.url, f"{prefix}-*")
