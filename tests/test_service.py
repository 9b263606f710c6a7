"""The delivery contract of `logship run`, on the real ``Service`` with an in-memory source and
sink passed in (tests/support/memory.py): positions advance only on delivery, a stop drains what
is in flight, a batch that fails goes out again, items handed back go out again, once each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import orjson

from logship.budget import InflightBudget
from logship.observe.health import HealthState
from logship.service import Service
from logship.settings import BatchSettings, PipelineSettings, Settings, TailSettings
from logship.sinks import Sink
from logship.sources import LiveSource
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
    """A Service over ``files`` (name -> content) and ``sink``; positions under ``tmp_path``."""

    def __init__(self, tmp_path: Path, files: dict[str, bytearray], sink: MemorySink) -> None:
        self.settings = Settings(
            tail=TailSettings(positions_dir=tmp_path / "positions"),
            batch=BatchSettings(flush_interval_seconds=0.01, max_documents=4),
            pipeline=PipelineSettings(positions_flush_seconds=0.02, drain_timeout_seconds=GUARD),
        )
        self.files = files
        self.sink = sink
        self.sources: list[MemorySource] = []
        health = HealthState(engine_timeout_seconds=60, stall_seconds=300, lag_bytes=lambda: 0)
        self.service = Service(self.settings, health, self._source, self._sink)

    def _source(
        self, _s: Settings, restored: StoreState, _budget: InflightBudget, caught_up: Callable[[], None]
    ) -> LiveSource:
        source = MemorySource(self.files, restored, caught_up)
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
