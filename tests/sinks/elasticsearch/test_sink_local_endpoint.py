"""ElasticsearchSink against a scripted local bulk endpoint: faults a real node will not produce on demand.

Item-level 429s, a 400 per document, 413 for large bodies and 503 bursts. The end-to-end path
against a real engine is tested in tests/integration and tests/chaos.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from logship.acks import FileAcks
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome, Tally
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

Responder = Callable[[list[tuple[dict[str, Any], bytes]], int], tuple[int, Any]]


def item(i: int) -> bytes:
    return b'{"create":{"_index":"aichat-2026.11.26","_id":"f-%d"}}\n{"n":%d}\n' % (i, i)


async def run_sink(
    tmp_path: Path, responder: Responder, n: int = 10, **delivery: Any
) -> tuple[Tally, FileAcks, list[list[str]]]:
    seen: list[list[str]] = []

    async def bulk(request: web.Request) -> web.Response:
        lines = (await request.read()).splitlines()
        pairs = [(orjson.loads(lines[i])["create"], lines[i + 1]) for i in range(0, len(lines), 2)]
        seen.append([a["_id"] for a, _ in pairs])
        status, body = responder(pairs, len(seen))
        return web.Response(
            status=status,
            body=orjson.dumps(body) if not isinstance(body, bytes) else body,
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_post("/_bulk", bulk)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    es = ElasticsearchSettings(hosts=[f"http://127.0.0.1:{port}"])
    settings = DeliverySettings(retry_initial_seconds=0.01, retry_max_seconds=0.05, **delivery)
    sink = ElasticsearchSink(es, settings, DeadLetterFile(tmp_path / "dl.ndjson"), namespace="h", health=None)
    acks = FileAcks(0)
    chunk = Chunk([item(i) for i in range(n)], acks.block(1000))
    batch: Batch = [(chunk, range(n))]
    tally = Tally()

    async def deliver(batch: Batch) -> None:
        while batch:  # as the pipeline does: what the engine pushed back on goes out again
            sent = await sink.send(batch)
            tally.update(sent.tally)
            batch = sent.retry

    try:
        await asyncio.wait_for(deliver(batch), 20)
    finally:
        await sink.close()
        await runner.cleanup()
    return tally, acks, seen


def ok(
    pairs: list[tuple[dict[str, Any], bytes]], status: Callable[[str], int] = lambda _: 201
) -> dict[str, Any]:
    items = []
    for action, _ in pairs:
        s = status(action["_id"])
        result: dict[str, Any] = {"_index": action["_index"], "_id": action["_id"], "status": s}
        if s >= 300:
            result["error"] = {"type": "x_exception", "reason": f"status {s} for {action['_id']}"}
        items.append({"create": result})
    return {"took": 1, "errors": any(i["create"]["status"] >= 300 for i in items), "items": items}


def test_all_created(tmp_path: Path) -> None:
    tally, acks, seen = asyncio.run(run_sink(tmp_path, lambda pairs, _: (200, ok(pairs))))
    assert tally[Outcome.INDEXED] == 10 and acks.committed == 1000 and len(seen) == 1


def test_item_429_resends_only_the_rejected_items(tmp_path: Path) -> None:
    def responder(pairs: list[tuple[dict[str, Any], bytes]], call: int) -> tuple[int, Any]:
        return 200, ok(pairs, lambda i: 429 if call == 1 and int(i[2:]) % 3 == 0 else 201)

    tally, acks, seen = asyncio.run(run_sink(tmp_path, responder))
    assert seen[1] == ["f-0", "f-3", "f-6", "f-9"]
    assert tally[Outcome.INDEXED] == 10 and acks.committed == 1000


def test_409_counts_as_already_present(tmp_path: Path) -> None:
    tally, acks, _ = asyncio.run(run_sink(tmp_path, lambda pairs, _: (200, ok(pairs, lambda i: 409))))
    assert tally[Outcome.ALREADY_PRESENT] == 10 and tally[Outcome.INDEXED] == 0 and acks.committed == 1000


def test_mapping_error_goes_to_the_dead_letter_file_with_the_reason(tmp_path: Path) -> None:
    tally, acks, seen = asyncio.run(
        run_sink(tmp_path, lambda pairs, _: (200, ok(pairs, lambda i: 400 if i == "f-4" else 201)))
    )
    assert tally[Outcome.INDEXED] == 9 and tally[Outcome.DEAD_LETTERED] == 1 and acks.committed == 1000
    assert len(seen) == 1  # a 400 is not retried
    (entry,) = [orjson.loads(line) for line in (tmp_path / "dl.ndjson").read_bytes().splitlines()]
    assert entry["id"] == "f-4" and entry["index"] == "aichat-2026.11.26" and entry["status"] == 400
    assert "status 400 for f-4" in entry["reason"] and entry["document"] == {"n": 4}


def test_whole_request_503_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    def responder(pairs: list[tuple[dict[str, Any], bytes]], call: int) -> tuple[int, Any]:
        return (503, b'{"error":"unavailable"}') if call <= 3 else (200, ok(pairs))

    tally, acks, seen = asyncio.run(run_sink(tmp_path, responder))
    assert len(seen) == 4 and tally[Outcome.INDEXED] == 10 and acks.committed == 1000


def test_413_splits_until_the_offender_is_alone(tmp_path: Path) -> None:
    def responder(pairs: list[tuple[dict[str, Any], bytes]], call: int) -> tuple[int, Any]:
        if any(a["_id"] == "f-7" for a, _ in pairs):
            return 413, b"too large"
        return 200, ok(pairs)

    tally, acks, seen = asyncio.run(run_sink(tmp_path, responder))
    assert tally[Outcome.INDEXED] == 9 and tally[Outcome.DEAD_LETTERED] == 1 and acks.committed == 1000
    assert ["f-7"] in seen


def test_retry_limit_dead_letters_what_never_succeeded(tmp_path: Path) -> None:
    tally, acks, seen = asyncio.run(run_sink(tmp_path, lambda pairs, _: (503, b"{}"), max_retries=2))
    assert len(seen) == 3 and tally[Outcome.DEAD_LETTERED] == 10 and acks.committed == 1000
    assert "gave up after 3 attempts" in (tmp_path / "dl.ndjson").read_text()
