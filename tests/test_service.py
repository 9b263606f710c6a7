"""The delivery contract of `logship run`, on the real ``Service`` with an in-memory source and
sink passed in (tests/support/memory.py): positions advance only on delivery, a stop drains what
is in flight, a batch that fails goes out again, items handed back go out again, once each."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import orjson

from logship.acks import Lane
from logship.budget import InflightBudget
from logship.observe.health import HealthState
from logship.observe.metrics import REGISTRY
from logship.service import Service
from logship.settings import BatchSettings, DeliverySettings, PipelineSettings, Settings, TailSettings
from logship.sinks import Sink
from logship.sources import CatchUp, LiveSource
from logship.sources.tail.positions import PositionStore, StoreState

from support.memory import HandBack, MemorySink, MemorySource

GUARD = 30.0


def line(n: int) -> bytes:
    return b'{"timestamp": "2026-11-26 10:00:%02d", "message": "request %d served"}' % (n % 60, n)


def lines(numbers: range) -> bytearray:
    return bytearray(b"".join(line(n) + b"\n" for n in numbers))


def numbers(docs: list[bytes]) -> list[int]:
    return [int(str(orjson.loads(d)["message"]).split()[1]) for d in docs]


class Harness:
    """A Service over ``files`` (name -> content) and ``sink``; positions under ``tmp_path``.

    The files named in ``backfill`` are a catch-up's backlog; the source's ``catch_up()`` answers
    ``catching_up``; ``catch_up`` is the setting; the health state runs on ``clock``."""

    def __init__(
        self,
        tmp_path: Path,
        files: dict[str, bytearray],
        sink: MemorySink,
        *,
        backfill: frozenset[str] = frozenset(),
        catching_up: CatchUp | None = None,
        catch_up: Literal["live-first", "in-order"] = "live-first",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = Settings(
            tail=TailSettings(positions_dir=tmp_path / "positions"),
            batch=BatchSettings(flush_interval_seconds=0.01, max_documents=4),
            delivery=DeliverySettings(catch_up=catch_up, backfill_share=0.2),
            pipeline=PipelineSettings(positions_flush_seconds=0.02, drain_timeout_seconds=GUARD),
        )
        self.files = files
        self.sink = sink
        self.sources: list[MemorySource] = []
        self._backfill = backfill
        self._catching_up = catching_up
        self.health = HealthState(
            engine_timeout_seconds=60,
            stall_seconds=300,
            lag_bytes=lambda: 0,
            catch_up=lambda: self.service.catch_up(),
            clock=clock,
        )
        self.service = Service(self.settings, self.health, self._source, self._sink)

    def _source(
        self,
        _s: Settings,
        restored: StoreState,
        _budget: InflightBudget,
        caught_up: Callable[[], None],
        _unreachable: Callable[[], bool],
    ) -> LiveSource:
        source = MemorySource(self.files, restored, caught_up, self._backfill)
        source.catching_up = self._catching_up
        self.sources.append(source)
        return source

    def _sink(self, _s: Settings, _health: HealthState) -> Sink:
        return self.sink

    def stored(self, name: str) -> int | None:
        """The offset the position store holds for ``name``."""
        position = PositionStore(self.settings.tail.positions_dir).load().files.get(name)
        return None if position is None else position.offset


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_positions_advance_only_on_delivery_and_a_restart_resumes_there(tmp_path: Path) -> None:
    async def main() -> None:
        files = {"app": lines(range(5))}
        first_end = len(files["app"])
        gate = asyncio.Event()
        gate.set()
        h = Harness(tmp_path, files, MemorySink(gate=gate))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.stored("app") == first_end)
            gate.clear()  # the sink stops answering
            h.sources[0].append("app", list(map(line, range(5, 10))))
            await until(lambda: h.sink.waiting >= 1)
            (position,) = h.sources[0].positions()
            assert position.offset == first_end  # read and in flight, not delivered
            h.service.abort()  # a second signal: no drain
            await running
        assert h.stored("app") == first_end and numbers(h.sink.delivered) == list(range(5))
        assert h.sink.closed
        # The next start reads from the committed offset: what was in flight, and nothing before.
        again = Harness(tmp_path, files, MemorySink())
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(again.service.run())
            await until(lambda: again.stored("app") == len(files["app"]))
            again.service.stop()
            await running
        assert sorted(numbers(again.sink.delivered)) == list(range(5, 10))

    asyncio.run(main())


def test_stop_ends_reading_and_delivers_what_is_in_flight_before_the_last_position_write(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        files = {"app": lines(range(20)), "worker": lines(range(100, 110))}
        gate = asyncio.Event()
        h = Harness(tmp_path, files, MemorySink(gate=gate))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.sink.waiting >= 1 and h.sources[0].emitted == 30)
            h.service.stop()
            await h.sources[0].ended.wait()
            h.sources[0].append("app", [line(20)])  # after the stop: not read
            assert not running.done()  # draining: waiting for the sink
            gate.set()
            await running
        assert sorted(numbers(h.sink.delivered)) == [*range(20), *range(100, 110)]
        assert h.stored("app") == len(files["app"]) - len(line(20)) - 1
        assert h.stored("worker") == len(files["worker"])

    asyncio.run(main())


def run_until_delivered(tmp_path: Path, hand_back: HandBack, count: int) -> Harness:
    """Ship ``count`` records through a sink that hands back what ``hand_back`` picks; stop once
    the positions reached the end."""

    async def main() -> Harness:
        files = {"app": lines(range(count))}
        h = Harness(tmp_path, files, MemorySink(hand_back))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.stored("app") == len(files["app"]))
            h.service.stop()
            await running
        return h

    return asyncio.run(main())


def test_a_batch_the_sink_fails_goes_out_again(tmp_path: Path) -> None:
    def fail_the_first_send(send: int, docs: list[bytes]) -> list[int]:
        return list(range(len(docs))) if send == 1 else []

    h = run_until_delivered(tmp_path, fail_the_first_send, 10)
    assert h.sink.sends >= 2
    assert sorted(numbers(h.sink.delivered)) == list(range(10))  # each once


def test_items_handed_back_go_out_again_once_each(tmp_path: Path) -> None:
    handed: list[int] = []

    def odd_ones_the_first_time(_send: int, docs: list[bytes]) -> list[int]:
        back = [i for i, n in enumerate(numbers(docs)) if n % 2 and n not in handed]
        handed.extend(numbers(docs)[i] for i in back)
        return back

    h = run_until_delivered(tmp_path, odd_ones_the_first_time, 12)
    assert sorted(handed) == [1, 3, 5, 7, 9, 11]
    assert sorted(numbers(h.sink.delivered)) == list(range(12))  # each once


# -- live-first catch-up ---------------------------------------------------------------------

LIVE = range(1000, 1008)


def overtaking(tmp_path: Path, catch_up: Literal["live-first", "in-order"]) -> Harness:
    """A backlog of ten batches is read and queued while the sink holds the first two sends; then
    two batches of live records come; then the sink answers. Stops once all is delivered."""

    async def main() -> Harness:
        files = {"old": lines(range(40)), "app": bytearray()}
        gate = asyncio.Event()
        h = Harness(tmp_path, files, MemorySink(gate=gate), backfill=frozenset({"old"}), catch_up=catch_up)
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.sink.waiting == 2 and h.sources[0].emitted == 40)
            h.sources[0].append("app", list(map(line, LIVE)))
            await until(lambda: h.sources[0].emitted == 48)
            gate.set()
            await until(lambda: h.stored("old") == len(files["old"]) and h.stored("app") == len(files["app"]))
            h.service.stop()
            await running
        assert sorted(numbers(h.sink.delivered)) == [*range(40), *LIVE]  # each once
        return h

    return asyncio.run(main())


def sent(sink: MemorySink) -> list[int]:
    """The records in the order they were sent (a send's documents are delivered only later)."""
    return [n for docs in sink.requests for n in numbers(docs)]


def test_live_first_live_batches_overtake_queued_backfill_batches(tmp_path: Path) -> None:
    h = overtaking(tmp_path, "live-first")
    # The two backfill batches held when the live records came, then the live records.
    assert sorted(sent(h.sink)[8:16]) == list(LIVE)
    assert h.sink.lanes[:4] == [Lane.BACKFILL, Lane.BACKFILL, Lane.LIVE, Lane.LIVE]


def test_in_order_ships_the_backlog_first(tmp_path: Path) -> None:
    h = overtaking(tmp_path, "in-order")
    assert sent(h.sink) == [*range(40), *LIVE]


def requests_of(lane: Lane) -> float:
    return REGISTRY.get_sample_value("logship_requests_total", {"lane": lane.value}) or 0.0


def test_the_backfill_gets_its_share_while_live_batches_keep_waiting(tmp_path: Path) -> None:
    async def main() -> Harness:
        files = {"old": lines(range(200)), "app": bytearray()}  # fifty backfill batches
        gate = asyncio.Event()
        h = Harness(tmp_path, files, MemorySink(gate=gate), backfill=frozenset({"old"}))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.sink.waiting == 2 and h.sources[0].emitted == 200)
            h.sources[0].append("app", list(map(line, range(1000, 1100))))  # twenty-five live batches
            await until(lambda: h.sources[0].emitted == 300)
            gate.set()
            await until(lambda: h.stored("old") == len(files["old"]) and h.stored("app") == len(files["app"]))
            h.service.stop()
            await running
        return h

    before = {lane: requests_of(lane) for lane in Lane}
    h = asyncio.run(main())
    for lane in Lane:  # the requests of each lane, counted
        assert requests_of(lane) - before[lane] == h.sink.lanes.count(lane)
    lanes = h.sink.lanes[2:]  # after the two backfill sends held before the live records came
    live_sends = [i for i, lane in enumerate(lanes) if lane is Lane.LIVE]
    busy = lanes[: live_sends[-1] + 1]  # while live batches were waiting
    assert len(live_sends) == 25 and busy[:4] == [Lane.LIVE] * 4  # live first
    for start in range(len(busy) - 4):  # and one request in five, at least, for the backlog
        assert Lane.BACKFILL in busy[start : start + 5], busy
    assert sorted(numbers(h.sink.delivered)) == [*range(200), *range(1000, 1100)]


def test_items_handed_back_while_catching_up_go_out_again_once_each(tmp_path: Path) -> None:
    handed: list[int] = []

    def odd_ones_the_first_time(_send: int, docs: list[bytes]) -> list[int]:
        back = [i for i, n in enumerate(numbers(docs)) if n % 2 and n not in handed]
        handed.extend(numbers(docs)[i] for i in back)
        return back

    async def main() -> Harness:
        files = {"old": lines(range(20)), "app": lines(range(1000, 1010))}
        h = Harness(tmp_path, files, MemorySink(odd_ones_the_first_time), backfill=frozenset({"old"}))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.stored("old") == len(files["old"]) and h.stored("app") == len(files["app"]))
            h.service.stop()
            await running
        return h

    h = asyncio.run(main())
    assert sorted(handed) == [n for n in [*range(20), *range(1000, 1010)] if n % 2]
    assert sorted(numbers(h.sink.delivered)) == [*range(20), *range(1000, 1010)]  # each once


def test_stop_while_catching_up_delivers_both_lanes_before_the_last_position_write(tmp_path: Path) -> None:
    async def main() -> None:
        files = {"old": lines(range(30)), "app": lines(range(1000, 1006))}
        gate = asyncio.Event()
        h = Harness(tmp_path, files, MemorySink(gate=gate), backfill=frozenset({"old"}))
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.sink.waiting == 2 and h.sources[0].emitted == 36)
            h.service.stop()
            await h.sources[0].ended.wait()
            assert not running.done()  # draining: waiting for the sink
            gate.set()
            await running
        assert sorted(numbers(h.sink.delivered)) == [*range(30), *range(1000, 1006)]
        assert h.stored("old") == len(files["old"]) and h.stored("app") == len(files["app"])

    asyncio.run(main())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_health_says_catching_up_with_the_backlog_and_the_time_left(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        backlog = CatchUp(backlog_bytes=10_000_000, oldest_seconds=3600.0, files=2)
        h = Harness(tmp_path, {"app": lines(range(3))}, MemorySink(), catching_up=backlog, clock=clock)
        async with asyncio.timeout(GUARD):
            running = asyncio.create_task(h.service.run())
            await until(lambda: h.stored("app") == len(h.files["app"]))
            healthy, body = h.health.report()
            assert healthy  # catching up is no failure: ready as before
            detail = body["checks"]["catch_up"]["detail"]  # type: ignore[index]
            assert detail.startswith("catching up live-first: 10000000 bytes of backlog in 2 files")
            assert "oldest record 3600s old" in detail and "time left unknown" in detail
            clock.now += 30
            h.sources[0].catching_up = CatchUp(backlog_bytes=7_000_000, oldest_seconds=3500.0, files=2)
            healthy, body = h.health.report()
            assert healthy and "about 70s left" in body["checks"]["catch_up"]["detail"]  # type: ignore[index]
            assert body["catch_up"] == {
                "catching_up": True,
                "backlog_bytes": 7_000_000,
                "files": 2,
                "oldest_seconds": 3500.0,
                "seconds_left": 70.0,
            }
            h.sources[0].catching_up = None
            healthy, body = h.health.report()
            assert body["checks"]["catch_up"] == {"status": "pass", "detail": "following: no backlog"}  # type: ignore[index]
            assert body["catch_up"] == {"catching_up": False}
            h.service.stop()
            await running

    asyncio.run(main())
