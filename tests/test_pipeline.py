"""Flow, the replays and the shutdown order of `logship run`, in-process with a fake engine.

The sink is the real ElasticsearchSink over ``FakeTransport`` (or the PrintSink), passed in: the
Service is given factories that build it so, and the real tail source (observed by a wrapper).
"""

from __future__ import annotations

import asyncio
import inspect
import io
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import logship.service
from logship import wiring
from logship.acks import FileAcks, Lane
from logship.block import Block, Origin
from logship.budget import InflightBudget
from logship.errors import PipelineFailed
from logship.observe.health import HealthState
from logship.pipeline import Flow, ReplayProgress, Stages, inflight_budget, run_to_end
from logship.replay_command import replay_dead_letters
from logship.settings import (
    BatchSettings,
    DeadLetterSettings,
    DeliverySettings,
    EnrichSettings,
    MultilineSettings,
    PipelineSettings,
    Settings,
    TailSettings,
)
from logship.sinks import Outcome, Sink, Tally
from logship.sinks.elasticsearch.bulk import BulkResponse
from logship.sinks.elasticsearch.deadletter import DeadLetterFile
from logship.sinks.elasticsearch.sink import ElasticsearchSink
from logship.sinks.outbox import Pacing
from logship.sources import CatchUp, Emit, LiveSource
from logship.sources.tail.positions import FilePosition, PositionStore, StoreState

from support.applog import app_log
from support.fakes import (
    FakeTransport,
    Gate,
    Handler,
    RecordingSink,
    all_created,
    bulk_items,
    documents,
    per_item,
    refused,
    sequence,
)

GUARD = 30.0


def settings(tmp_path: Path, **sections: Any) -> Settings:
    values: dict[str, Any] = {
        "tail": TailSettings(
            paths=[str(tmp_path / "logs" / "*.log")],
            positions_dir=tmp_path / "positions",
            scan_interval_seconds=0.05,
            poll_interval_seconds=0.02,
        ),
        "multiline": MultilineSettings(flush_timeout_seconds=0.02),
        "batch": BatchSettings(flush_interval_seconds=0.01),
        "delivery": DeliverySettings(retry_initial_seconds=0.001, retry_max_seconds=0.005),
        "dead_letter": DeadLetterSettings(path=tmp_path / "dead-letter.ndjson"),
        "pipeline": PipelineSettings(positions_flush_seconds=0.05, drain_timeout_seconds=GUARD),
    }
    values.update(sections)
    return Settings(**values)


def es_sink(
    s: Settings, transport: FakeTransport, abandon_after: int = 0, health: HealthState | None = None
) -> ElasticsearchSink:
    return ElasticsearchSink(
        s.elasticsearch,
        s.delivery,
        DeadLetterFile(s.dead_letter.path),
        namespace="test-host",
        health=health,
        abandon_after=abandon_after,
        transport=transport,
    )


def replay_files(s: Settings, paths: list[Path], progress: ReplayProgress, sink: Sink) -> Tally:
    """`logship replay` of ``paths`` into ``sink``."""
    budget = inflight_budget(s)
    return asyncio.run(
        run_to_end(s, wiring.file_replay_source(s, paths, budget, progress.read), sink, budget)
    )


def unbounded() -> InflightBudget:
    return InflightBudget(1 << 40, lambda _: None, lambda _: None)


def line(n: int) -> bytes:
    return b'{"timestamp": "2026-11-26 10:00:%02d", "level": "INFO", "message": "request %d served"}' % (
        n % 60,
        n,
    )


def block(acks: FileAcks, start: int, numbers: range) -> Block:
    """The records ``numbers`` as one block read from bytes [start, end) of /logs/app.log."""
    lines = [line(n) for n in numbers]
    end = start + sum(len(x) + 1 for x in lines)
    return Block(start, end, [(start, lines)], [], Origin("/logs/app.log", "k1"), acks.block(end))


def messages(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["message"]) for d in docs]


def offset_of(body: bytes) -> int:
    return int(documents(body)[0]["log.offset"])


def test_the_elasticsearch_sink_namespaces_ids_by_the_configured_host_name(tmp_path: Path) -> None:
    def ids(hostname: str) -> list[str]:
        s = settings(tmp_path, enrich=EnrichSettings(fields={"hostname": hostname}))
        chunk = wiring.build_sink(s, None).encode(Stages(s).process(block(FileAcks(0), 0, range(3))))
        actions = [orjson.loads(chunk.item(i).split(b"\n")[0]) for i in range(chunk.count)]
        return [a["create"]["_id"] for a in actions]

    assert ids("web-1") == ids("web-1")
    assert not set(ids("web-1")) & set(ids("web-2"))  # equal files on two hosts never share ids


# -- Flow ------------------------------------------------------------------------------------


def test_flow_commits_in_order_when_the_engine_answers_out_of_order(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(tmp_path, batch=BatchSettings(max_documents=5, flush_interval_seconds=0.01))
        gate = Gate(hold=lambda body: offset_of(body) == 0)  # the first block's request waits
        transport = FakeTransport(gate)
        flow = Flow(Stages(s), es_sink(s, transport), s.batch, unbounded())
        acks = FileAcks(0)
        first = block(acks, 0, range(0, 5))
        second = block(acks, first.end, range(5, 10))
        async with asyncio.timeout(GUARD):
            await flow.emit(first)
            await flow.emit(second)
            await gate.wait_held()
            await transport.wait_for(lambda: len(transport.answered) == 1)  # the second one
            assert second.ack is not None and second.ack.finished
            assert acks.committed == 0  # not past the first block, still in flight
            gate.open()
            await transport.wait_for(lambda: len(transport.answered) == 2)
            assert acks.committed == second.end
            third = block(acks, second.end, range(10, 13))
            await flow.emit(third)
            assert await flow.close(None)
        assert acks.committed == third.end
        assert flow.tally[Outcome.INDEXED] == 13
        sent = [doc for body in transport.answered for doc in documents(body)]
        assert sorted(messages(sent)) == sorted(f"request {n} served" for n in range(13))
        assert len({d["log.offset"] for d in sent}) == 13

    asyncio.run(main())


def test_flow_delivers_every_record_of_many_blocks_once(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(
            tmp_path,
            batch=BatchSettings(max_documents=7, flush_interval_seconds=0.01),
            delivery=DeliverySettings(max_concurrent_requests=4),
        )
        transport = FakeTransport(all_created)
        flow = Flow(Stages(s), es_sink(s, transport), s.batch, unbounded())
        acks = FileAcks(0)
        start = 0
        blocks = []
        for n in range(0, 100, 10):
            b = block(acks, start, range(n, n + 10))
            blocks.append(b)
            start = b.end
            await flow.emit(b)
        async with asyncio.timeout(GUARD):
            assert await flow.close(None)
        assert all(len(bulk_items(body)) <= 7 for body in transport.requests)
        sent = [doc for body in transport.answered for doc in documents(body)]
        assert sorted(d["log.offset"] for d in sent) == sorted(
            off for b in blocks for off in _offsets(b)
        )  # every record once
        assert acks.committed == blocks[-1].end and flow.tally[Outcome.INDEXED] == 100

    asyncio.run(main())


def _offsets(b: Block) -> list[int]:
    out = []
    for offset, lines in b.runs:
        for x in lines:
            out.append(offset)
            offset += len(x) + 1
    return out


def test_flow_finishes_the_ack_of_a_block_without_records_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(tmp_path)
        sink = RecordingSink()
        flow = Flow(Stages(s), sink, s.batch, unbounded())
        acks = FileAcks(0)
        empty = Block(0, 0, [], [], Origin("/logs/app.log", "k1"), acks.block(0))
        await flow.emit(empty)
        assert empty.ack is not None and empty.ack.finished
        assert await flow.close(None)
        assert sink.batches == []

    asyncio.run(main())


def test_flow_emit_waits_while_the_inflight_bound_is_reached(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(tmp_path)
        delivered = asyncio.Event()
        sink = RecordingSink(gate=delivered)
        budget = InflightBudget(1024 * 1024, lambda _: None, lambda _: None)
        budget.limit = 1  # any chunk fills it
        flow = Flow(Stages(s), sink, s.batch, budget)
        acks = FileAcks(0)
        first = block(acks, 0, range(0, 3))
        second = block(acks, first.end, range(3, 6))
        async with asyncio.timeout(GUARD):
            await flow.emit(first)  # alone, it goes although larger than the bound
            waiting = asyncio.create_task(flow.emit(second))
            for _ in range(10):
                await asyncio.sleep(0)
            assert not waiting.done()
            delivered.set()
            await waiting
            assert await flow.close(None)
        assert messages(sink.documents()) == [f"request {n} served" for n in range(6)]
        assert acks.committed == second.end and budget.used == 0

    asyncio.run(main())


def test_flow_state_places_what_is_in_flight(tmp_path: Path) -> None:
    """What shutdown logs: a request held by the sink, a batch being filled, the reader's wait."""

    async def main() -> None:
        s = settings(tmp_path, batch=BatchSettings(max_documents=3, flush_interval_seconds=60))
        answered = asyncio.Event()
        sink = RecordingSink(gate=answered)
        flow = Flow(Stages(s), sink, s.batch, unbounded())
        acks = FileAcks(0)
        first = block(acks, 0, range(0, 3))  # a full batch: sent at once, held by the sink
        async with asyncio.timeout(GUARD):
            await flow.emit(first)
            await eventually(lambda: flow.state()["requests_in_flight"] == 1)
            await flow.emit(block(acks, first.end, range(3, 5)))  # waits for the flush interval
            await eventually(lambda: flow.state()["batched_documents"] == 2)
            state = flow.state()
            assert state["batches_queued"] == 0
            assert state["batched_bytes"] > 0 and state["concurrency_limit"] == 1
            answered.set()
            assert await flow.close(None)
        assert flow.state()["requests_in_flight"] == 0 and flow.state()["batched_documents"] == 0

    asyncio.run(main())


def test_flow_waits_for_room_by_lane_and_times_live_blocks(tmp_path: Path) -> None:
    """Live first: a backfill block waits at the backfill's share of the in-flight bound while a
    live block still goes; the read-to-delivered time of live blocks (only) is observed."""

    async def main() -> None:
        s = settings(tmp_path)
        delivered = asyncio.Event()
        sink = RecordingSink(gate=delivered)
        budget = unbounded()
        lags: list[float] = []
        flow = Flow(Stages(s), sink, s.batch, budget, Pacing(live_first=True), lags.append)
        old, new = FileAcks(0, Lane.BACKFILL), FileAcks(0)
        async with asyncio.timeout(GUARD):
            await flow.emit(block(old, 0, range(10, 13)))
            n = budget.used
            budget.limit, budget.backfill_limit = 2 * n + 100, 3 * n // 2  # room for one more block: live
            second = asyncio.create_task(flow.emit(block(old, n, range(13, 16))))
            await eventually(lambda: budget.wanted > 0)  # the backfill block waits for room
            await flow.emit(block(new, 0, range(20, 23)))  # the same size: it fits under the whole bound
            assert not second.done() and budget.used == 2 * n  # the live block went
            delivered.set()
            await second
            assert await flow.close(None)
        assert len(lags) == 1 and 0 <= lags[0] < GUARD  # the one live block
        assert budget.used == 0 and old.committed > 0 and new.committed > 0

    asyncio.run(main())


async def eventually(condition: Callable[[], bool]) -> None:
    """For states no event announces: look again until it holds."""
    while not condition():
        await asyncio.sleep(0.005)


def test_flow_sends_items_pushed_back_again_and_delivers_each_once(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(
            tmp_path,
            batch=BatchSettings(max_documents=7, flush_interval_seconds=0.01),
            delivery=DeliverySettings(
                max_concurrent_requests=3, retry_initial_seconds=0.001, retry_max_seconds=0.005
            ),
        )
        order: dict[str, int] = {}  # each document's rank, by its first request
        tries: dict[str, int] = {}

        def status(_n: int, action: dict[str, Any]) -> int:
            # Every third document is refused as too busy the first two times it is sent.
            i = str(action["_id"])
            order.setdefault(i, len(order))
            tries[i] = tries.get(i, 0) + 1
            return 429 if order[i] % 3 == 0 and tries[i] <= 2 else 201

        handler = per_item(status)
        transport = FakeTransport(handler)
        flow = Flow(Stages(s), es_sink(s, transport), s.batch, unbounded())
        acks = FileAcks(0)
        start = 0
        blocks = []
        async with asyncio.timeout(GUARD):
            for n in range(0, 50, 10):
                b = block(acks, start, range(n, n + 10))
                blocks.append(b)
                start = b.end
                await flow.emit(b)
            assert await flow.close(None)
        assert len(order) == 50
        sent = transport.sent_ids()
        for i, rank in order.items():
            assert sent.count(i) == (3 if rank % 3 == 0 else 1)  # out again in later batches
        assert all(len(bulk_items(body)) <= 7 for body in transport.requests)
        got = sorted(d["log.offset"] for body in transport.answered for d in documents(body))
        assert sorted(set(got)) == sorted(off for b in blocks for off in _offsets(b))
        assert flow.tally == Tally({Outcome.INDEXED: 50})
        assert acks.committed == blocks[-1].end

    asyncio.run(main())


def test_flow_dead_letters_an_item_pushed_back_past_max_retries(tmp_path: Path) -> None:
    async def main() -> None:
        s = settings(
            tmp_path,
            batch=BatchSettings(max_documents=4, flush_interval_seconds=0.01),
            delivery=DeliverySettings(max_retries=2, retry_initial_seconds=0.001, retry_max_seconds=0.005),
        )

        stuck: list[str] = []  # the third document of the first request

        def status(n: int, action: dict[str, Any]) -> int:
            if not stuck and n == 2:
                stuck.append(str(action["_id"]))
            return 503 if action["_id"] in stuck else 201

        transport = FakeTransport(per_item(status))
        flow = Flow(Stages(s), es_sink(s, transport), s.batch, unbounded())
        acks = FileAcks(0)
        first = block(acks, 0, range(0, 6))
        async with asyncio.timeout(GUARD):
            await flow.emit(first)
            assert await flow.close(None)
        assert transport.sent_ids().count(stuck[0]) == 3  # the first attempt and two retries
        assert flow.tally[Outcome.INDEXED] == 5 and flow.tally[Outcome.DEAD_LETTERED] == 1
        assert acks.committed == first.end
        (entry,) = [orjson.loads(x) for x in s.dead_letter.path.read_bytes().splitlines()]
        assert entry["id"] == stuck[0] and entry["reason"].startswith("gave up after 3 attempts: item 503")

    asyncio.run(main())


def test_flow_halves_concurrency_on_pushback_and_grows_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits: list[int] = []

    class Limit:
        def set(self, value: float) -> None:
            limits.append(int(value))

    monkeypatch.setattr(logship.pipeline, "CONCURRENCY_LIMIT", Limit())

    async def main() -> None:
        s = settings(
            tmp_path,
            batch=BatchSettings(max_documents=1, flush_interval_seconds=0.01),
            delivery=DeliverySettings(
                max_concurrent_requests=8, retry_initial_seconds=0.001, retry_max_seconds=0.005
            ),
        )
        gate = Gate()
        busy = per_item(lambda _n, _a: 429)
        transport = FakeTransport(sequence(busy, busy, gate))  # two answers of pushback, then held
        flow = Flow(Stages(s), es_sink(s, transport), s.batch, unbounded())
        acks = FileAcks(0)
        start = 0
        async with asyncio.timeout(GUARD):
            b = block(acks, start, range(0, 1))
            start = b.end
            await flow.emit(b)
            await eventually(lambda: limits[-1] == 2)  # 8 -> 4 -> 2
            for n in range(1, 7):
                b = block(acks, start, range(n, n + 1))
                start = b.end
                await flow.emit(b)
            await gate.wait_held(2)
            for _ in range(50):
                await asyncio.sleep(0.001)
            assert gate.held == 2  # eight senders, two requests in flight
            assert len(transport.requests) == 4
            gate.open()
            assert await flow.close(None)
        assert limits == [8, 4, 2, 3, 4, 5, 6, 7, 8]  # one more after each answer without pushback
        assert flow.tally[Outcome.INDEXED] == 7 and acks.committed == start

    asyncio.run(main())


# -- replay ----------------------------------------------------------------------------------


def test_replay_files_prints_one_document_per_record(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    trace = b'Traceback (most recent call last):\n  File "chat.py", line 3\nValueError: boom'
    # A record with a traceback, and an unterminated last line: replay takes it as complete.
    pieces = [line(0), line(1), line(2) + b"\n" + trace, line(3), line(4)]
    path.write_bytes(b"\n".join(pieces))
    offsets = [0, *itertools.accumulate(len(p) + 1 for p in pieces[:-1])]
    out = io.BytesIO()
    progress = ReplayProgress(total_bytes=path.stat().st_size)
    s = settings(tmp_path)
    tally = replay_files(s, [path], progress, wiring.build_sink(s, None, print_to=out))
    docs = sorted((orjson.loads(x) for x in out.getvalue().splitlines()), key=lambda d: int(d["log.offset"]))
    assert tally[Outcome.PRINTED] == 5 and len(docs) == 5
    assert [d["log.offset"] for d in docs] == offsets
    assert messages(docs) == [f"request {n} served" for n in range(5)]
    assert docs[2]["error.stack_trace"] == trace.decode()
    assert all(d["log.file.path"] == str(path.resolve()) for d in docs)
    assert [d["@timestamp"] for d in docs] == [f"2026-11-26T10:00:0{n}.000Z" for n in range(5)]
    assert progress.records == 5 and progress.read_bytes == path.stat().st_size


def test_replay_files_gives_up_after_abandon_after_and_counts_undelivered(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(line(n) + b"\n" for n in range(4)))
    transport = FakeTransport(refused())
    s = settings(tmp_path)
    tally = replay_files(s, [path], ReplayProgress(), es_sink(s, transport, abandon_after=2))
    assert tally[Outcome.UNDELIVERED] == 4 and tally[Outcome.INDEXED] == 0
    assert len(transport.requests) == 3 and transport.closed


def test_replay_files_abandons_items_pushed_back_past_abandon_after(tmp_path: Path) -> None:
    path = tmp_path / "app.log"
    path.write_bytes(b"".join(line(n) + b"\n" for n in range(4)))
    stuck: list[str] = []  # the second record

    def status(n: int, action: dict[str, Any]) -> int:
        if not stuck and n == 1:
            stuck.append(str(action["_id"]))
        return 503 if action["_id"] in stuck else 201

    transport = FakeTransport(per_item(status))
    s = settings(tmp_path)
    tally = replay_files(s, [path], ReplayProgress(), es_sink(s, transport, abandon_after=2))
    assert tally[Outcome.UNDELIVERED] == 1 and tally[Outcome.INDEXED] == 3
    assert transport.sent_ids().count(stuck[0]) == 3  # the first attempt and two retries
    assert transport.closed


def test_replay_dead_letters_sends_documents_with_their_original_index_and_id(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
        {
            "time": "2026-11-26T10:00:00Z",
            "index": "aichat-2026.11.20",
            "id": "abc-120",
            "status": 400,
            "reason": "mapper_parsing_exception: failed to parse field [latency]",
            "document": {
                "message": "slow answer",
                "latency": "12 s",
                "@timestamp": "2026-11-20T08:00:00.000Z",
            },
        },
        {
            "time": "2026-11-26T10:00:01Z",
            "index": "aichat-2026.11.21",
            "id": "def-7",
            "status": 0,
            "reason": "gave up after 3 attempts",
            "document": {"message": "hello", "@timestamp": "2026-11-21T09:00:00.000Z"},
        },
    ]
    path = tmp_path / "rejected.ndjson"
    path.write_bytes(
        orjson.dumps(entries[0])
        + b"\n{not a dead-letter entry\n"
        + orjson.dumps(entries[1])
        + b"\n"
        + orjson.dumps({"index": "i", "id": "x", "document": "not an object"})
        + b"\n\n"
    )
    transport = FakeTransport(all_created)
    progress = ReplayProgress(total_bytes=path.stat().st_size)
    s = settings(tmp_path)
    source = wiring.dead_letter_source([path], progress.read)
    tally = asyncio.run(replay_dead_letters(s, source, es_sink(s, transport), inflight_budget(s)))
    items = [pair for body in transport.requests for pair in bulk_items(body)]
    assert [(a["_index"], a["_id"]) for a, _ in items] == [
        ("aichat-2026.11.20", "abc-120"),
        ("aichat-2026.11.21", "def-7"),
    ]
    assert [doc for _, doc in items] == [e["document"] for e in entries]  # as they were, not enriched
    assert tally[Outcome.INDEXED] == 2 and tally[Outcome.UNDELIVERED] == 2
    assert progress.records == 2 and progress.read_bytes == path.stat().st_size


# -- the Service's shutdown order ------------------------------------------------------------


def write(logger: logging.Logger, first: int, count: int) -> None:
    for n in range(first, first + count):
        logger.info("request %d served", n)


Runs = Callable[[LiveSource, Emit], Awaitable[None]]


class ObservedSource:
    """The real tail source, its ``run`` wrapped by ``runs``."""

    def __init__(self, inner: LiveSource, runs: Runs) -> None:
        self._inner, self._runs = inner, runs

    @property
    def scanned(self) -> asyncio.Event:
        return self._inner.scanned

    @property
    def scanned_at(self) -> float | None:
        return self._inner.scanned_at

    def positions(self) -> list[FilePosition]:
        return self._inner.positions()

    def lag(self) -> int:
        return self._inner.lag()

    def unopened(self) -> list[str]:
        return self._inner.unopened()

    def catch_up(self) -> CatchUp | None:
        return self._inner.catch_up()

    def stop(self) -> None:
        self._inner.stop()

    def close(self) -> None:
        self._inner.close()

    async def run(self, emit: Emit) -> None:
        await self._runs(self._inner, emit)


class Run:
    """A Service over the real tail source and a FakeTransport, observed: what happened, in order,
    in ``events``. ``runs`` replaces how the source's ``run`` is called (a crashing reader)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, handler: Handler, **kw: Any) -> None:
        self.events: list[str] = []
        self.reading_stopped = asyncio.Event()
        self.saved: list[list[FilePosition]] = []
        self.runs: Runs = lambda inner, emit: inner.run(emit)
        events, stopped = self.events, self.reading_stopped

        async def observed(body: bytes) -> BulkResponse:
            result = handler(body)
            response = await result if inspect.isawaitable(result) else result
            events.append("answered")
            return response

        self.transport = FakeTransport(observed)

        def sources(
            s: Settings,
            state: StoreState,
            budget: InflightBudget,
            caught_up: Callable[[], None],
            unreachable: Callable[[], bool],
        ) -> LiveSource:
            async def runs(inner: LiveSource, emit: Emit) -> None:
                try:
                    await self.runs(inner, emit)
                finally:
                    events.append("reading stopped")
                    stopped.set()

            return ObservedSource(wiring.tail_source(s, state, budget, caught_up, unreachable), runs)

        def sinks(s: Settings, health: HealthState) -> Sink:
            return es_sink(s, self.transport, health=health)

        health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
        self.service = logship.service.Service(settings(tmp_path, **kw), health, sources, sinks)
        store = self.service.store
        save = store.save

        def observed_save(files: list[FilePosition], scanned_at: float | None) -> None:
            save(files, scanned_at)
            self.saved.append(files)
            events.append("saved")

        monkeypatch.setattr(store, "save", observed_save)


def test_stop_ends_reading_first_delivers_what_is_in_flight_and_writes_positions_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        gate = Gate()
        run = Run(tmp_path, monkeypatch, gate)
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 20)
            size = path.stat().st_size
            async with asyncio.timeout(GUARD):
                running = asyncio.create_task(run.service.run())
                await gate.wait_held()
                transport = run.transport
                await transport.wait_for(lambda: len(transport.sent_ids()) == 20)
                run.service.stop()
                await run.reading_stopped.wait()
                # Reading has stopped while the requests are still in flight.
                assert gate.held >= 1 and not running.done()
                mark = len(run.events)
                assert "answered" not in run.events
                write(logger, 20, 5)  # after the stop: never read
                gate.open()
                await running
        tail = run.events[mark:]
        assert "answered" in tail and tail[-1] == "saved"  # the last write comes after the deliveries
        assert len(transport.sent_ids()) == 20  # the records written after the stop were not read
        assert len(transport.answered_ids()) == 20 == len(set(transport.answered_ids()))
        (final,) = run.saved[-1]
        assert final.offset == size  # the end of the delivered records
        (stored,) = PositionStore(tmp_path / "positions").load().files.values()
        assert stored.offset == size and stored.path == str(path)

    asyncio.run(main())


def test_abort_exits_without_waiting_and_commits_only_what_was_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        boundary = -1  # records at or after it are held forever
        gate = Gate(hold=lambda body: boundary >= 0 and offset_of(body) >= boundary)
        run = Run(tmp_path, monkeypatch, gate, pipeline=PipelineSettings(drain_timeout_seconds=3600))
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
            boundary = path.stat().st_size
            async with asyncio.timeout(GUARD):
                running = asyncio.create_task(run.service.run())
                transport = run.transport
                await transport.wait_for(lambda: len(transport.answered_ids()) == 10)
                write(logger, 10, 5)
                await transport.wait_for(lambda: len(transport.sent_ids()) == 15)
                assert gate.held >= 1
                run.service.stop()
                await run.reading_stopped.wait()
                assert not running.done()  # draining: it would wait an hour for the engine
                run.service.abort()
                await running
        assert len(transport.answered_ids()) == 10
        assert run.events[-1] == "saved"
        (final,) = run.saved[-1]
        assert final.offset == boundary  # not past the undelivered records
        (stored,) = PositionStore(tmp_path / "positions").load().files.values()
        assert stored.offset == boundary

    asyncio.run(main())


async def scans(source: LiveSource, n: int) -> None:
    """Until ``source`` has scanned ``n`` more times (its scan time moves at every scan)."""
    for _ in range(n):
        before = source.scanned_at
        while source.scanned_at == before:
            await asyncio.sleep(0.01)


def test_positions_are_written_when_deliveries_move_them_not_while_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        run = Run(tmp_path, monkeypatch, all_created)
        transport = run.transport

        def stored() -> int:
            return sum(p.offset for p in run.saved[-1]) if run.saved and run.saved[-1] else -1

        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
            async with asyncio.timeout(GUARD):
                running = asyncio.create_task(run.service.run())
                await transport.wait_for(lambda: len(transport.answered_ids()) == 10)
                size = path.stat().st_size
                while stored() != size:
                    await asyncio.sleep(0.01)
                writes = len(run.saved)
                assert run.service.source is not None
                await scans(run.service.source, 10)  # 10 scans, each a write interval, nothing delivered
                assert len(run.saved) == writes
                write(logger, 10, 5)
                await transport.wait_for(lambda: len(transport.answered_ids()) == 15)
                while stored() != path.stat().st_size:  # the delivery alone brought the write
                    await asyncio.sleep(0.01)
                run.service.stop()
                await running

    asyncio.run(main())


def test_abort_leaves_no_task_of_the_service_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        gate = Gate()  # the engine never answers
        run = Run(tmp_path, monkeypatch, gate, pipeline=PipelineSettings(drain_timeout_seconds=3600))
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
            async with asyncio.timeout(GUARD):
                running = asyncio.create_task(run.service.run())
                await gate.wait_held()
                run.service.abort()
                await running
        assert run.transport.closed
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == []

    asyncio.run(main())


def test_a_crashed_sender_stops_the_service_after_the_last_position_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in a sender stops the service by itself (no signal), without waiting for the drain
    timeout: `logship run` then exits non-zero and its supervisor restarts it, rather than it
    running on without that sender, holding what it held forever."""

    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"

        def handler(_body: bytes) -> BulkResponse:
            raise RuntimeError("a bug in the sink")

        run = Run(tmp_path, monkeypatch, handler, pipeline=PipelineSettings(drain_timeout_seconds=3600))
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
            async with asyncio.timeout(GUARD):
                with pytest.raises(
                    PipelineFailed, match=r"the sender \d+ failed: RuntimeError\('a bug in the sink'\)"
                ):
                    await run.service.run()
        assert run.transport.closed
        assert run.events[-1] == "saved"
        (final,) = run.saved[-1]
        assert final.offset == 0  # nothing was delivered
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == []

    asyncio.run(main())


def test_a_crashed_reader_stops_the_service_after_delivering_what_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        run = Run(tmp_path, monkeypatch, all_created)
        transport = run.transport

        async def failing(inner: LiveSource, emit: Emit) -> None:
            async def emit_then_fail(block: Any) -> None:
                await emit(block)
                raise ValueError("a bug in the reader")

            await inner.run(emit_then_fail)

        run.runs = failing
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 10)
            async with asyncio.timeout(GUARD):
                with pytest.raises(PipelineFailed, match="the reader failed: ValueError"):
                    await run.service.run()
        # What it had read (all but the last record, held for a traceback that may follow) was
        # delivered, and the positions moved to its end.
        delivered = len(transport.answered_ids())
        assert delivered == len(transport.sent_ids()) == 9
        (final,) = run.saved[-1]
        assert final.offset == sum(map(len, path.read_bytes().splitlines(keepends=True)[:delivered]))
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert left == []

    asyncio.run(main())


def test_a_first_run_ships_what_was_rotated_away_since_logship_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load, start-up (imports, settings) took seconds: the application, started at the same
    time, had rotated its first files away before the first scan; they were skipped as rotated files
    never seen, and a kill before the first position write made the next start a first run again."""

    async def main() -> None:
        logs = tmp_path / "logs"
        logs.mkdir()
        now = time.time()
        old = logs / "app.log.3"  # rotated away before logship started: not its business
        old.write_bytes(b"".join(line(n) + b"\n" for n in range(100, 103)))
        os.utime(old, (now - 60, now - 60))
        for age, (name, first) in zip((5.0, 3.0), (("app.log.2", 0), ("app.log.1", 5)), strict=True):
            path = logs / name  # rotated away during start-up, more than a second before the first scan
            path.write_bytes(b"".join(line(n) + b"\n" for n in range(first, first + 5)))
            os.utime(path, (now - age, now - age))
        (logs / "app.log").write_bytes(b"".join(line(n) + b"\n" for n in range(10, 12)))
        monkeypatch.setattr(logship.service, "STARTED_AT", now - 10)  # the process began 10 s ago
        run = Run(tmp_path, monkeypatch, all_created)
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(run.service.run())
            transport = run.transport
            await transport.wait_for(lambda: len(transport.answered_ids()) >= 12)
            run.service.stop()
            await running
        assert run.saved[0] == []  # the first run was stored before anything was read
        docs = [doc for body in transport.answered for doc in documents(body)]
        assert sorted(messages(docs)) == sorted(f"request {n} served" for n in range(12))

    asyncio.run(main())


def test_a_start_after_a_crash_before_the_first_scan_is_not_a_first_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        logs = tmp_path / "logs"
        logs.mkdir()
        now = time.time()
        # The first start stored its start time, then was killed before its first scan.
        (tmp_path / "positions").mkdir()
        PositionStore(tmp_path / "positions").save([], now - 10)
        rotated = logs / "app.log.1"  # rotated while logship was down
        rotated.write_bytes(b"".join(line(n) + b"\n" for n in range(5)))
        os.utime(rotated, (now - 5, now - 5))
        (logs / "app.log").write_bytes(b"".join(line(n) + b"\n" for n in range(5, 7)))
        monkeypatch.setattr(logship.service, "STARTED_AT", now)  # this process: just now
        run = Run(tmp_path, monkeypatch, all_created)
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(run.service.run())
            transport = run.transport
            await transport.wait_for(lambda: len(transport.answered_ids()) >= 7)
            run.service.stop()
            await running
        docs = [doc for body in transport.answered for doc in documents(body)]
        assert sorted(messages(docs)) == sorted(f"request {n} served" for n in range(7))

    asyncio.run(main())


def number_of(record: bytes) -> int:
    """The n of a record "request n served" the application's logger wrote."""
    return int(record.split(b"request ", 1)[1].split(b" ", 1)[0])


def test_records_written_while_a_backlog_waits_overtake_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real tail source and the outbox together: once the source catches up live-first, what the
    application writes goes out ahead of the backlog read before it."""

    async def main() -> None:
        (tmp_path / "logs").mkdir()
        path = tmp_path / "logs" / "app.log"
        gate = Gate()
        run = Run(
            tmp_path,
            monkeypatch,
            gate,
            batch=BatchSettings(max_documents=100, flush_interval_seconds=0.01),
            delivery=DeliverySettings(
                catch_up_min_bytes=10_000,
                catch_up_after_seconds=5.0,
                retry_initial_seconds=0.001,
                retry_max_seconds=0.005,
            ),
        )
        live_read = asyncio.Event()

        async def watched(inner: LiveSource, emit: Emit) -> None:
            async def watch(block: Any) -> None:
                numbers = [number_of(x) for _, lines in block.runs for x in lines]
                if block.ack.lane is Lane.LIVE and 5049 in numbers:  # the last one (held for a traceback)
                    live_read.set()
                await emit(block)

            await inner.run(watch)

        run.runs = watched
        transport = run.transport
        with app_log(logging.FileHandler(path)) as logger:
            write(logger, 0, 3000)  # the backlog
            async with asyncio.timeout(GUARD):
                running = asyncio.create_task(run.service.run())
                await gate.wait_held(2)  # the engine holds the first two requests of the backlog
                await eventually(lambda: run.service.catch_up() is not None)
                write(logger, 5000, 50)  # written now
                await live_read.wait()
                gate.open()
                await transport.wait_for(lambda: len(set(transport.answered_ids())) == 3050)
                run.service.stop()
                await running
        sent = [number_of(orjson.dumps(doc)) for body in transport.requests for doc in documents(body)]
        assert sorted(set(sent)) == [*range(3000), *range(5000, 5050)]
        first_two = len(documents(transport.requests[0])) + len(documents(transport.requests[1]))
        # Right after them, with at most the last record before them (where the live cursor starts).
        late = [i for i, n in enumerate(sent) if n >= 5000]
        assert late[0] in (first_two, first_two + 1) and late == list(range(late[0], late[0] + 50))

    asyncio.run(main())
