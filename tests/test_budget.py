"""InflightBudget: the bound on bytes read but not yet delivered, and the pauses it causes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from logship.acks import Lane
from logship.budget import InflightBudget


class Calls:
    """The budget's callbacks, recorded; ``woke`` is set each time a waiter re-checks."""

    def __init__(self) -> None:
        self.used: list[int] = []
        self.paused: list[float] = []
        self.woke = asyncio.Event()

    def on_change(self, used: int) -> None:
        self.used.append(used)

    def on_paused(self, seconds: float) -> None:
        self.paused.append(seconds)
        self.woke.set()

    async def next_wake(self) -> None:
        """Until a waiting reader has looked at the budget again."""
        self.woke.clear()
        await self.woke.wait()


def budget(limit: int = 100) -> tuple[InflightBudget, Calls]:
    calls = Calls()
    return InflightBudget(limit, calls.on_change, calls.on_paused), calls


def finishes_without_waiting(coro: Coroutine[Any, Any, None]) -> bool:
    """True when the coroutine ran to its end on the first step, never suspending."""
    try:
        coro.send(None)
    except StopIteration:
        return True
    coro.close()
    return False


def test_acquire_under_the_limit_returns_at_once() -> None:
    async def main() -> None:
        b, calls = budget(100)
        assert finishes_without_waiting(b.acquire(40))
        assert finishes_without_waiting(b.acquire(60))
        assert b.used == 100
        assert calls.used == [40, 100]
        assert calls.paused == []

    asyncio.run(main())


def test_acquire_over_the_limit_waits() -> None:
    async def main() -> None:
        b, _ = budget(100)
        await b.acquire(90)
        assert not finishes_without_waiting(b.acquire(11))
        assert b.used == 90

    asyncio.run(main())


def test_a_waiter_resumes_when_bytes_are_released() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(80)
        waiter = asyncio.create_task(b.acquire(30))
        await asyncio.sleep(0)
        assert not waiter.done()
        b.release(80)
        await waiter
        assert b.used == 30
        assert calls.used == [80, 0, 30]

    asyncio.run(main())


def test_a_waiter_keeps_waiting_while_the_release_is_not_enough() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(50)
        await b.acquire(40)
        waiter = asyncio.create_task(b.acquire(30))
        await asyncio.sleep(0)
        b.release(50)  # 40 + 30 fits
        await waiter
        assert b.used == 70
        waiter = asyncio.create_task(b.acquire(40))
        await asyncio.sleep(0)
        b.release(5)  # 65 + 40 > 100: still no room
        await calls.next_wake()
        assert not waiter.done()
        b.release(5)  # 60 + 40 fits
        await waiter
        assert b.used == 100

    asyncio.run(main())


def test_a_chunk_larger_than_the_limit_goes_alone() -> None:
    async def main() -> None:
        b, calls = budget(100)
        assert finishes_without_waiting(b.acquire(250))
        assert b.used == 250
        # Nothing else goes while it is in flight...
        small = asyncio.create_task(b.acquire(1))
        await asyncio.sleep(0)
        assert not small.done()
        b.release(250)
        await small
        assert b.used == 1
        # ...and it waits until everything else is delivered.
        big = asyncio.create_task(b.acquire(300))
        await asyncio.sleep(0)
        assert not big.done()
        b.release(1)
        await big
        assert b.used == 300
        assert calls.used[-1] == 300

    asyncio.run(main())


def test_wait_for_room_returns_at_once_below_the_limit() -> None:
    async def main() -> None:
        b, calls = budget(100)
        assert finishes_without_waiting(b.wait_for_room())
        await b.acquire(99)
        assert finishes_without_waiting(b.wait_for_room())
        assert b.used == 99  # waiting for room spends nothing
        assert calls.paused == []

    asyncio.run(main())


def test_wait_for_room_waits_while_the_budget_is_spent() -> None:
    async def main() -> None:
        b, _ = budget(100)
        await b.acquire(100)
        reader = asyncio.create_task(b.wait_for_room())
        await asyncio.sleep(0)
        assert not reader.done()
        b.release(1)
        await reader
        assert b.used == 99

    asyncio.run(main())


def test_the_pause_is_credited_when_it_ends() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(100)
        reader = asyncio.create_task(b.wait_for_room())
        await asyncio.sleep(0)
        assert calls.paused == []
        b.release(100)
        await reader
        assert len(calls.paused) == 1
        assert calls.paused[0] >= 0.0

    asyncio.run(main())


def test_a_long_pause_is_credited_while_it_lasts() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(100)
        reader = asyncio.create_task(b.wait_for_room())
        await calls.next_wake()  # credited after a while without any release
        assert not reader.done()
        assert calls.paused and all(s > 0 for s in calls.paused)
        b.release(100)
        await reader

    asyncio.run(main())


@pytest.mark.parametrize("n", [0, 1, 100])
def test_release_reports_the_bytes_still_in_flight(n: int) -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(100)
        b.release(n)
        assert b.used == 100 - n
        assert calls.used == [100, 100 - n]

    asyncio.run(main())


def test_the_bytes_a_paused_reader_waits_for_are_known_until_they_fit() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(80)
        waiting = asyncio.create_task(b.acquire(30))
        await calls.next_wake()
        assert b.wanted == 30  # shown at shutdown: a reader waits for room
        b.release(80)
        await waiting
        assert b.wanted == 0 and b.used == 30

    asyncio.run(main())


def test_backfill_leaves_a_quarter_of_the_bound_to_live_records() -> None:
    async def main() -> None:
        b, _ = budget(100)
        assert finishes_without_waiting(b.acquire(70, Lane.BACKFILL))
        assert b.room(Lane.BACKFILL) and b.room(Lane.LIVE)
        backfill = asyncio.ensure_future(b.acquire(10, Lane.BACKFILL))  # 80 > 75: waits
        await asyncio.sleep(0)
        assert not backfill.done()
        assert finishes_without_waiting(b.acquire(25, Lane.LIVE))  # 95 <= 100: live goes
        assert not b.room(Lane.BACKFILL) and b.room(Lane.LIVE)
        b.release(70)
        await backfill
        assert b.used == 35

    asyncio.run(main())


def test_waiting_readers_add_up_and_only_the_live_one_counts_as_backpressure() -> None:
    async def main() -> None:
        b, calls = budget(100)
        await b.acquire(100)
        backfill = asyncio.ensure_future(b.acquire(30, Lane.BACKFILL))
        live = asyncio.ensure_future(b.acquire(20, Lane.LIVE))
        await asyncio.sleep(0)
        assert b.wanted == 50  # both wait: the shutdown log names all the bytes waited for
        await calls.next_wake()  # a second passes; only the live reader's pause is credited
        assert len(calls.paused) == 1
        b.release(100)
        await asyncio.gather(backfill, live)
        assert b.wanted == 0

    asyncio.run(main())
