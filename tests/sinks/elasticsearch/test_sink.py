"""ElasticsearchSink against the in-process FakeTransport: no answer (timeout or refused), giving up
on a replay, statuses per request and per item, and a dead-letter file that cannot be written."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest

from logship.acks import FileAcks
from logship.errors import DeadLetterError
from logship.observe.metrics import REGISTRY
from logship.settings import DeliverySettings, ElasticsearchSettings
from logship.sinks import Outcome, Sent, Tally
from logship.sinks.batcher import Batch
from logship.sinks.chunk import Chunk
from logship.sinks.elasticsearch.bulk import BulkResponse
from logship.sinks.elasticsearch.deadletter import DeadLetter, DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink

from support.fakes import (
    FakeTransport,
    Handler,
    all_created,
    ids,
    per_item,
    refused,
    sequence,
    timed_out,
    whole_request,
)

GUARD = 30.0


def item(i: int) -> bytes:
    return b'{"create":{"_index":"aichat-2026.11.26","_id":"f-%d"}}\n{"n":%d}\n' % (i, i)


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def retries(reason: str) -> float:
    return metric("logship_retries_total", reason=reason)


class Deltas:
    """Metric values now, to compare with later ones: the registry is shared by every test."""

    def __init__(self, *reasons: str) -> None:
        self._before = {r: retries(r) for r in reasons}

    def retries(self) -> dict[str, float]:
        return {r: retries(r) - v for r, v in self._before.items()}


class Delivery:
    """One block of ``n`` items, its chunk and acks, and the bytes released by the chunk."""

    def __init__(self, n: int = 10, end: int = 1000) -> None:
        self.acks = FileAcks(0)
        self.ack = self.acks.block(end)
        self.chunk = Chunk([item(i) for i in range(n)], self.ack)
        self.released: list[int] = []
        self.chunk.release = self.released.append
        self.batch: Batch = [(self.chunk, range(n))]
        self.rounds: list[Sent] = []  # what each ``send`` answered, in order


async def deliver(sink: ElasticsearchSink, delivery: Delivery) -> Tally:
    """Send the batch, then what comes back in ``Sent.retry``, until nothing does: as the pipeline
    does, the items the engine pushed back on go out again in a later batch."""
    tally = Tally()
    batch = delivery.batch
    while batch:
        sent = await sink.send(batch)
        delivery.rounds.append(sent)
        tally.update(sent.tally)
        batch = sent.retry
    return tally


def make_sink(
    transport: FakeTransport,
    dead_letters: DeadLetterFile,
    *,
    abandon_after: int = 0,
    **delivery: Any,
) -> ElasticsearchSink:
    settings = DeliverySettings(retry_initial_seconds=0.001, retry_max_seconds=0.005, **delivery)
    return ElasticsearchSink(
        ElasticsearchSettings(),
        settings,
        dead_letters,
        namespace="h",
        health=None,
        abandon_after=abandon_after,
        transport=transport,
    )


def send(tmp_path: Path, handler: Handler, n: int = 10, **kw: Any) -> tuple[Tally, Delivery, FakeTransport]:
    async def main() -> tuple[Tally, Delivery, FakeTransport]:
        transport = FakeTransport(handler)
        sink = make_sink(transport, DeadLetterFile(tmp_path / "dead-letter.ndjson"), **kw)
        delivery = Delivery(n)
        try:
            async with asyncio.timeout(GUARD):
                tally = await deliver(sink, delivery)
        finally:
            await sink.close()
        assert transport.closed
        return tally, delivery, transport

    return asyncio.run(main())


def letters_in(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "dead-letter.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


# -- no answer -------------------------------------------------------------------------------


def test_a_timeout_is_retried_and_counted_under_timeout(tmp_path: Path) -> None:
    deltas = Deltas("timeout", "connection")
    errors = metric("logship_bulk_requests_total", status_class="error")
    tally, delivery, transport = send(tmp_path, sequence(timed_out(), all_created))
    assert deltas.retries() == {"timeout": 1, "connection": 0}
    assert metric("logship_bulk_requests_total", status_class="error") - errors == 1
    assert len(transport.requests) == 2 and transport.requests[0] == transport.requests[1]
    assert tally[Outcome.INDEXED] == 10 and delivery.acks.committed == 1000


def test_a_refused_connection_is_retried_and_counted_under_connection(tmp_path: Path) -> None:
    deltas = Deltas("timeout", "connection")
    tally, delivery, transport = send(tmp_path, sequence(refused(), refused(), refused(), all_created))
    assert deltas.retries() == {"timeout": 0, "connection": 3}
    assert len(transport.requests) == 4
    assert tally[Outcome.INDEXED] == 10 and delivery.acks.committed == 1000


def test_timeouts_and_refusals_are_told_apart_in_one_outage(tmp_path: Path) -> None:
    deltas = Deltas("timeout", "connection")
    handler = sequence(refused(), timed_out(), timed_out(), refused(), all_created)
    tally, _, _ = send(tmp_path, handler)
    assert deltas.retries() == {"timeout": 2, "connection": 2}
    assert tally[Outcome.INDEXED] == 10


def test_abandon_after_gives_up_and_counts_the_records_undelivered(tmp_path: Path) -> None:
    deltas = Deltas("connection")
    tally, delivery, transport = send(tmp_path, refused(), abandon_after=2)
    assert len(transport.requests) == 3  # the first attempt and two retries
    assert tally == Tally({Outcome.UNDELIVERED: 10})
    assert not delivery.ack.finished and delivery.acks.committed == 0  # never committed
    assert delivery.chunk.abandoned and delivery.released == [delivery.chunk.nbytes]
    assert deltas.retries() == {"connection": 3}
    assert letters_in(tmp_path) == []


def test_abandon_after_counts_only_the_items_still_failing(tmp_path: Path) -> None:
    handler = per_item(lambda _n, action: 503 if action["_id"] in ("f-2", "f-7") else 201)
    tally, delivery, transport = send(tmp_path, handler, abandon_after=1)
    first, second = delivery.rounds  # handed back once, given up on the second time
    assert first.retry == [(delivery.chunk, [2, 7])] and first.pushback
    assert second.retry == [] and second.tally == Tally({Outcome.UNDELIVERED: 2})
    assert ids(transport.requests[1]) == ["f-2", "f-7"]
    assert len(transport.requests) == 2
    assert tally == Tally({Outcome.INDEXED: 8, Outcome.UNDELIVERED: 2})
    assert not delivery.ack.finished and delivery.acks.committed == 0


def test_without_abandon_after_the_sink_waits_for_the_engine(tmp_path: Path) -> None:
    handler = sequence(*[refused()] * 8, all_created)
    tally, delivery, transport = send(tmp_path, handler)
    assert len(transport.requests) == 9
    assert tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000


# -- answers ---------------------------------------------------------------------------------


def test_all_created_delivers_the_block_in_one_request(tmp_path: Path) -> None:
    indexed = metric("logship_records_total", outcome="indexed")
    tally, delivery, transport = send(tmp_path, all_created)
    assert ids(transport.requests[0]) == [f"f-{i}" for i in range(10)]
    assert tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000
    assert metric("logship_records_total", outcome="indexed") - indexed == 10
    assert delivery.released == [delivery.chunk.nbytes]


@pytest.mark.parametrize(
    ("status", "reason"),
    [(429, "item_429"), (500, "item_5xx"), (503, "item_5xx"), (404, "item_4xx"), (403, "item_4xx")],
)
def test_items_throttled_or_failing_are_sent_again_alone(tmp_path: Path, status: int, reason: str) -> None:
    deltas = Deltas(reason)
    first = per_item(lambda n, _action: status if n % 4 == 0 else 201)
    tally, delivery, transport = send(tmp_path, sequence(first, all_created))
    handed_back, again = delivery.rounds  # not retried inside send: handed back, sent in a later batch
    assert handed_back.retry == [(delivery.chunk, [0, 4, 8])] and handed_back.pushback
    assert handed_back.tally == Tally({Outcome.INDEXED: 7})
    assert again.retry == [] and not again.pushback
    assert len(transport.requests) == 2
    assert ids(transport.requests[1]) == ["f-0", "f-4", "f-8"]
    assert deltas.retries() == {reason: 3}
    assert tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000


def test_items_already_present_count_as_delivered(tmp_path: Path) -> None:
    tally, delivery, _ = send(tmp_path, sequence(timed_out(), per_item(lambda n, _a: 409 if n < 6 else 201)))
    assert (
        tally == Tally({Outcome.INDEXED: 4, Outcome.ALREADY_PRESENT: 6}) and delivery.acks.committed == 1000
    )


@pytest.mark.parametrize(("status", "reason"), [(429, "http_429"), (502, "http_5xx"), (401, "http_4xx")])
def test_a_whole_request_refused_is_retried(tmp_path: Path, status: int, reason: str) -> None:
    deltas = Deltas(reason)
    tally, delivery, transport = send(tmp_path, sequence(whole_request(status), all_created))
    assert len(transport.requests) == 2 and deltas.retries() == {reason: 1}
    assert tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000


def test_a_rejected_item_goes_to_the_dead_letter_file(tmp_path: Path) -> None:
    tally, delivery, transport = send(tmp_path, per_item(lambda _n, a: 400 if a["_id"] == "f-3" else 201))
    assert len(transport.requests) == 1
    assert tally == Tally({Outcome.INDEXED: 9, Outcome.DEAD_LETTERED: 1}) and delivery.acks.committed == 1000
    (entry,) = letters_in(tmp_path)
    assert (entry["index"], entry["id"], entry["status"], entry["document"]) == (
        "aichat-2026.11.26",
        "f-3",
        400,
        {"n": 3},
    )


def test_413_splits_the_request_until_the_offender_is_alone(tmp_path: Path) -> None:
    deltas = Deltas("http_413")

    def handler(body: bytes) -> BulkResponse:
        return BulkResponse(413, b"request too large") if "f-5" in ids(body) else all_created(body)

    tally, delivery, transport = send(tmp_path, handler)
    assert tally == Tally({Outcome.INDEXED: 9, Outcome.DEAD_LETTERED: 1}) and delivery.acks.committed == 1000
    bodies = [ids(body) for body in transport.requests]
    assert bodies[0] == [f"f-{i}" for i in range(10)]
    assert ["f-5"] in bodies  # alone at last
    accepted = [i for body in bodies if "f-5" not in body for i in body]
    assert sorted(accepted) == sorted(f"f-{i}" for i in range(10) if i != 5)  # each once
    assert deltas.retries()["http_413"] >= 1
    assert [e["id"] for e in letters_in(tmp_path)] == ["f-5"]


def test_max_retries_dead_letters_what_keeps_failing(tmp_path: Path) -> None:
    tally, delivery, transport = send(tmp_path, whole_request(503), max_retries=2)
    assert len(transport.requests) == 3
    assert tally == Tally({Outcome.DEAD_LETTERED: 10}) and delivery.acks.committed == 1000
    entries = letters_in(tmp_path)
    assert [e["id"] for e in entries] == [f"f-{i}" for i in range(10)]
    assert all(e["reason"].startswith("gave up after 3 attempts: HTTP 503") for e in entries)


def test_max_retries_dead_letters_an_item_that_keeps_being_pushed_back(tmp_path: Path) -> None:
    handler = per_item(lambda _n, a: 503 if a["_id"] == "f-3" else 201)
    tally, delivery, transport = send(tmp_path, handler, max_retries=2)
    assert [ids(body) for body in transport.requests] == [[f"f-{i}" for i in range(10)], ["f-3"], ["f-3"]]
    assert [len(sent.retry) for sent in delivery.rounds] == [1, 1, 0]
    assert delivery.chunk.attempts == {3: 3}
    assert tally == Tally({Outcome.INDEXED: 9, Outcome.DEAD_LETTERED: 1}) and delivery.acks.committed == 1000
    (entry,) = letters_in(tmp_path)
    assert entry["id"] == "f-3" and entry["status"] == 0
    assert entry["reason"].startswith("gave up after 3 attempts: item 503")


# -- a dead-letter file that cannot be written -----------------------------------------------


class WatchedDeadLetters(DeadLetterFile):
    """The real dead-letter file; ``failed`` is set once a write has failed twice."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failures = 0
        self.failed = asyncio.Event()
        self._loop = asyncio.get_running_loop()  # writes run in a worker thread

    def write(self, letters: list[DeadLetter]) -> int:
        try:
            return super().write(letters)
        except DeadLetterError:
            self.failures += 1
            if self.failures >= 2:
                self._loop.call_soon_threadsafe(self.failed.set)
            raise


def test_rejected_records_stay_undelivered_until_the_dead_letter_file_can_be_written(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        blocker = tmp_path / "state"
        blocker.write_bytes(b"a file where the directory should be")
        path = blocker / "dead-letter.ndjson"
        dead = WatchedDeadLetters(path)
        transport = FakeTransport(per_item(lambda _n, a: 400 if a["_id"] == "f-6" else 201))
        sink = make_sink(transport, dead)
        delivery = Delivery(10)
        async with asyncio.timeout(GUARD):
            sending = asyncio.create_task(sink.send(delivery.batch))
            await dead.failed.wait()  # tried, failed, and tried again
            assert not sending.done()
            assert not delivery.ack.finished and delivery.acks.committed == 0
            assert delivery.chunk.remaining == 1  # the other nine are delivered
            assert delivery.released == []
            blocker.unlink()  # the operator fixes the path
            sent = await sending
        await sink.close()
        assert sent.retry == [] and not sent.pushback
        tally = sent.tally
        assert tally == Tally({Outcome.INDEXED: 9, Outcome.DEAD_LETTERED: 1})
        assert delivery.ack.finished and delivery.acks.committed == 1000
        assert len(transport.requests) == 1  # the engine is not asked again
        (line,) = path.read_bytes().splitlines()
        assert orjson.loads(line)["id"] == "f-6"

    asyncio.run(main())


@pytest.mark.parametrize("body", [b"<html><body>OK</body></html>", b'{"errors":true}'])
def test_a_200_answer_that_is_not_a_bulk_response_is_retried(
    tmp_path: Path, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    deltas = Deltas("bad_response")
    tally, delivery, transport = send(tmp_path, sequence(lambda _b: BulkResponse(200, body), all_created))
    assert len(transport.requests) == 2 and transport.requests[0] == transport.requests[1]
    assert tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000
    assert [len(sent.retry) for sent in delivery.rounds] == [0]  # retried inside send, like a 5xx
    assert deltas.retries() == {"bad_response": 1}
    (warning,) = [r for r in caplog.records if r.getMessage() == "Bulk request failed; retrying"]
    reason = str(warning.__dict__["reason"])
    assert reason.startswith("HTTP 200 but not a bulk response") and body.decode() in reason
    assert letters_in(tmp_path) == []


def test_items_missing_from_a_200_answer_are_sent_again(tmp_path: Path) -> None:
    deltas = Deltas("bad_response")

    def short(body: bytes) -> BulkResponse:
        answer = orjson.loads(all_created(body).body)
        answer["errors"] = True
        answer["items"] = answer["items"][:6]  # four items not mentioned
        return BulkResponse(200, orjson.dumps(answer))

    tally, delivery, transport = send(tmp_path, sequence(short, all_created))
    first, second = delivery.rounds
    assert first.retry == [(delivery.chunk, [6, 7, 8, 9])] and first.tally == Tally({Outcome.INDEXED: 6})
    assert ids(transport.requests[1]) == ["f-6", "f-7", "f-8", "f-9"]
    assert second.retry == [] and tally == Tally({Outcome.INDEXED: 10}) and delivery.acks.committed == 1000
    assert deltas.retries() == {"bad_response": 4}
    assert letters_in(tmp_path) == []  # not dead-lettered: the engine said nothing of them
