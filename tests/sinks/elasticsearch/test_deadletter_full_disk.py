"""The dead-letter file on a full disk: rejected records stay undelivered until they are written whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from logship.acks import FileAcks
from logship.observe.health import HealthState
from logship.observe.metrics import DEAD_LETTER_WRITE_FAILURES
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import BulkResponse
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

from support.tmpfs import fill, tiny_tmpfs


class RejectEverything:
    """The engine answers 400 (a mapping conflict) for every item."""

    async def bulk(self, body: bytes) -> BulkResponse:
        count = body.count(b"\n") // 2
        item = {"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad"}}}
        return BulkResponse(200, json.dumps({"errors": True, "items": [item] * count}).encode())

    async def info(self) -> BulkResponse:
        return BulkResponse(200, b"{}")

    async def close(self) -> None:
        pass


def item(i: int) -> bytes:
    doc = json.dumps({"n": i, "pad": "p" * 6000}).encode()
    return b'{"create":{"_index":"aichat-2026.11.26","_id":"f-%d"}}\n%s\n' % (i, doc)


def test_a_full_dead_letter_disk_commits_nothing_until_space_returns(tmp_path: Path) -> None:
    async def scenario(mnt: Path) -> None:
        health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
        sink = ElasticsearchSink(
            ElasticsearchSettings(),
            DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.05),
            DeadLetterFile(mnt / "dead-letter.ndjson"),
            namespace="h",
            health=health,
            transport=RejectEverything(),
        )
        acks = FileAcks(0)
        chunk = Chunk([item(i) for i in range(10)], acks.block(1000))
        filler = fill(mnt, leave=8192)
        failures = DEAD_LETTER_WRITE_FAILURES._value.get()
        sending = asyncio.create_task(sink.send([(chunk, range(10))]))
        while DEAD_LETTER_WRITE_FAILURES._value.get() == failures:
            await asyncio.sleep(0.01)
        assert not sending.done() and acks.committed == 0
        _, body = health.report()
        assert body["checks"]["dead_letter"]["status"] == "fail"  # type: ignore[index]
        assert "dead_letter.path" in body["checks"]["dead_letter"]["detail"]  # type: ignore[index]
        assert (mnt / "dead-letter.ndjson").read_bytes() in (b"",)  # no fragment left behind
        filler.unlink()
        tally = (await asyncio.wait_for(sending, 10)).tally
        assert tally[Outcome.DEAD_LETTERED] == 10 and acks.committed == 1000
        entries = [json.loads(line) for line in (mnt / "dead-letter.ndjson").read_bytes().splitlines()]
        assert [e["id"] for e in entries] == [f"f-{i}" for i in range(10)]
        assert health.report()[0]

    with tiny_tmpfs(tmp_path / "mnt", size="1m") as mnt:
        asyncio.run(scenario(mnt))
