"""Live-first catch-up in the tail source, on real files written by `logging`, with the acks (and
so the backlog) in the test's hands: when the backlog passes the threshold a live cursor starts at
the start of the file's last record and the rest is read as the backfill; live records go out while
the backfill waits for room; a rotation moves the live cursor to the new file; once the backfill
has joined and the backlog is gone, the file is followed in order again."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from logship.acks import Lane
from logship.block import Block, Finished
from logship.budget import InflightBudget
from logship.observe.metrics import REGISTRY
from logship.settings.delivery import DeliverySettings
from logship.sources.tail.source import TailSource

from support.applog import app_log
from support.tailsource import (
    Collector,
    counting_ticks,
    eventually,
    key_of,
    record_starts,
    running,
    settings,
    tail_source,
    write,
    write_with_tracebacks,
)

LIVE_FIRST = DeliverySettings(catch_up_min_bytes=8192, catch_up_after_seconds=0.5)


def source_for(tmp_path: Path, delivery: DeliverySettings = LIVE_FIRST, **kw: Any) -> TailSource:
    return tail_source(settings(tmp_path, read_block_bytes=4096), delivery=delivery, **kw)


def lane_of(collector: Collector, offset: int, path: Path | None = None) -> Lane:
    """The lane of the block holding the record at ``offset``, when it was emitted."""
    (lane,) = {
        lane
        for b, lane in zip(collector.blocks, collector.lanes, strict=True)
        if lane is not None and b.start <= offset < b.end and (path is None or b.origin.key == key_of(path))
    }
    return lane


def ack_all(collector: Collector) -> None:
    collector.ack = True
    for block in collector.blocks:
        assert block.ack is not None
        if not block.ack.finished:
            block.ack.done()


def gauge(name: str) -> float:
    value = REGISTRY.get_sample_value(name)
    assert value is not None
    return value


def test_a_backlog_starts_a_live_cursor_at_the_last_record_and_ends_once_delivered(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            backlog = write_with_tracebacks(logger, 0, 400)  # record 399 ends with a traceback
            path = logs / "app.log"
            starts = record_starts(path)
            collector = Collector(ack=False)  # undelivered: the backlog stays
            source = source_for(tmp_path)
            async with running(source, collector.emit):
                await collector.wait_records(400)
                status = source.catch_up()
                assert status is not None and status.files == 1
                assert status.backlog_bytes >= starts[399]  # behind the live cursor: all undelivered
                assert gauge("logship_catching_up") == 1 and gauge("logship_backlog_bytes") > 0
                later = write(logger, 400, 10)  # written now: read by the live cursor
                await collector.wait_records(410)
                ack_all(collector)
                await eventually(lambda: source.catch_up() is None)
                (tracked,) = source.files
                assert len(tracked.cursors) == 1 and tracked.head.lane is Lane.LIVE
                assert gauge("logship_catching_up") == 0 and gauge("logship_backlog_bytes") == 0
                (position,) = source.positions()
        assert sorted(collector.messages()) == sorted(backlog + later)  # each record once
        assert {lane_of(collector, o) for o in starts[:399]} == {Lane.BACKFILL}
        assert {lane_of(collector, o) for o in starts[399:]} == {Lane.LIVE}
        last = [r for r in collector.records if r.offset == starts[399]]
        assert len(last) == 1 and last[0].trace is not None and b"bad request 399" in last[0].trace
        assert position.offset == path.stat().st_size and position.delivered == ()

    asyncio.run(main())


def test_in_order_never_starts_a_live_cursor(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            backlog = write_with_tracebacks(logger, 0, 400)
            collector = Collector(ack=False)
            source = source_for(tmp_path, DeliverySettings(catch_up="in-order", catch_up_min_bytes=8192))
            async with running(source, collector.emit):
                await collector.wait_records(400)
                assert source.catch_up() is None and len(source.files[0].cursors) == 1
                ack_all(collector)
        assert collector.messages() == backlog  # in file order
        assert {b.ack.lane for b in collector.blocks if b.ack is not None} == {Lane.LIVE}

    asyncio.run(main())


class Spending(Collector):
    """A collector that spends each block's bytes in the budget of its lane until its ack, as the
    pipeline does."""

    def __init__(self, budget: InflightBudget) -> None:
        super().__init__(ack=False)
        self.budget = budget
        self.waiting = 0  # blocks waiting for room in the budget

    async def emit(self, block: Block | Finished) -> None:
        assert isinstance(block, Block) and block.ack is not None
        self.waiting += 1
        try:
            await self.budget.acquire(block.end - block.start, block.ack.lane)
        finally:
            self.waiting -= 1
        await super().emit(block)

    def deliver_all(self) -> None:
        """Deliver every block emitted so far and those to come, releasing their bytes."""
        for block in self.blocks:
            assert block.ack is not None
            if not block.ack.finished:
                self.budget.release(block.end - block.start)
        ack_all(self)
        self.budget.limit = self.budget.backfill_limit = 1 << 40  # no more accounting from here


def backfill_waits(collector: Spending) -> bool:
    """The backfill's share is spent: it waits to read a block, or for a block read to fit."""
    return collector.waiting > 0 or not collector.budget.room(Lane.BACKFILL)


def test_live_records_go_out_while_the_backfill_waits_for_room(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        budget = InflightBudget(64 * 1024, lambda _: None, lambda _: None)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            backlog = write_with_tracebacks(logger, 0, 2000)  # ~300 KiB: far more than the bound
            collector = Spending(budget)
            source = source_for(tmp_path, budget=budget)
            async with running(source, collector.emit):
                # the backfill fills its share of the bound, then waits for room for its next block
                await eventually(lambda: backfill_waits(collector))
                backfill = [b for b in collector.blocks if b.ack is not None and b.ack.lane is Lane.BACKFILL]
                later = write(logger, 2000, 20)
                await collector.wait_for(lambda: set(later) <= set(collector.messages()))
                # the live records went out while the backfill, out of room, read nothing more
                now = [b for b in collector.blocks if b.ack is not None and b.ack.lane is Lane.BACKFILL]
                assert now == backfill and budget.used > budget.backfill_limit // 2
                collector.deliver_all()
                await collector.wait_records(2020)
                await eventually(lambda: source.catch_up() is None)
        assert sorted(collector.messages()) == sorted(backlog + later)

    asyncio.run(main())


@pytest.mark.parametrize("rotate", [False, True], ids=["written-on", "renamed-away"])
def test_a_live_cursor_left_behind_by_an_outage_starts_again_further_on(
    tmp_path: Path, logs: Path, rotate: bool
) -> None:
    async def main() -> None:
        budget = InflightBudget(64 * 1024, lambda _: None, lambda _: None)  # nothing delivered: an outage
        down = True  # the destination's last request got no answer
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            backlog = write(logger, 0, 2000)
            collector = Spending(budget)
            # written now through the pause below: it grew within the last two seconds
            delivery = DeliverySettings(catch_up_min_bytes=8192, catch_up_after_seconds=2.0)
            source = source_for(tmp_path, delivery, budget=budget, unreachable=lambda: down)
            async with running(source, collector.emit):
                await eventually(lambda: backfill_waits(collector) and source.catch_up() is not None)
                (tracked,) = source.files
                during: list[str] = []
                try:
                    async with asyncio.timeout(10):  # the live cursor starts again further on
                        while len(tracked.cursors) <= 2:  # the outage goes on, the application writes
                            during += write(logger, 2000 + len(during), 50)
                            await asyncio.sleep(0.05)
                        await asyncio.sleep(1.2)  # nothing written: the live cursor stalls, nothing unread
                        ticks = counting_ticks(source)
                        # Written between two ticks (no await), more than a second's worth, after the
                        # engine came back, which the next tick does not know yet: they stay live,
                        # also when the file is then rotated away.
                        after = write(logger, 2000 + len(during), 3000)
                        if rotate:
                            handler.doRollover()
                        await ticks.wait_more(1)
                finally:
                    down = False
                    collector.deliver_all()  # the engine is back (should the wait fail: lets the source stop)
                await collector.wait_records(2000 + len(during) + len(after))
                await eventually(lambda: source.catch_up() is None)
        assert sorted(collector.messages()) == sorted(backlog + during + after)  # each record once
        path = logs / ("app.log.1" if rotate else "app.log")
        starts = record_starts(path)
        assert {lane_of(collector, o, path) for o in starts[2000 + len(during) :]} == {Lane.LIVE}
        # the outage's records wait behind what is written after it, not in front of it
        middle = starts[2000 + len(during) // 4 : 2000 + len(during) // 2]
        assert {lane_of(collector, o, path) for o in middle} == {Lane.BACKFILL}

    asyncio.run(main())


def test_a_slow_destination_moves_the_live_cursor_only_once_silent_for_catch_up_after_seconds(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        budget = InflightBudget(64 * 1024, lambda _: None, lambda _: None)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            backlog = write(logger, 0, 2000)
            collector = Spending(budget)
            # The destination answers (``unreachable`` stays False) but delivers nothing: its
            # requests are slow, as behind a throttle, or it never answers a bulk request.
            delivery = DeliverySettings(catch_up_min_bytes=8192, catch_up_after_seconds=4.0)
            source = source_for(tmp_path, delivery, budget=budget)
            async with running(source, collector.emit):
                await eventually(lambda: backfill_waits(collector) and source.catch_up() is not None)
                (tracked,) = source.files
                assert len(tracked.cursors) == 2
                during: list[str] = []
                slow: list[str] = []
                try:
                    until = time.monotonic() + 2.0  # silent for over a second, not for four
                    while time.monotonic() < until:
                        slow += write(logger, 2000 + len(slow), 100)
                        await asyncio.sleep(0.05)
                    cursors = len(tracked.cursors)
                    async with asyncio.timeout(10):  # silent for four seconds: it moves on
                        while len(tracked.cursors) == 2:
                            during += write(logger, 2000 + len(slow) + len(during), 100)
                            await asyncio.sleep(0.05)
                    after = write(logger, 2000 + len(slow) + len(during), 20)
                finally:
                    collector.deliver_all()  # should the writing fail: lets the source stop
                assert cursors == 2, "the live cursor moved on while the destination answered"
                await collector.wait_records(2020 + len(slow) + len(during))
                await eventually(lambda: source.catch_up() is None)
        assert sorted(collector.messages()) == sorted(backlog + slow + during + after)
        starts = record_starts(logs / "app.log")
        assert {lane_of(collector, o) for o in starts[-20:]} == {Lane.LIVE}

    asyncio.run(main())


def test_a_rotation_while_catching_up_moves_the_live_cursor_to_the_new_file(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        handler = logging.handlers.RotatingFileHandler(logs / "app.log", backupCount=3)
        with app_log(handler) as logger:
            backlog = write_with_tracebacks(logger, 0, 400)
            collector = Collector(ack=False)
            source = source_for(tmp_path)
            async with running(source, collector.emit):
                await collector.wait_records(400)
                assert source.catch_up() is not None
                live = write(logger, 400, 10)
                await collector.wait_records(410)
                ticks = counting_ticks(source)
                handler.doRollover()  # app.log -> app.log.1, a new app.log
                # More than a block before the source looks (no await in between), less than the
                # catch-up threshold: written since the rotation, all of it read live.
                after: list[str] = []
                while (logs / "app.log").stat().st_size <= 4096:
                    after += write(logger, 410 + len(after), 1)
                assert (logs / "app.log").stat().st_size < LIVE_FIRST.catch_up_min_bytes
                await collector.wait_records(410 + len(after))
                await ticks.wait_more(3)  # the rotation was seen and decided on
                renamed = next(f for f in source.files if f.path.endswith(".1"))
                # the live cursor reads on to the end of the renamed file; what was behind it stays
                # in the backfill
                assert renamed.head.lane is Lane.LIVE
                assert all(c.lane is Lane.BACKFILL for c in renamed.cursors[:-1])
                ack_all(collector)
                await eventually(lambda: source.catch_up() is None)
        assert sorted(collector.messages()) == sorted(backlog + live + after)
        new = record_starts(logs / "app.log")
        assert {lane_of(collector, o, logs / "app.log") for o in new} == {Lane.LIVE}
        rotated = record_starts(logs / "app.log.1")
        assert {lane_of(collector, o, logs / "app.log.1") for o in rotated[:399]} == {Lane.BACKFILL}
        assert {lane_of(collector, o, logs / "app.log.1") for o in rotated[399:]} == {Lane.LIVE}

    asyncio.run(main())


def test_copytruncate_while_catching_up_finishes_both_cursors_in_the_copy(tmp_path: Path, logs: Path) -> None:
    async def main() -> None:
        budget = InflightBudget(64 * 1024, lambda _: None, lambda _: None)
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            backlog = write_with_tracebacks(logger, 0, 2000)
            key = key_of(logs / "app.log")
            collector = Spending(budget)
            source = source_for(tmp_path, budget=budget)
            async with running(source, collector.emit):
                await eventually(lambda: backfill_waits(collector))
                live = write(logger, 2000, 10)
                await collector.wait_for(lambda: set(live) <= set(collector.messages()))
                shutil.copyfile(logs / "app.log", logs / "app.log.1")
                os.truncate(logs / "app.log", 0)
                after = write(logger, 2010, 10)  # the handler appends: from offset 0 again
                await collector.wait_for(lambda: set(after) <= set(collector.messages()))
                (copy,) = [f for f in source.files if f.key == key]
                assert copy.path == str(logs / "app.log.1") and len(copy.cursors) == 2  # cursors kept
                # the live cursor reads on to the end of the copy, what was behind it is the backfill's
                assert copy.head.lane is Lane.LIVE and copy.cursors[0].lane is Lane.BACKFILL
                collector.deliver_all()
                await collector.wait_records(2020)
                await eventually(lambda: source.catch_up() is None)
                stored = {p.key: p for p in source.positions()}
        assert sorted(collector.messages()) == sorted(backlog + live + after)  # nothing lost, once each
        new_key = key_of(logs / "app.log")
        assert next(r.offset for r in collector.records if r.key == new_key) == 0
        written_after = record_starts(logs / "app.log")
        assert {lane_of(collector, o, logs / "app.log") for o in written_after} == {Lane.LIVE}
        assert stored[key].offset == (logs / "app.log.1").stat().st_size and stored[key].delivered == ()

    asyncio.run(main())


def test_the_backlog_and_the_age_of_its_oldest_byte_are_published_at_every_tick(
    tmp_path: Path, logs: Path
) -> None:
    async def main() -> None:
        with app_log(logging.FileHandler(logs / "app.log")) as logger:
            write(logger, 0, 100)
            path = logs / "app.log"
            long_ago = time.time() - 120
            os.utime(path, (long_ago, long_ago))  # what a file holds when first seen: as old as its mtime
            collector = Collector(ack=False)
            source = source_for(tmp_path, DeliverySettings(catch_up="in-order"))
            async with running(source, collector.emit):
                await collector.wait_records(100)
                await eventually(lambda: gauge("logship_backlog_bytes") == path.stat().st_size)
                assert 119 <= gauge("logship_backlog_oldest_seconds") < 180
                ack_all(collector)
                collector.ack = False
                write(logger, 100, 10)  # written now, not delivered: the backlog's age is theirs
                await collector.wait_records(110)
                await eventually(lambda: 0 < gauge("logship_backlog_bytes") < path.stat().st_size)
                assert gauge("logship_backlog_oldest_seconds") < 5
                ack_all(collector)
                await eventually(lambda: gauge("logship_backlog_bytes") == 0)
                assert gauge("logship_backlog_oldest_seconds") == 0 and source.catch_up() is None

    asyncio.run(main())
