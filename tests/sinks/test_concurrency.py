"""AdaptiveConcurrency: halved on pushback down to 1, one more after a clean answer up to the maximum,
and no more requests in flight than the limit."""

from __future__ import annotations

import asyncio

from logship.sinks.concurrency import AdaptiveConcurrency

GUARD = 30.0


def test_pushback_halves_the_limit_down_to_one_and_clean_answers_raise_it_to_the_maximum() -> None:
    async def main() -> None:
        changes: list[int] = []
        limit = AdaptiveConcurrency(6, changes.append)
        for _ in range(4):
            await limit.observe(True)
        assert limit.limit == 1
        for _ in range(8):
            await limit.observe(False)
        assert limit.limit == 6
        assert changes == [6, 3, 1, 2, 3, 4, 5, 6]  # told only when it changes

    asyncio.run(main())


def test_no_more_requests_in_flight_than_the_limit() -> None:
    async def main() -> None:
        limit = AdaptiveConcurrency(4, lambda _: None)
        await limit.observe(True)  # 2
        in_flight = peak = 0
        release = asyncio.Event()

        async def request() -> None:
            nonlocal in_flight, peak
            async with limit:
                in_flight += 1
                peak = max(peak, in_flight)
                await release.wait()
                in_flight -= 1

        async with asyncio.timeout(GUARD):
            tasks = [asyncio.create_task(request()) for _ in range(6)]
            for _ in range(10):
                await asyncio.sleep(0)
            assert in_flight == 2
            await limit.observe(False)  # 3: one more goes at once
            for _ in range(10):
                await asyncio.sleep(0)
            assert in_flight == 3
            release.set()
            await asyncio.gather(*tasks)
        assert peak == 3

    asyncio.run(main())
